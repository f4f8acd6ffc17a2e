"""One rank of ``rlenvs train --nproc N`` (:mod:`agents.run.launch` starts it under
``torch.distributed.run``): rebuilds the parsed command line from its JSON file and runs ``train``
as one process would. A module of its own so that the launcher does not import the CLI back."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def rank_main(path: str) -> int:
    """Run ``train`` with the arguments stored in ``path``; returns its exit code."""
    from agents.cli import cmd_train

    values: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    args = argparse.Namespace(**values)
    try:
        return int(cmd_train(args) or 0)
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(rank_main(sys.argv[1]))
