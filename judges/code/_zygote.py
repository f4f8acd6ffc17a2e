"""Sandbox fork server ("zygote"), started by ``judges.code.server`` as
``python -I -S _zygote.py <socket fd> <mode>`` with an empty environment, in its own session.

It never runs untrusted code itself. It imports the harness and common stdlib modules once, then
forks one child per job request; the child enters the sandbox and runs the job (a fork costs
about 1 ms where a fresh interpreter costs about 10 ms plus imports). Before any untrusted code
runs, each child:

* ``namespaces`` mode (root with CAP_SYS_ADMIN; preferred): is PID 1 of a new PID namespace (so
  killing it kills every process the job started, double-forked or ``setsid`` ones included) and
  has new mount, network (loopback only, down), IPC and UTS namespaces; gets a private copy of a
  read-only root (binds of /usr, /etc, /bin, /lib*, the interpreter) with its own /proc,
  /dev/shm and size-limited tmpfs /tmp as working directory (gone with the namespace); runs as a
  per-run unprivileged uid with cgroup v1 memory and pids limits where writable.
* ``setuid`` mode (root, no namespaces): per-run uid, rlimits, a fresh 0700 temporary directory;
  after the job every process of that uid is killed (``kill(-1)`` as that uid) and the directory
  removed. Network and world-writable directories such as /tmp stay reachable, and stdlib
  modules the zygote did not preload can be imported only if the interpreter is readable by
  other users (``sandbox_info()["stdlib_readable"]``).
* ``userns`` mode (not root, unprivileged user namespaces allowed): like ``namespaces`` but with
  the caller's own uid (mapped to root inside) and no cgroups.
* ``rlimits`` mode (nothing else works): rlimits, own session, temporary directory, process-group
  kill. A child that calls ``setsid`` can outlive the run; as root this mode is weak.

All modes: RLIMIT_AS/CPU/FSIZE/NOFILE/NPROC/CORE, no_new_privs, non-dumpable, parent-death
signal, no capabilities, a seccomp filter (``_seccomp``: no keyrings, ptrace, bpf, mounts,
namespaces...; no System V IPC where the IPC namespace is shared), scrubbed environment, only
the job's pipes open. In ``setuid`` mode the files the run's uid left in /tmp, /var/tmp and
/dev/shm are removed after the job.
"""

from __future__ import annotations

import _signal
import gc
import marshal
import os
import random
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402
import _jail  # noqa: E402
import _seccomp  # noqa: E402

sys.path.pop(0)
# Preloaded for speed (a fork shares them) and for the setuid mode, where a stdlib under an
# unreadable directory (e.g. a pyenv in /root) limits imports to what is already loaded.
PRELOAD = ("typing", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
           "random", "fractions", "decimal", "statistics", "hashlib", "json", "copy",
           "dataclasses", "datetime", "textwrap", "struct", "array", "pprint", "calendar",
           "numbers", "contextlib", "operator", "unicodedata", "cmath", "math", "time")
# Modules that import ``threading``: its after-fork hook makes every fork of the zygote (and
# of a job's driver) touch about a hundred more pages, ~0.5 ms of CPU per process. Preloaded
# only where the job could not import them itself (setuid mode); elsewhere a program that uses
# them imports them.
PRELOAD_THREADING = ("threading", "logging", "queue")


def _preload(mode):
    for name in PRELOAD + (PRELOAD_THREADING if mode == "setuid" else ()):
        try:
            __import__(name)
        except ImportError:
            pass


def _child(server, job, fds):
    """In the forked child: enter the sandbox, then hand over to the harness. Never returns."""
    # Only C-level calls where a lighter form exists: in a fresh fork every page of Python
    # code and objects it touches is copied, so the environment, sys.path and root plan were
    # prepared by the zygote (``Server.start``) and signals and files use the C interfaces.
    in_r, out_w, err_w, res_w = fds
    try:
        _signal.set_wakeup_fd(-1)
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
        os.setsid()
        for path in job["cgroups"]:
            fd = os.open(path + "/cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        cfg, uid, mode = job["cfg"], job["uid"], server.mode
        if mode == "namespaces":
            _jail.enter_template(server.template(cfg["ro_paths"]), uid, cfg["disk_mb"])
        elif mode == "userns":
            _jail.unshare(_jail.JOB_NAMESPACES)
            _jail.build_root(server.newroot, job["plan"], 0, cfg["disk_mb"], template=False)
        else:
            os.chdir(job["workdir"])
        devnull = os.open("/dev/null", os.O_RDWR)
        high = [os.dup(fd) for fd in (in_r, res_w, out_w, err_w, devnull)]
        for target, fd in zip((3, 4, 1, 2, 0), high, strict=True):
            os.dup2(fd, target)
        os.closerange(5, 1 << 16)
        _jail.set_limits(cfg)
        _jail.drop_privileges(uid)
        _seccomp.lock_down(os.geteuid(), deny_ipc=mode in ("setuid", "rlimits"))
        sys.path[:] = ["", *job["sys_path"]]
        sys.executable = server.executable
        random.seed()  # the zygote's state would otherwise repeat in every job
        _harness.run_job(3, 4)
    except BaseException:
        try:
            os.write(2, ("sandbox setup failed:\n" + traceback.format_exc()).encode())
        finally:
            os._exit(125)
    os._exit(125)


def _probe(server, mode):
    """Run a throw-away job setup of ``mode`` in a child; True if it worked."""
    pid = os.fork()
    if pid == 0:
        try:
            cfg = {"memory_mb": 512, "cpu_s": 5, "fsize_mb": 1, "nofile": 64, "nproc": 64}
            uid = _jail.UID_BASE - 1 if mode in ("namespaces", "setuid") else 0
            if mode == "userns":
                _jail.enter_userns()
                _jail.become_pid1()
            if mode in ("namespaces", "userns"):
                _jail.new_pid_ns(os.open("/proc/self/ns/pid", os.O_RDONLY))
                inner = os.fork()
                if inner == 0:
                    if mode == "namespaces":
                        _jail.enter_template(server.template([]), uid, 1)
                    else:
                        _jail.unshare(_jail.JOB_NAMESPACES)
                        _jail.build_root(server.newroot, server.plan, uid, 1, template=False)
                    os._exit(0 if os.getpid() == 1 else 3)
                if os.waitstatus_to_exitcode(os.waitpid(inner, 0)[1]) != 0:
                    os._exit(3)
            _jail.set_limits(cfg)
            if uid:
                os.setresuid(uid, uid, uid)
            os._exit(0)
        except BaseException:
            os._exit(4)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


class Server:
    def __init__(self, sock_fd, requested):
        self.sock = socket.socket(fileno=sock_fd)
        self.jobs = {}  # pid -> job dict
        self.executable = os.path.realpath(sys.executable)
        self.sys_path = [p for p in sys.path if p]
        self.base = tempfile.mkdtemp(prefix=f"rlenvs-sandbox-{os.getpid()}-")
        os.chmod(self.base, 0o755)
        self.newroot = os.path.join(self.base, "root")
        os.mkdir(self.newroot)
        self.plan = _jail.root_plan(sys.base_prefix)
        self.uids, self.lock_fd, self.cgroup_bases = [], None, []
        self.pidns_fd, self.templates, self.pending, self.prepared = None, {}, [], {}
        self.environ = None  # the environment last handed to a job (see _prepare)
        self.mode = self._select_mode(requested)

    def _select_mode(self, requested):
        root = os.geteuid() == 0
        order = ["namespaces", "setuid", "rlimits"] if root else ["userns", "rlimits"]
        for mode in order if requested == "auto" else [requested]:
            if mode == "rlimits" or _probe(self, mode):
                break
        else:
            raise RuntimeError(f"sandbox mode {requested!r} is not available here")
        if mode == "userns":
            _jail.enter_userns()
            _jail.become_pid1()
        if mode in ("namespaces", "setuid"):
            self.lock_fd, self.uids = _jail.claim_uid_block()
            self.cgroup_bases = _jail.find_cgroups()
        _jail.remove_stale(self.cgroup_bases)
        return mode

    def info(self):
        info = {"mode": self.mode, "cgroups": [c for c, _ in self.cgroup_bases],
                "python": self.executable, "pid": os.getpid(),
                "uid_range": [min(self.uids), max(self.uids)] if self.uids else None,
                "stdlib_readable": all(_jail.world_readable(p) for p in self.sys_path
                                       if os.path.isdir(p))}
        if self.mode == "rlimits" and os.geteuid() == 0:
            info["warning"] = "runs untrusted code as root with rlimits only"
        return info

    def template(self, ro_paths):
        """fd of the mount namespace holding the read-only root for this set of extra paths."""
        key = tuple(ro_paths)
        if key not in self.templates:
            if self.pidns_fd is not None:  # the holder process must not join a dead job's
                _jail.own_pid_ns(self.pidns_fd)
            plan = _jail.root_plan(sys.base_prefix, ro_paths)
            self.templates[key] = _jail.build_template(self.newroot, plan)
        return self.templates[key]

    def _prepare(self, job):
        """What the child would otherwise compute after the fork, done here where the code is
        warm: its sys.path (host paths under /tmp are bound elsewhere inside the namespaces),
        the userns root plan, and the environment - this process's own becomes exactly the
        job's (the scrubbed base environment, ``HOME``/``TMPDIR`` its working directory), which
        the fork then hands over."""
        cfg, key = job["cfg"], (tuple(job["cfg"]["sys_path"]), tuple(job["cfg"]["ro_paths"]))
        if key not in self.prepared:
            paths = [*self.sys_path, *cfg["sys_path"]]
            if self.mode in ("namespaces", "userns"):
                paths = [_jail.inside_path(p) for p in paths]
            plan = _jail.root_plan(sys.base_prefix, cfg["ro_paths"]) \
                if self.mode == "userns" else None
            self.prepared[key] = (paths, plan)
        job["sys_path"], job["plan"] = self.prepared[key]
        home = os.path.realpath(job["workdir"]) if job["workdir"] else "/tmp"  # else: own /tmp
        env = {**cfg["env"], "HOME": home, "TMPDIR": home}
        if env != self.environ:  # os.environ is only ever set here
            os.environ.clear()
            os.environ.update(env)
            self.environ = env

    # -- jobs ----------------------------------------------------------------------------------
    def start(self, job_id, cfg, fds):
        if self.mode in ("namespaces", "setuid") and not self.uids and len(fds) == 5:
            self.pending.append((job_id, cfg, fds))  # started when a job ends and frees a uid
            return
        status_w = fds.pop() if len(fds) == 5 else -1
        job = {"id": job_id, "cfg": cfg, "uid": 0, "cgroups": [], "workdir": None, "oom": False,
               "deadline": time.monotonic() + float(cfg["timeout_s"]) + 5.0
               + float(cfg.get("idle_s", 0.0)), "status_w": status_w}
        try:
            if len(fds) != 4:
                raise RuntimeError("malformed job request")
            if self.mode in ("namespaces", "setuid"):
                job["uid"] = self.uids.pop()
            job["cgroups"] = _jail.cgroups_for(self.cgroup_bases, job["uid"], cfg)
            if self.mode in ("setuid", "rlimits"):
                job["workdir"] = tempfile.mkdtemp(prefix="job-", dir=self.base)
                if job["uid"]:
                    os.chown(job["workdir"], job["uid"], job["uid"])
            if self.mode == "namespaces":
                self.template(cfg["ro_paths"])
            self._prepare(job)
            if self.mode in ("namespaces", "userns"):
                if self.pidns_fd is None:
                    self.pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY)
                _jail.new_pid_ns(self.pidns_fd)
            pid = os.fork()
        except BaseException as exc:
            for fd in fds:
                os.close(fd)
            self._cleanup(job)
            self._report(job, ("error", f"{type(exc).__name__}: {exc}"))
            return
        if pid == 0:
            self.sock.close()
            _child(self, job, fds)
        for fd in fds:
            os.close(fd)
        self.jobs[pid] = job

    def kill(self, pid):
        try:
            os.kill(pid, signal.SIGKILL)
            if self.mode == "rlimits":
                os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass

    def _kill_uid(self, uid):
        pid = os.fork()
        if pid == 0:
            try:
                os.setresuid(uid, uid, uid)
                for _ in range(20):
                    os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            os._exit(0)
        os.waitpid(pid, 0)

    def _cleanup(self, job):
        if job["uid"] and self.mode == "setuid":
            self._kill_uid(job["uid"])
        for path in job["cgroups"]:
            if "/memory/" in path:
                try:
                    fd = os.open(path + "/memory.failcnt", os.O_RDONLY)
                    try:
                        job["oom"] = int(os.read(fd, 64) or 0) > 0
                    finally:
                        os.close(fd)
                except (OSError, ValueError):
                    pass
        if job["workdir"]:
            shutil.rmtree(job["workdir"], ignore_errors=True)
        if job["uid"] and self.mode == "setuid":
            _jail.remove_files_of(job["uid"], ("/tmp", "/var/tmp", "/dev/shm"))
        if job["uid"]:
            self.uids.append(job["uid"])

    def reap(self):
        while True:
            try:
                pid, status, ru = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = self.jobs.pop(pid, None)
            if job is None:
                continue
            if self.mode == "rlimits":
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
            self._cleanup(job)
            while self.pending and self.uids:
                self.start(*self.pending.pop(0))
            cpu = ru.ru_utime + ru.ru_stime
            self._report(job, ("exit", status, cpu, ru.ru_maxrss,
                               {"oom": job["oom"], "cpu_limit": cpu >= job["cfg"]["cpu_s"] - 0.05,
                                "killed": job.get("killed", "")}))

    def _report(self, job, msg):
        """Send a job's outcome down its own status pipe (then close it)."""
        fd = job.pop("status_w", -1)
        if fd >= 0:
            try:
                os.write(fd, marshal.dumps(msg))
            except OSError:
                pass
            os.close(fd)

    def serve(self):
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *a: None)
        self.sock.send(marshal.dumps(("hello", self.info())))
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN)
        poller.register(wake_r, select.POLLIN)
        while True:
            now = time.monotonic()
            timeout = min([j["deadline"] for j in self.jobs.values()], default=now + 60) - now
            for fd, _ in poller.poll(max(0, timeout) * 1000 + 1):
                if fd == wake_r:
                    os.read(wake_r, 4096)
                    continue
                try:
                    data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 5)
                except OSError:
                    data, fds = b"", []
                if not data:
                    return self.shutdown()
                msg = marshal.loads(data)
                if msg[0] == "run":
                    self.start(msg[1], msg[2], fds)
                elif msg[0] == "kill":
                    for pid, job in list(self.jobs.items()):
                        if job["id"] == msg[1]:
                            job["killed"] = msg[2] if len(msg) > 2 else "killed"
                            self.kill(pid)
                    for entry in [e for e in self.pending if e[0] == msg[1]]:
                        self.pending.remove(entry)
                        for fd in entry[2]:
                            os.close(fd)
            now = time.monotonic()
            for pid, job in list(self.jobs.items()):
                if now > job["deadline"] and not job.get("killed"):
                    job["killed"] = "deadline"
                    self.kill(pid)
            self.reap()

    def shutdown(self):
        for pid in list(self.jobs):
            self.kill(pid)
        deadline = time.monotonic() + 5
        while self.jobs and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.01)
        for _, base in self.cgroup_bases:
            for name in os.listdir(base):
                if name.startswith(f"rlenvs-{os.getpid()}-"):
                    try:
                        os.rmdir(f"{base}/{name}")
                    except OSError:
                        pass
        shutil.rmtree(self.base, ignore_errors=True)
        os._exit(0)


if __name__ == "__main__":
    try:
        server = Server(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "auto")
    except BaseException as exc:
        sock = socket.socket(fileno=int(sys.argv[1]))
        sock.send(marshal.dumps(("fatal", f"{type(exc).__name__}: {exc}")))
        raise SystemExit(1) from exc
    _preload(server.mode)
    # A job's driver is PID 1 of its own PID namespace in these modes: its program process's
    # filter is the same every time.
    _seccomp.prepare([1] if server.mode in ("namespaces", "userns") else [])
    gc.collect()
    gc.freeze()  # keep the preloaded heap out of collections: fewer copy-on-write faults per job
    server.serve()
