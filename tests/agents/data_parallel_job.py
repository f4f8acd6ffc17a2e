"""One run of tests/agents/test_data_parallel.py: a trainer on fixed episodes, in one process or
as a rank of ``torchrun`` (the launcher's RANK / WORLD_SIZE make it data parallel).

    python data_parallel_job.py ALGO EPISODES OUT [MAX_STEPS] [--resume]
    python -m torch.distributed.run --standalone --nproc_per_node 2 data_parallel_job.py ...

ALGO: grpo, ppo or cgpo. EPISODES: a pickle of the fixed episodes -- one process generates
(with the real collector, one call per prompt) and writes those it lacks; ranks only read it, so
every run trains on the same episodes. OUT: the run's output folder; rank 0 (or the one process)
writes ``OUT/params.pt`` (the trainable parameters after training) and ``OUT/run/`` (metrics,
checkpoints).
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from tests.agents.toy_envs import register_toy_envs, tiny_policy  # noqa: E402


def with_fixed_episodes(trainer_cls: type) -> type:
    """``trainer_cls`` whose :meth:`rollout` returns the episodes of ``episodes`` (keyed by env
    index, task seed and generations), generating missing ones in a single process only."""

    class FixedEpisodes(trainer_cls):  # type: ignore[misc, valid-type]
        episodes: dict[tuple[int, int, int], list[Any]] = {}
        # what this process did: prompts rolled out, samples scored, micro-batches trained
        work = {"prompts": 0, "scored": 0, "micro_batches": 0}

        def forward_no_grad(self, samples: Any, *args: Any, **kwargs: Any) -> Any:
            if self.dp is None:  # data parallel: counted in the shard (below)
                self.work["scored"] += len(samples)
            return super().forward_no_grad(samples, *args, **kwargs)

        def compute_loss(self, out: Any, mb: Any) -> Any:
            self.work["micro_batches"] += 1
            return super().compute_loss(out, mb)

        def rollout(self, env: Any, seeds: Any, num_generations: int, *, seed: int,
                    first_group: int = 0, retry: bool = True) -> tuple[list[Any], dict]:
            from agents.rollout.branched import rollout_metrics

            envs = getattr(self, "envs", [self.env])
            where = next(i for i, e in enumerate(envs) if e is env)
            out = []
            self.work["prompts"] += len(seeds)
            for k, task_seed in enumerate(seeds):
                key = (where, int(task_seed), int(num_generations))
                if key not in self.episodes:
                    if self.dp is not None:
                        raise KeyError(f"no fixed episodes for {key}: run one process first")
                    made, _ = super().rollout(env, [task_seed], num_generations,
                                              seed=1000 + int(task_seed), retry=retry)
                    self.episodes[key] = made
                for t in self.episodes[key]:
                    t = copy.deepcopy(t)
                    t.group = first_group + k
                    out.append(t)
            return out, rollout_metrics(out)

    return FixedEpisodes


def make_trainer(algo: str, output_dir: Path, max_steps: int, resume: bool) -> Any:
    common = dict(output_dir=str(output_dir), max_steps=max_steps, max_completion_length=8,
                  learning_rate=0.05, adam_epsilon=1.0, weight_decay=0.0, progress=False,
                  save_steps=2, resume_from_checkpoint=resume, seed=3,
                  lr_scheduler_type="constant")  # a resume with a longer budget: same lr
    if algo == "grpo":
        from agents import GRPOConfig, GRPOTrainer

        # the full batch's token normaliser (dapo), a KL term (reference passes) and two
        # iterations (old log-probs) all cross the ranks
        config = GRPOConfig(**common, num_generations=4, per_device_train_batch_size=2,
                            gradient_accumulation_steps=4, loss_type="dapo", beta=0.04,
                            num_iterations=2, scale_rewards="batch")
        return with_fixed_episodes(GRPOTrainer)(tiny_policy(seed=1), "agents-test/Uppercase-v0",
                                                config)
    if algo == "ppo":
        from agents import PPOConfig, PPOTrainer

        config = PPOConfig(**common, num_generations=2, per_device_train_batch_size=1,
                           gradient_accumulation_steps=4, num_ppo_epochs=2, num_mini_batches=2,
                           whiten_rewards=True)
        return with_fixed_episodes(PPOTrainer)(tiny_policy(seed=2, value_head=True),
                                               "agents-test/Retry-v0", config)
    if algo == "cgpo":
        from agents.trainers.cgpo import CGPOConfig, CGPOTask, CGPOTrainer

        # letters-only policy: about half its letters uppercase, so both pass and fail occur
        config = CGPOConfig(**common, num_generations=4, per_device_train_batch_size=4)
        tasks = [CGPOTask("agents-test/Uppercase-v0", "crpg", name="crpg", prompts_per_step=3,
                          kl_threshold=100.0),
                 CGPOTask("agents-test/Uppercase-v0", "codpo", name="codpo", prompts_per_step=3,
                          weight=0.5)]
        return with_fixed_episodes(CGPOTrainer)(tiny_policy(seed=3, letters_only=True),
                                                tasks, config)
    raise ValueError(algo)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    algo, episodes_path, out = args[0], Path(args[1]), Path(args[2])
    max_steps = int(args[3]) if len(args) > 3 else 4
    torch.set_num_threads(1)
    register_toy_envs()
    trainer = make_trainer(algo, out / "run", max_steps, "--resume" in sys.argv)
    single = int(os.environ.get("WORLD_SIZE", "1")) == 1
    if episodes_path.exists():
        type(trainer).episodes = pickle.loads(episodes_path.read_bytes())
    if trainer.dp is not None:  # count the samples each rank scores
        map_samples = trainer.dp.map_samples

        def counted(fn: Any, items: Any) -> Any:
            def shard(part: Any) -> Any:
                trainer.work["scored"] += len(part)
                return fn(part)
            return map_samples(shard, items)
        trainer.dp.map_samples = counted
    trainer.train()
    work = [trainer.work] if trainer.dp is None else trainer.dp.gather(trainer.work)
    if single:
        episodes_path.write_bytes(pickle.dumps(type(trainer).episodes))
    if trainer.dp is None or trainer.dp.is_main:
        torch.save({k: v.detach().clone() for k, v in trainer.policy.named_parameters()
                    if v.requires_grad}, out / "params.pt")
        (out / "work.json").write_text(json.dumps(work))
    if trainer.dp is not None:
        import torch.distributed as dist

        assert trainer.dp.world_size == int(os.environ["WORLD_SIZE"])
        # every rank holds the same parameters
        gathered = trainer.dp.gather([float(p.detach().double().sum())
                                      for p in trainer.policy.parameters() if p.requires_grad])
        assert all(g == gathered[0] for g in gathered), "ranks diverged"
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
