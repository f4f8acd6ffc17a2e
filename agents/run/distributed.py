"""Data-parallel training on ``torch.distributed``: a mode of :class:`RLTrainer`'s one round.

Launched with ``torchrun --nproc_per_node N`` (or ``rlenvs train --nproc N``), every rank runs the
same trainer; :func:`data_parallel_from_env` reads ``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR``
and joins the process group (gloo on CPU, NCCL on CUDA). The round then goes:

* **Rollouts sharded by prompt group**: of a call's prompts ``0..P-1`` rank ``r`` rolls out
  ``r, r+N, r+2N, ...`` with its own sampling seed (rank 0 keeps the single-process seed, rank
  ``r`` adds ``r * RANK_SEED_STRIDE``: distinct per rank, the same on every run). The episodes
  are gathered (``all_gather_object``) and put back in group order, so every rank holds the
  round's full batch: advantages, group and batch normalisations, dynamic sampling decisions and
  rollout metrics are those of one process on that batch.
* **Gradient-free scoring passes sharded**: old / reference log-probs and values of sample
  ``i`` are computed by rank ``i mod N`` and gathered.
* **Optimizer step split by micro-batch**: every rank computes the step's per-token loss
  weights on the full step (the full batch's normalisation), then runs the forward/backward of
  its share of the step's micro-batches (balanced by padded tokens); gradients are summed with
  ``all_reduce`` before clipping and the optimizer step. Each micro-batch's loss already carries
  the full-batch normalisation, so the sum is the single-process gradient and every rank takes
  the same update (the parameters stay identical without a broadcast).
* **Metrics**: the optimizer steps' summable statistics are summed over ranks; rollout metrics
  are computed on the gathered batch. Rank 0 writes ``metrics.jsonl``, checkpoints (with every
  rank's RNG state) and runs evaluations (broadcast to the others); resume restores every rank.

Why a summed all-reduce and not ``DistributedDataParallel``: DDP averages gradients over ranks
and assumes each rank's loss is normalised by its own share, which is only the single-process
loss when the shares are equal; here a rank's micro-batches may differ in number and tokens (or
be none: a CGPO task is one micro-batch), and the per-token weights already hold the full
batch's normalisation, so a plain sum is exact. It also keeps the one round free of a wrapped
module (the policy's forward, value head and LoRA adapters are called as in one process).

The settings describe the global batch (``prompts_per_generation`` prompts per round, the same
optimizer steps); more ranks split the work of that batch, they do not multiply it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DataParallel", "data_parallel_from_env", "RANK_SEED_STRIDE", "shard_indices",
           "balance_micro_batches"]

# rank r's sampling seed is the single-process seed + r * RANK_SEED_STRIDE (mod 2**62)
RANK_SEED_STRIDE = 1_000_000_007


def shard_indices(n: int, rank: int, world_size: int) -> list[int]:
    """Items ``rank, rank + world_size, ...`` of ``range(n)`` (the rank's prompt groups)."""
    return list(range(rank, n, world_size))


def balance_micro_batches(costs: Sequence[float], world_size: int) -> list[list[int]]:
    """Micro-batch indices per rank: largest cost first onto the least-loaded rank (ties: the
    lower rank), each rank's list in ascending order. Deterministic, so every rank agrees."""
    loads = [0.0] * world_size
    out: list[list[int]] = [[] for _ in range(world_size)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        r = min(range(world_size), key=lambda r: (loads[r], r))
        loads[r] += costs[i]
        out[r].append(i)
    return [sorted(x) for x in out]


class DataParallel:
    """This process's place in a data-parallel run and the collectives the trainer needs."""

    def __init__(self, rank: int, world_size: int, local_rank: int = 0,
                 group: Any = None) -> None:
        self.rank = rank
        self.world_size = world_size
        self.local_rank = local_rank
        self.group = group
        # seconds spent in collectives, by kind (benchmarks/bench_data_parallel.py reads them)
        self.seconds = {"all_reduce": 0.0, "gather": 0.0, "barrier": 0.0}

    @property
    def is_main(self) -> bool:
        """Rank 0: writes metrics and checkpoints, runs evaluations."""
        return self.rank == 0

    # ----------------------------------------------------------------- setup
    def broadcast_parameters(self, params: Sequence[torch.Tensor]) -> None:
        """Every rank starts from rank 0's values of ``params``."""
        with torch.no_grad():
            for p in params:
                dist.broadcast(p.data, src=0, group=self.group)

    def barrier(self) -> None:
        started = time.perf_counter()
        dist.barrier(group=self.group)
        self.seconds["barrier"] += time.perf_counter() - started

    # ----------------------------------------------------------------- rollouts
    def rank_seed(self, seed: int) -> int:
        """This rank's sampling seed for a call whose single-process seed is ``seed``."""
        return (int(seed) + self.rank * RANK_SEED_STRIDE) % (2**62)

    def collect(self, rollout: Callable[[Sequence[int], int, int], tuple[list[Any],
                                                                          dict[str, float]]],
                seeds: Sequence[int], seed: int, first_group: int
                ) -> tuple[list[Any], list[dict[str, float]], list[Any]]:
        """Roll out this rank's share of ``seeds`` (prompt ``k`` is group ``first_group + k``)
        with ``rollout(seeds, sampling_seed, first_group) -> (trajectories, metrics)`` and
        gather every rank's episodes in group order (stable within a group). Returns the
        episodes, each rank's rollout metrics (non-empty ones) and each rank's ``extra``
        (the third element ``rollout`` may return, else ``None``)."""
        mine = shard_indices(len(seeds), self.rank, self.world_size)
        trajs: list[Any] = []
        metrics: dict[str, float] = {}
        extra: Any = None
        if mine:
            result = rollout([seeds[k] for k in mine], self.rank_seed(seed), first_group)
            trajs, metrics = result[0], result[1]
            extra = result[2] if len(result) > 2 else None
            for t in trajs:  # the collector numbered this rank's prompts 0.. from first_group
                t.group = first_group + mine[t.group - first_group]
        parts = self.gather((trajs, metrics, extra))
        merged = [t for part in parts for t in part[0]]
        merged.sort(key=lambda t: t.group)  # stable: a group's rows keep their order
        return merged, [p[1] for p in parts if p[1]], [p[2] for p in parts]

    def map_samples(self, fn: Callable[[list[Any]], list[Any]], items: Sequence[Any]
                    ) -> list[Any]:
        """``fn`` over ``items`` as one process would (one output per item, in order), each rank
        computing items ``rank, rank + N, ...`` (tensors gathered on the CPU)."""
        mine = shard_indices(len(items), self.rank, self.world_size)
        outs = fn([items[i] for i in mine]) if mine else []
        outs = [_to_cpu(o) for o in outs]
        parts = self.gather(outs)
        result: list[Any] = [None] * len(items)
        for r, part in enumerate(parts):
            for i, o in zip(shard_indices(len(items), r, self.world_size), part, strict=True):
                result[i] = o
        return result

    # ----------------------------------------------------------------- optimizer step
    def my_micro_batches(self, chunks: list[list[int]], samples: Sequence[Any]
                         ) -> list[list[int]]:
        """This rank's share of a step's micro-batches, balanced by padded tokens."""
        costs = [len(c) * max(len(samples[i].prompt_ids) + len(samples[i].completion_ids)
                              for i in c) for c in chunks]
        return [chunks[i] for i in balance_micro_batches(costs, self.world_size)[self.rank]]

    def all_reduce_gradients(self, params: Sequence[torch.Tensor]) -> None:
        """Sum every parameter's gradient over the ranks (one flat buffer). A parameter no rank
        has a gradient for keeps ``None`` (so the optimizer skips it, as in one process)."""
        if not params:
            return
        started = time.perf_counter()
        device = params[0].device
        present = torch.tensor([p.grad is not None for p in params], dtype=torch.float32,
                               device=device)
        dist.all_reduce(present, group=self.group)
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                          for p in params])
        dist.all_reduce(flat, group=self.group)
        offset = 0
        for p, any_rank in zip(params, present.tolist(), strict=True):
            n = p.numel()
            if any_rank:
                p.grad = flat[offset: offset + n].view_as(p).to(p.dtype).clone()
            offset += n
        self.seconds["all_reduce"] += time.perf_counter() - started

    def sum_stats(self, sums: dict[str, float]) -> dict[str, float]:
        """Summable statistics added over the ranks (a key some rank lacks counts 0 there)."""
        total: dict[str, float] = {}
        for part in self.gather(sums):
            for k, v in part.items():
                total[k] = total.get(k, 0.0) + float(v)
        return total

    # ----------------------------------------------------------------- objects
    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order."""
        started = time.perf_counter()
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj, group=self.group)
        self.seconds["gather"] += time.perf_counter() - started
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self.group)
        return box[0]


def data_parallel_from_env(device: torch.device | None = None) -> DataParallel | None:
    """The run's :class:`DataParallel` when launched by ``torchrun`` (``WORLD_SIZE`` > 1), else
    ``None``. Joins the default process group if nobody has yet: NCCL when ``device`` is CUDA,
    gloo otherwise (``RLENVS_DIST_TIMEOUT_S``, default 1800, bounds every collective)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(device if device.index is not None else local_rank)
        timeout = timedelta(seconds=float(os.environ.get("RLENVS_DIST_TIMEOUT_S", "1800")))
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=timeout)
    if dist.get_world_size() != world or dist.get_rank() != rank:
        raise RuntimeError(f"the process group (rank {dist.get_rank()} of "
                           f"{dist.get_world_size()}) is not the launcher's (RANK={rank}, "
                           f"WORLD_SIZE={world})")
    return DataParallel(rank, world, local_rank)


def _to_cpu(obj: Any) -> Any:
    """``obj`` with its tensors (also inside dataclasses, lists, dicts) on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(x) for x in obj)
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.replace(obj, **{f.name: _to_cpu(getattr(obj, f.name))
                                           for f in dataclasses.fields(obj) if f.init})
    return obj
