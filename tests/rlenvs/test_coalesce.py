"""CoalescingPolicy: concurrent callers share model batches and each gets exactly its replies;
the main job's suite runs its environments at once with the same results (issue 29)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judges.llm.base import Completion, SamplingParams
from rlenvs.coalesce import CoalescingPolicy


class Echo:
    """A deterministic engine: the reply names the conversation's text and its seed (what a
    model's reply depends on), and every model call is recorded."""

    name = "echo"

    def __init__(self, batch_size=8, fail_on=None, delay=0.0):
        self.batch_size = batch_size
        self.calls: list[list[str]] = []
        self.fail_on = fail_on
        self.delay = delay
        self.lock = threading.Lock()

    def generate_completions(self, conversations, sampling=None, seeds=None, top_logprobs=None):
        with self.lock:  # an engine runs one call at a time
            texts = [c[-1]["content"] for c in conversations]
            self.calls.append(texts)
            time.sleep(self.delay)
            if self.fail_on is not None and self.fail_on in texts:
                raise RuntimeError("engine fault")
            return [Completion(f"{t}|{s}|{sampling.max_new_tokens}", "stop", 1, 1)
                    for t, s in zip(texts, seeds, strict=True)]


def _conv(text):
    return [{"role": "user", "content": text}]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 7), st.sampled_from([4, 8])), min_size=1, max_size=6))
def test_every_caller_gets_its_own_replies(calls):
    """Generated callers (a batch size, a max_new_tokens each) in threads: each gets its
    replies in order, with its seeds; no model call exceeds the batch limit or mixes sampling
    settings."""
    engine = Echo(batch_size=8)
    shared = CoalescingPolicy(engine, window_s=0.02)
    results: dict[int, list[str]] = {}

    def run(k, n, tokens):
        with shared.client():
            convs = [_conv(f"c{k}-{i}") for i in range(n)]
            seeds = [1000 * k + i for i in range(n)]
            out = shared.generate_completions(convs, SamplingParams(max_new_tokens=tokens),
                                              seeds=seeds)
            results[k] = [c.text for c in out]

    threads = [threading.Thread(target=run, args=(k, n, t)) for k, (n, t) in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for k, (n, tokens) in enumerate(calls):
        assert results[k] == [f"c{k}-{i}|{1000 * k + i}|{tokens}" for i in range(n)]
    assert sum(map(len, engine.calls)) == sum(n for n, _ in calls)
    for call in engine.calls:  # one sampling setting per model call, within the limit
        owners = {text.split("-")[0] for text in call}
        assert len({calls[int(o[1:])][1] for o in owners}) == 1
        assert len(call) <= 8 or len(owners) == 1


def test_registered_clients_share_one_batch():
    """Four clients each sending a call at about the same time: one model call, not four."""
    engine = Echo(batch_size=64)
    shared = CoalescingPolicy(engine, window_s=600.0)  # only "every client pending" can release it
    barrier = threading.Barrier(4)
    done = []

    def run(k):
        with shared.client():
            barrier.wait()
            done.append(shared.generate([_conv(f"c{k}")], SamplingParams(seed=k)))

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)  # released long before the 600 s window
    assert len(done) == 4 and len(engine.calls) == 1 and len(engine.calls[0]) == 4


def test_a_fault_reaches_every_caller_of_its_batch_and_no_other():
    engine = Echo(batch_size=64, fail_on="bad")
    shared = CoalescingPolicy(engine, window_s=0.01)
    with pytest.raises(RuntimeError, match="engine fault"):
        shared.generate([_conv("bad")])
    assert shared.generate([_conv("good")], SamplingParams(seed=3)) == ["good|3|256"]


def test_a_policy_without_row_seeds_is_refused():
    class Plain:
        def generate(self, conversations, sampling=None):
            return ["x"] * len(conversations)

    with pytest.raises(TypeError, match="generate_completions"):
        CoalescingPolicy(Plain())


@pytest.mark.slow
def test_the_suite_at_once_gives_the_replies_of_the_suite_one_by_one(tmp_path, monkeypatch):
    """The embedded model (fp32, greedy, 12 new tokens) on four suite envs: evaluated in
    threads sharing batches, the transcripts and summaries are those of the sequential run."""
    import rlenvs.suite as suite
    from judges.llm.transformers_backend import TransformersChat

    monkeypatch.setattr(suite, "SUITE", [s for s in suite.SUITE if s[0] in (
        "rlenvs/Arithmetic-v0", "rlenvs/Math-v0", "rlenvs/IFEval-v0", "rlenvs/MBPP-v0")])
    chat = TransformersChat.from_embedded(dtype="float32", batch_size=16)

    class OneByOne:  # the same engine without per-row seeds: the sequential path
        name = chat.name

        def generate(self, conversations, sampling=None):
            return chat.generate(conversations, sampling)

    for name, policy in (("together", chat), ("apart", OneByOne())):
        assert suite.run_main_job(tmp_path / name, episodes=3, seed=0, max_new_tokens=12,
                                  chat_judge="none", policy=policy) == 0
    for env in ("Arithmetic-v0", "Math-v0", "IFEval-v0", "MBPP-v0"):
        together = [json.loads(x) for x in (tmp_path / "together" / f"{env}.jsonl").read_text().splitlines()]
        apart = [json.loads(x) for x in (tmp_path / "apart" / f"{env}.jsonl").read_text().splitlines()]
        key = lambda r: r["episode"]  # noqa: E731
        assert [r["messages"][-1] for r in sorted(together, key=key)] == \
            [r["messages"][-1] for r in sorted(apart, key=key)], env
        assert [r["return"] for r in sorted(together, key=key)] == \
            [r["return"] for r in sorted(apart, key=key)], env
