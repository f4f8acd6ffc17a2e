"""GRPO against a judge served over HTTP that fails 30% of its calls, vs the same run with a
fault-free server (issue 28's demonstration: trainers never learn from a fault).

Each run: SmolLM2-135M-Instruct + LoRA, the demo's GRPO settings (level-1 arithmetic, lenient
answers, format credit, dense->binary schedule; 4 prompts x 6 completions a round, 3 optimizer
steps of 8), ``--steps`` optimizer steps. The training env's judge is an HTTP client
(:class:`HTTPJudge`, a 1 s deadline per call) of a loopback server in its own process that
scores with the env's own rules judge and, with probability ``--fault-rate``, answers HTTP 500
or stalls past the client's deadline; the client turns either into
``Verdict.unscored(..., "judge_backend")``. The trainer retries an unscored episode
(``unscored_retries=2``) and leaves what is still unscored out of the group statistics and the
loss. Held-out greedy accuracy (``--eval-episodes`` tasks far from the training seeds) is
judged locally, without faults, before and after training.

    python benchmarks/bench_faulty_judge.py --seeds 0 1 --steps 18 --eval-episodes 60 \\
        --out benchmarks/results/faulty_judge.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ENV_ID = "bench/RemoteJudgeArithmetic-v0"
HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------- the judge server
_SERVER = r"""
import json, random, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from rlenvs.envs.math_judge import make_math_judge

fault_rate, stall_s, seed = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
judge = make_math_judge(lenient=True, format_credit=0.1)
rng, lock = random.Random(seed), threading.Lock()
stats = {"calls": 0, "http_500": 0, "stalled": 0}

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, code, body):
        data = json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a stalled answer: the client gave up at its deadline

    def do_GET(self):
        with lock:
            self._send(200, dict(stats))

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with lock:
            stats["calls"] += 1
            u = rng.random()
            fault = "http_500" if u < fault_rate / 2 else "stalled" if u < fault_rate else None
            if fault:
                stats[fault] += 1
        if fault == "http_500":
            return self._send(500, {"error": "injected fault"})
        if fault == "stalled":
            time.sleep(stall_s)  # past the client's deadline
        self._send(200, judge(body["reply"], body["task"]).to_dict())

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def start_server(fault_rate: float, seed: int, stall_s: float = 3.0) -> tuple[Any, str]:
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(fault_rate), str(stall_s),
                             str(seed)], stdout=subprocess.PIPE, text=True,
                            cwd=HERE.parent)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- the env's judge
class HTTPJudge:
    """A judge ``(reply, task) -> Verdict`` served over HTTP; a failed call (HTTP error,
    refused connection, no answer within ``timeout_s``) is ``Verdict.unscored(...,
    "judge_backend")``, never a score."""

    def __init__(self, url: str, timeout_s: float = 1.0) -> None:
        self.url, self.timeout_s = url.rstrip("/"), timeout_s

    def __call__(self, reply: str, task: Any) -> Any:
        from judges import Verdict

        body = json.dumps({"reply": reply, "task": {k: task[k] for k in task}}).encode()
        request = urllib.request.Request(self.url + "/judge", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                data = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return Verdict.unscored(f"judge backend: {type(exc).__name__}: {exc}",
                                    "judge_backend")
        return Verdict(score=data["score"], passed=data["passed"], reason=data["reason"],
                       details=data.get("details") or {})


def register_env() -> None:
    import rlenvs
    from rlenvs.envs.arithmetic import ArithmeticEnv

    class RemoteJudgeArithmetic(ArithmeticEnv):
        """Arithmetic whose judge is :class:`HTTPJudge` at ``judge_url`` (``None``: local)."""

        def __init__(self, judge_url: str | None = None, judge_timeout_s: float = 1.0,
                     **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if judge_url:
                self.judge = HTTPJudge(judge_url, judge_timeout_s)

    rlenvs.register(ENV_ID, entry_point=RemoteJudgeArithmetic)


# --------------------------------------------------------------------------- one run
_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[2])
import bench_faulty_judge as bench
print("RESULT " + json.dumps(bench.train_one(json.loads(sys.argv[1])), default=str), flush=True)
"""


def train_one(args: dict[str, Any]) -> dict[str, Any]:
    import torch

    from agents.policy import CausalLMPolicy, LoraSettings
    from agents.run.demo import demo_config, demo_env_kwargs
    from agents.run.metrics import read_metrics
    from agents.trainers.grpo import GRPOTrainer

    register_env()
    if args["threads"]:
        torch.set_num_threads(args["threads"])
    torch.manual_seed(args["seed"])
    started = time.perf_counter()
    config = demo_config(args["out_dir"], 4.0, args["seed"], args["eval_episodes"])
    config.max_time_s = None
    config.max_steps = args["steps"]
    config.progress = False
    config.overwrite_output_dir = True
    policy = CausalLMPolicy.from_embedded(lora=LoraSettings(r=16, lora_alpha=32))
    env_kwargs = {**demo_env_kwargs(), "judge_url": args["judge_url"], "judge_timeout_s": 1.0}
    trainer = GRPOTrainer(policy, ENV_ID, config, env_kwargs=env_kwargs,
                          eval_env_kwargs=demo_env_kwargs())  # held-out: local judge
    summary = trainer.train()
    train = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]
    causes: dict[str, float] = {}
    for r in train:
        for k, v in r.items():
            if k.startswith("reward/unscored/"):
                causes[k.removeprefix("reward/unscored/")] = causes.get(
                    k.removeprefix("reward/unscored/"), 0.0) + v
    evals = summary["evals"]
    return {
        "seed": args["seed"], "fault_rate": args["fault_rate"], "steps": summary["steps"],
        "rounds": len(train), "minutes": (time.perf_counter() - started) / 60.0,
        "threads": torch.get_num_threads(),
        "accuracy_before": evals[0]["eval/pass@1"], "accuracy_after": evals[-1]["eval/pass@1"],
        "unscored_frac_mean": statistics.mean(r.get("reward/unscored_frac", 0.0) for r in train),
        "unscored_frac_max": max(r.get("reward/unscored_frac", 0.0) for r in train),
        "retries": sum(r.get("reward/unscored_retries", 0.0) for r in train),
        "dropped_groups": sum(r.get("reward/unscored_dropped_groups", 0.0) for r in train),
        "unscored_causes": causes,
        "train_reward_last": train[-1].get("reward"),
        "unscored_frac_per_round": [r.get("reward/unscored_frac", 0.0) for r in train],
    }


def run(seed: int, fault_rate: float, args: argparse.Namespace) -> dict[str, Any]:
    server, url = start_server(fault_rate, seed)
    try:
        payload = json.dumps({"seed": seed, "fault_rate": fault_rate, "judge_url": url,
                              "steps": args.steps, "eval_episodes": args.eval_episodes,
                              "threads": args.threads,
                              "out_dir": str(Path(args.run_dir) / f"f{fault_rate}-s{seed}")})
        sys.path.insert(0, str(HERE))
        from bench_grpo import run_worker

        result = run_worker([sys.executable, "-c", _CHILD, payload, str(HERE)],
                            {**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        with urllib.request.urlopen(url + "/stats", timeout=5) as response:
            result["server"] = json.loads(response.read())
        return result
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=18)
    parser.add_argument("--eval-episodes", type=int, default=60)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--parallel", action="store_true",
                        help="run every (seed, judge) pair at once, one process each")
    parser.add_argument("--run-dir", default="runs/faulty-judge")
    parser.add_argument("--out", default=None, help="write the results as JSON here (and .md)")
    args = parser.parse_args()

    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    print(f"{'seed':>4} {'faults':>6} {'before':>7} {'after':>7} {'gain':>6} {'unscored':>8} "
          f"{'retries':>7} {'steps':>5} {'min':>5}", flush=True)
    pairs = [(seed, rate) for seed in args.seeds for rate in (args.fault_rate, 0.0)]
    partial = Path(args.out).with_suffix(".rows.jsonl") if args.out else None

    def one(pair: tuple[int, float]) -> dict[str, Any]:
        r = run(pair[0], pair[1], args)
        r["gain"] = r["accuracy_after"] - r["accuracy_before"]
        print(f"{pair[0]:>4} {pair[1]:>6.2f} {r['accuracy_before']:>7.3f} "
              f"{r['accuracy_after']:>7.3f} {r['gain']:>+6.3f} "
              f"{r['unscored_frac_mean']:>8.3f} {r['retries']:>7.0f} {r['steps']:>5} "
              f"{r['minutes']:>5.1f}", flush=True)
        if partial is not None:  # a row is kept even if a later run fails
            with partial.open("a") as f:
                f.write(json.dumps(r) + "\n")
        return r

    if args.parallel:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(pairs)) as pool:
            rows = list(pool.map(one, pairs))
    else:
        rows = [one(pair) for pair in pairs]

    def side(rate: float) -> dict[str, Any]:
        mine = [r for r in rows if r["fault_rate"] == rate]
        gains = [r["gain"] for r in mine]
        return {"fault_rate": rate, "after_mean": statistics.mean(r["accuracy_after"] for r in mine),
                "before_mean": statistics.mean(r["accuracy_before"] for r in mine),
                "gain_mean": statistics.mean(gains),
                "gain_std": statistics.stdev(gains) if len(gains) > 1 else 0.0,
                "unscored_frac_mean": statistics.mean(r["unscored_frac_mean"] for r in mine),
                "injected_fault_frac": sum(r["server"]["http_500"] + r["server"]["stalled"]
                                           for r in mine) /
                max(sum(r["server"]["calls"] for r in mine), 1)}

    summary = {"seeds": args.seeds, "steps": args.steps, "eval_episodes": args.eval_episodes,
               "fault_rate": args.fault_rate, "faulty": side(args.fault_rate), "clean": side(0.0),
               "load_before": load_before, "load_after": os.getloadavg(),
               "parallel": args.parallel,
               "cpu_count": os.cpu_count(), "rows": rows}
    for name in ("faulty", "clean"):
        s = summary[name]
        print(f"{name:>6}: before {s['before_mean']:.3f} after {s['after_mean']:.3f} gain "
              f"{s['gain_mean']:+.3f} ± {s['gain_std']:.3f}; judge calls failed "
              f"{s['injected_fault_frac']:.3f}, unscored after retries {s['unscored_frac_mean']:.3f}")
    if args.out:
        out = Path(args.out)
        out.write_text(json.dumps(summary, indent=2))
        out.with_suffix(".md").write_text(markdown(summary))


def markdown(s: dict[str, Any]) -> str:
    lines = [
        "# GRPO against a faulty HTTP judge (issue 28)",
        "",
        f"SmolLM2-135M-Instruct + LoRA, demo GRPO settings, {s['steps']} optimizer steps, "
        f"seeds {s['seeds']}; held-out greedy pass@1 on {s['eval_episodes']} tasks (local "
        f"judge). The training judge is served over loopback HTTP; the faulty server fails "
        f"{s['fault_rate']:.0%} of calls (half HTTP 500, half stalled past the client's 1 s "
        "deadline). Unscored episodes are retried twice, then left out of the loss.",
        "",
        "| seed | judge faults | before | after | gain | judge calls failed | unscored after "
        "retries (mean/round) | retries | dropped groups | steps | minutes |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in s["rows"]:
        calls = max(r["server"]["calls"], 1)
        failed = (r["server"]["http_500"] + r["server"]["stalled"]) / calls
        lines.append(f"| {r['seed']} | {r['fault_rate']:.0%} | {r['accuracy_before']:.3f} | "
                     f"{r['accuracy_after']:.3f} | {r['gain']:+.3f} | {failed:.3f} | "
                     f"{r['unscored_frac_mean']:.3f} | {r['retries']:.0f} | "
                     f"{r['dropped_groups']:.0f} | {r['steps']} | {r['minutes']:.1f} |")
    f, c = s["faulty"], s["clean"]
    lines += [
        "",
        f"Mean over seeds: faulty judge {f['before_mean']:.3f} -> {f['after_mean']:.3f} "
        f"(gain {f['gain_mean']:+.3f} ± {f['gain_std']:.3f}); fault-free {c['before_mean']:.3f} "
        f"-> {c['after_mean']:.3f} (gain {c['gain_mean']:+.3f} ± {c['gain_std']:.3f}).",
        "",
        f"Machine: {s['cpu_count']} cores shared with other work; load average before "
        f"{s['load_before'][0]:.1f}, after {s['load_after'][0]:.1f}"
        f"{' (the runs ran side by side, one process each)' if s.get('parallel') else ''}.",
        "",
    ]
    lines += [f"* {note}" for note in s.get("notes", [])]
    return "\n".join(lines) + ("\n" if s.get("notes") else "")


if __name__ == "__main__":
    main()
