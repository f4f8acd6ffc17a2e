"""Run untrusted Python in a sandboxed process: :func:`run_python`, :func:`sandbox_info`.

Untrusted code never runs in this process. Each process that uses the sandbox starts one
*zygote* (``_zygote.py``: a fresh ``python -I -S`` with an empty environment, in its own session)
that forks one child per job; the child enters the sandbox before anything untrusted runs (see
``_zygote`` for what each mode enforces and ``_jail`` for the mechanisms). ``server`` talks to
the zygote and keeps a small pool of already-sandboxed children; this module feeds a job its
input, enforces the wall-clock limit (killing the whole job), and bounds the captured output.

Mechanisms are detected once per zygote, in this order, and the first that works is used:
``namespaces`` -> ``setuid`` -> ``rlimits`` as root, ``userns`` -> ``rlimits`` otherwise.
``sandbox_info()`` says which one is in use; ``mode=`` (or ``RLENVS_SANDBOX_MODE``) forces one.
``rlimits`` runs the program as the caller's own user: it can then signal the caller's
processes and write wherever the caller can. Use it only when nothing else is available.

Thread-safe (any number of threads share the zygote; jobs run concurrently in separate
children) and fork-safe (a forked worker process starts its own zygote on first use).
"""

from __future__ import annotations

import functools
import marshal
import os
import selectors
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from judges.code.server import Client, Job, SandboxUnavailable, get_client

__all__ = ["SandboxResult", "SandboxLimits", "SandboxUnavailable", "run_python", "sandbox_info"]

SETUP_FAILED_EXIT = 125
_SERVER_GONE = "the sandbox server exited before the job ended"
_BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONIOENCODING": "utf-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one sandboxed run.

    Attributes:
        timeout_s: wall-clock limit for the whole run (program and tests).
        memory_mb: address-space limit per process (RLIMIT_AS); with cgroups also ~1.5x this
            for the whole job. Below ~200 MB the interpreter itself may not start its threads.
        cpu_s: CPU-time limit per process (RLIMIT_CPU); default ``ceil(timeout_s) + 1``.
        max_output_bytes: stdout and stderr are each kept up to this size (then truncated with
            a marker); a run printing more than ``max(8 MiB, 16 x this)`` in total is killed.
        file_size_mb: largest file the program may write (RLIMIT_FSIZE).
        max_open_files: RLIMIT_NOFILE.
        max_processes: processes + threads of the run's uid (RLIMIT_NPROC; pids cgroup).
        disk_mb: size of the private /tmp working directory (namespaces modes).
        site_packages: which of this interpreter's installed packages the run may import
            (read-only): a tuple of top-level package names, e.g. ``("numpy",)`` - only those
            directories (and a package's ``<name>.libs``) are mounted, so nothing else
            installed (a benchmark package shipping its answers, this project's own) can be
            imported or read; ``True`` exposes the whole site-packages (trusted programs only).
            The mount namespace enforces it (``namespaces``/``userns`` modes); in ``setuid``/
            ``rlimits`` modes the whole site-packages stays importable and readable.
    """

    timeout_s: float = 5.0
    memory_mb: int = 1024
    cpu_s: int | None = None
    max_output_bytes: int = 64 * 1024
    file_size_mb: float = 16
    max_open_files: int = 128
    max_processes: int = 64
    disk_mb: int = 64
    site_packages: bool | tuple[str, ...] = False

    def __post_init__(self) -> None:
        if isinstance(self.site_packages, (list, tuple)):
            names = tuple(self.site_packages)
            bad = [n for n in names if not isinstance(n, str) or not n.isidentifier()]
            if bad:
                raise ValueError(f"site_packages names must be top-level package names, got {bad!r}")
            object.__setattr__(self, "site_packages", names)
        elif not isinstance(self.site_packages, bool):
            raise ValueError("site_packages must be a bool or a tuple of package names, got "
                             f"{self.site_packages!r}")
        for name in ("timeout_s", "memory_mb", "max_output_bytes", "file_size_mb",
                     "max_open_files", "max_processes", "disk_mb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"limit {name} must be a positive number, got {value!r}")
        if self.cpu_s is not None and (not isinstance(self.cpu_s, int) or self.cpu_s <= 0):
            raise ValueError(f"limit cpu_s must be a positive int, got {self.cpu_s!r}")

    @classmethod
    def from_kwargs(cls, timeout_s: float, memory_mb: int, limits: dict[str, Any]) -> SandboxLimits:
        """Build limits from ``run_*`` keyword arguments; unknown names raise ``TypeError``."""
        unknown = set(limits) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown sandbox limit(s): {', '.join(sorted(unknown))}; known: "
                            f"{', '.join(cls.__dataclass_fields__)}")
        return cls(timeout_s=timeout_s, memory_mb=memory_mb, **limits)

    def job_config(self) -> dict[str, Any]:
        if self.site_packages is True:
            ro_paths = sys_path = _site_paths()
        elif self.site_packages:
            ro_paths, sys_path = _package_paths(tuple(sorted(set(self.site_packages))))
        else:
            ro_paths = sys_path = []
        return {
            "timeout_s": float(self.timeout_s),
            "cpu_s": int(self.cpu_s or int(self.timeout_s + 0.999) + 1),
            "memory_mb": int(self.memory_mb),
            "fsize_mb": float(self.file_size_mb),
            "nofile": int(self.max_open_files),
            "nproc": int(self.max_processes),
            "disk_mb": int(self.disk_mb),
            "ro_paths": ro_paths,
            "sys_path": sys_path,
            "env": dict(_BASE_ENV),
        }


@functools.lru_cache(maxsize=1)
def _site_paths() -> list[str]:
    return sorted({os.path.realpath(p) for key in ("purelib", "platlib")
                   if os.path.isdir(p := sysconfig.get_paths()[key])})


@functools.lru_cache(maxsize=16)
def _package_paths(names: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(directories to mount, sys.path entries) exposing only the packages ``names``: each
    one's directory and its wheel's bundled libraries (``<name>.libs``), nothing beside them.
    Inside the sandbox a site directory then holds only these (the root is built of binds);
    a name that is not an installed package directory is not exposed (its import fails)."""
    mounts, roots = [], []
    for site in _site_paths():
        for name in names:
            found = [p for p in (os.path.join(site, name), os.path.join(site, name + ".libs"))
                     if os.path.isdir(p)]
            if found and os.path.isfile(os.path.join(found[0], "__init__.py")):
                mounts.extend(os.path.realpath(p) for p in found)
                roots.append(site)
    return mounts, sorted(set(roots))


@dataclass
class SandboxResult:
    """What a sandboxed run produced.

    ``exit_code`` is None when the process was killed by a signal (see ``signal``) or the job
    never ran (see ``error``, an infrastructure problem rather than the program's fault).
    """

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    memory_exceeded: bool = False
    cpu_exceeded: bool = False
    output_exceeded: bool = False
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration_s: float = 0.0
    cpu_s: float = 0.0
    max_rss_mb: float = 0.0
    mode: str = ""
    error: str | None = None
    results: bytes = field(default=b"", repr=False)

    @property
    def ok(self) -> bool:
        """True when the program ran to completion with exit code 0."""
        return self.error is None and self.exit_code == 0 and not self.timed_out

    @property
    def reason(self) -> str:
        """One-line summary of how the run ended."""
        if self.error:
            return f"sandbox error: {self.error}"
        if self.timed_out:
            return "timed out"
        if self.output_exceeded:
            return "output limit exceeded"
        if self.memory_exceeded:
            return "memory limit exceeded"
        if self.cpu_exceeded:
            return "CPU time limit exceeded"
        if self.signal is not None:
            return f"killed by signal {self.signal}"
        return f"exit code {self.exit_code}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (without the raw result channel)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "results"}


def sandbox_info(mode: str | None = None) -> dict[str, Any]:
    """Which isolation mechanism is in use (starts the sandbox server if needed).

    Returns a dict with ``mode`` (``namespaces``/``setuid``/``userns``/``rlimits``), ``cgroups``
    (controllers used for per-run limits), ``python`` (the interpreter running the code),
    ``uid_range`` (per-run uids, root modes) and ``fallback_chain``.
    """
    info = dict(get_client(mode).info)
    info["fallback_chain"] = ["namespaces", "setuid", "rlimits"] if os.geteuid() == 0 else [
        "userns", "rlimits"]
    return info


def _execute(job: dict[str, Any], limits: SandboxLimits, mode: str | None,
             finished: Callable[[bytes], bool] | None = None) -> SandboxResult:
    """Run one job (a dict for ``_harness.run_job``) and collect its outcome.

    ``finished(results)``: when it returns True once all output pipes are closed, the job's
    own report is complete and the zygote's exit status is not waited for (``exit_code`` then
    stays None; ``cpu_s``/``max_rss_mb`` are left for the caller to fill in).
    """
    cfg = limits.job_config()
    body = marshal.dumps(job)
    payload = len(body).to_bytes(8, "big") + body
    for attempt in range(2):
        try:
            client = get_client(mode, fresh=attempt > 0)
            with client.slots:
                try:
                    handle = client.acquire(cfg)
                except OSError:  # the server died since the last job: start a new one, once
                    client = get_client(mode, fresh=True)
                    handle = client.acquire(cfg)
                try:
                    result = SandboxResult(mode=str(client.info.get("mode", "")))
                    # Without namespaces the zygote's clean-up (the uid's processes, files and
                    # IPC objects) must finish before the call returns: wait for the status.
                    early = finished if result.mode in ("namespaces", "userns") else None
                    _collect(client, handle, result, payload, limits, early)
                finally:
                    handle.close()
        except (OSError, SandboxUnavailable) as exc:
            return SandboxResult(error=f"could not run the job: {exc}")
        if result.error != _SERVER_GONE:
            return result
        client.dead = True  # e.g. a warm job of a server that has died: retry once, fresh
    return result


def _collect(client: Client, job: Job, result: SandboxResult, payload: bytes,
             limits: SandboxLimits, finished: Callable[[bytes], bool] | None) -> None:
    """Feed the job's input, read its pipes under the limits, and fill in ``result``."""
    keep = int(limits.max_output_bytes)
    kill_at = max(8 << 20, 16 * keep)
    out_r, err_r, res_r, st_r = job.out_r, job.err_r, job.res_r, job.st_r
    bufs = {out_r: bytearray(), err_r: bytearray(), res_r: bytearray(), st_r: bytearray()}
    seen = {out_r: 0, err_r: 0}
    status = None
    sel = selectors.DefaultSelector()
    start = time.monotonic()
    deadline, finish_by, killed = start + float(limits.timeout_s), None, False
    os.set_blocking(job.in_w, False)
    for fd in (out_r, err_r, st_r):
        sel.register(fd, selectors.EVENT_READ)
    sel.register(job.in_w, selectors.EVENT_WRITE)
    sent, open_fds, early, res_watched = 0, {out_r, err_r, res_r}, False, False
    try:
        while open_fds or status is None:
            now = time.monotonic()
            if not res_watched and (killed or status is not None or now - start > 0.25
                                    or not open_fds & {out_r, err_r}):
                # Records are read in one go at the end (the pipe holds 1 MiB): one wake-up per
                # job instead of one per record. Slow jobs are watched continuously.
                sel.register(res_r, selectors.EVENT_READ)
                res_watched = True
            if not open_fds and status is None and not killed and finished is not None:
                early = finished(bytes(bufs[res_r]))
                if early:
                    break
                finished = None
            if status is not None:
                finish_by = finish_by or now + 0.5
                if now >= finish_by:
                    break
            elif now >= deadline and not killed:
                result.timed_out = killed = True
                client.kill(job.id, "timeout")
                finish_by = now + 5.0
            elif killed and finish_by and now >= finish_by:
                result.error = "the sandbox did not report the end of a killed job"
                break
            wait = (finish_by or deadline) - now
            for key, _ in sel.select(max(0.0, min(wait, 1.0))):
                fd = key.fd
                if fd == job.in_w:
                    try:
                        sent += os.write(fd, payload[sent:sent + (1 << 16)])
                    except OSError:
                        sent = len(payload)
                    if sent >= len(payload):
                        sel.unregister(fd)
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    sel.unregister(fd)
                    open_fds.discard(fd)
                    if fd == st_r and status is None:
                        status = ("error", _SERVER_GONE)
                    continue
                if fd == st_r:
                    bufs[fd] += chunk
                    try:
                        status = marshal.loads(bytes(bufs[fd]))
                    except (EOFError, ValueError, TypeError):
                        pass
                    continue
                if fd == res_r:
                    bufs[fd] += chunk
                    if len(bufs[res_r]) > 4 << 20 and not killed:
                        killed = result.output_exceeded = True
                        client.kill(job.id, "results")
                        finish_by = time.monotonic() + 5.0
                    continue
                seen[fd] += len(chunk)
                if len(bufs[fd]) < keep:
                    bufs[fd] += chunk[: keep - len(bufs[fd])]
                if seen[out_r] + seen[err_r] > kill_at and not killed:
                    killed = result.output_exceeded = True
                    client.kill(job.id, "output")
                    finish_by = time.monotonic() + 5.0
    finally:
        sel.close()
    result.duration_s = time.monotonic() - start
    result.stdout, result.stdout_truncated = _text(bufs[out_r], seen[out_r])
    result.stderr, result.stderr_truncated = _text(bufs[err_r], seen[err_r])
    result.results = bytes(bufs[res_r])
    if result.error is not None or early:
        return
    if status is None:
        result.error = _SERVER_GONE
    elif status[0] == "error":
        result.error = str(status[1])
    else:
        _, wait_status, cpu, maxrss, flags = status
        result.cpu_s, result.max_rss_mb = float(cpu), float(maxrss) / 1024.0
        if os.WIFSIGNALED(wait_status):
            result.signal = os.WTERMSIG(wait_status)
        else:
            result.exit_code = os.waitstatus_to_exitcode(wait_status)
        result.memory_exceeded = bool(flags.get("oom"))
        result.cpu_exceeded = bool(flags.get("cpu_limit")) and result.signal is not None
        if result.exit_code == SETUP_FAILED_EXIT and result.stderr.startswith("sandbox setup"):
            result.error = result.stderr.strip().splitlines()[-1]


def _text(buf: bytearray, seen: int) -> tuple[str, bool]:
    text = bytes(buf).decode("utf-8", errors="replace")
    if seen > len(buf):
        return text + f"\n...[output truncated: {seen - len(buf)} more bytes]", True
    return text, False


def run_python(
    source: str,
    timeout_s: float = 5.0,
    *,
    stdin: str | bytes | None = None,
    argv: list[str] | None = None,
    memory_mb: int = 1024,
    mode: str | None = None,
    **limits: Any,
) -> SandboxResult:
    """Run ``source`` as ``__main__`` in a fresh sandboxed interpreter.

    Args:
        source: Python source code (untrusted).
        timeout_s: wall-clock limit in seconds.
        stdin: data for the program's standard input (default: empty).
        argv: ``sys.argv`` for the program (default ``["<program>"]``).
        memory_mb: address-space limit per process.
        mode: force a sandbox mechanism (see :func:`sandbox_info`); default: best available.
        **limits: other :class:`SandboxLimits` fields (``cpu_s``, ``max_output_bytes``, ...).

    Returns:
        A :class:`SandboxResult` (never raises for anything the program does).

    Raises:
        TypeError: ``source`` is not a str, or an unknown limit name was given.
        ValueError: a limit has an invalid value.
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, got {type(source).__name__}")
    lim = SandboxLimits.from_kwargs(timeout_s, memory_mb, limits)
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    if data is not None and not isinstance(data, bytes):
        raise TypeError(f"stdin must be str or bytes, got {type(stdin).__name__}")
    job = {"mode": "script", "source": source, "stdin": data,
           "argv": [str(a) for a in (argv or ["<program>"])]}
    return _execute(job, lim, mode)
