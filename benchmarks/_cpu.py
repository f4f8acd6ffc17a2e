"""What a benchmark ran on, and how to run it as on an AVX2-only CPU.

``--cpu avx2`` limits torch's kernels and oneDNN to AVX2 (``ATEN_CPU_CAPABILITY=avx2``,
``ONEDNN_MAX_CPU_ISA=AVX2``): bf16 then runs emulated, as on a CPU without AVX-512-BF16/AMX, while
fp32 keeps its AVX2 kernels. The variables must be set before torch is imported, so scripts pass
:func:`cpu_env` to their worker processes (or re-execute themselves with :func:`reexec_with`).
"""

from __future__ import annotations

import os
import sys

AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def cpu_env(cpu: str) -> dict[str, str]:
    """Environment variables for ``--cpu native|avx2``."""
    if cpu == "native":
        return {}
    if cpu == "avx2":
        return dict(AVX2_ONLY)
    raise ValueError(f"--cpu must be native or avx2, got {cpu!r}")


def reexec_with(cpu: str) -> None:
    """Re-run this script with the ``--cpu`` variables set, unless they already are."""
    extra = cpu_env(cpu)
    if all(os.environ.get(k) == v for k, v in extra.items()):
        return
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **extra})


def add_cpu_argument(parser) -> None:  # noqa: ANN001 - argparse.ArgumentParser
    parser.add_argument("--cpu", choices=["native", "avx2"], default="native",
                        help="native: this CPU as it is; avx2: torch/oneDNN limited to AVX2 "
                             "(bf16 emulated, as on a CPU without native bf16)")
