"""``rlenvs train --nproc N``: the same ``train`` command, data-parallel on ``N`` processes.

:func:`relaunch` starts ``python -m torch.distributed.run --standalone --nproc_per_node N`` on
:mod:`agents.run.rank_main` with the parsed command line (a JSON file); every rank rebuilds the namespace and
runs ``train`` as one process would, :mod:`agents.run.distributed` taking it from there (gloo on
CPU, NCCL on CUDA). Rank 0 prints the summary and draws the plot.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["relaunch", "under_launcher"]


def under_launcher() -> bool:
    """Whether this process is a rank started by ``torchrun`` (``WORLD_SIZE`` set)."""
    return "WORLD_SIZE" in os.environ


def relaunch(args: argparse.Namespace, nproc: int) -> int:
    """Run ``train`` with ``args`` on ``nproc`` ranks of ``torch.distributed.run``; returns its
    exit code (the first failing rank's, as torchrun reports it)."""
    values = {k: v for k, v in vars(args).items() if k != "func"}
    values["nproc"] = 1  # the ranks train, they do not launch again
    with tempfile.TemporaryDirectory(prefix="rlenvs-train-") as folder:
        path = Path(folder) / "args.json"
        path.write_text(json.dumps(values), encoding="utf-8")
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "agents.run.rank_main", str(path)]
        return subprocess.run(cmd, check=False).returncode
