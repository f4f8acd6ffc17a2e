"""Run ``rlenvs serve-env`` in a child process (tests, notebooks, a trainer's local env farm).

>>> with ServerProcess(["rlenvs/ToolMath-v0"]) as base:
...     env = rlenvs.make(f"{base}/rlenvs/ToolMath-v0")
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

__all__ = ["ServerProcess", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m rlenvs.serving ARGS`` on loopback; ``start()`` waits until ``/health`` answers.

    Args:
        args: the ``serve-env`` arguments (env ids and options, no ``--port``).
        port: defaults to a free port; reuse it to restart a server where clients expect it.
        env: extra environment variables for the child.
    """

    def __init__(self, args: Sequence[str], port: int | None = None,
                 env: dict[str, str] | None = None, start_timeout_s: float = 60.0) -> None:
        self.args = list(args)
        self.port = port or free_port()
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        cmd = [sys.executable, "-m", "rlenvs.serving", *self.args, "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read() if self.proc.stdout else ""
                raise RuntimeError(f"the server exited with {self.proc.returncode}: {out[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                    if r.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the server did not answer /health within {self.start_timeout_s} s")

    def kill(self) -> None:
        """SIGKILL (no clean shutdown: what a crash looks like to clients)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=10)
            if self.proc.stdout:
                self.proc.stdout.close()
            self.proc = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.kill()
