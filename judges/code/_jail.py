"""Operating-system isolation primitives for the sandbox (stdlib + ctypes only; Linux).

Used by the zygote (``_zygote.py``), which runs as the caller's user (root for the
``namespaces``/``setuid`` modes). Nothing here runs untrusted code.

* :func:`build_root` - a fresh root file system on tmpfs: read-only binds of /usr, /etc, /bin,
  /lib* and the interpreter's prefix, a private /dev (null, zero, full, random, urandom), mount
  points for /proc, /dev/shm and /tmp; entered with ``pivot_root`` (old root detached).
* :func:`build_template` - that root built once in a helper's mount namespace, kept alive by an
  fd; :func:`enter_template` gives a job a private copy plus its own /proc, /dev/shm and /tmp.
* :func:`set_limits`, uid blocks (:func:`claim_uid_block`) and cgroup v1 memory/pids limits
  (:func:`find_cgroups`, :func:`cgroups_for`).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import platform
import resource
import shutil
import signal
import tempfile

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
JOB_NAMESPACES = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219, "riscv64": 219, "ppc64le": 271, "s390x": 280}
KEYCTL_JOIN_SESSION_KEYRING = 1
UID_BASE, UID_BLOCK = 2_000_000_000, 64  # per-run uids: unused by any account
libc = ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(s):
    return None if s is None else os.fsencode(s)


def mount(src, target, fstype, flags, data=None) -> None:
    check(libc.mount(_b(src), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)),
          f"mount {target}")


def prctl(option: int, value: int) -> None:
    check(libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl {option}")


def unshare(flags: int, what: str = "unshare") -> None:
    check(libc.unshare(flags), what)


def _mount_flags(path: str) -> int:
    """Flags of the mount holding ``path`` that a bind remount must keep (locked in userns)."""
    f = os.statvfs(path).f_flag
    keep = 0
    for st, ms in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
                   (os.ST_NOATIME, 1024), (os.ST_NODIRATIME, 2048), (os.ST_RELATIME, 1 << 21)):
        if f & st:
            keep |= ms
    return keep


# Top-level directories every job gets fresh (its own /tmp, /proc, /dev): a read-only path
# below one of them (a virtual environment under /tmp, say) is bound under RELOCATED instead.
SHADOWED = ("/tmp", "/proc", "/dev")
RELOCATED = "/.ro"


def inside_path(path: str) -> str:
    """Where the host path ``path`` (a read-only path of the plan) appears inside the sandbox."""
    path = os.path.realpath(path)
    if any(path == top or path.startswith(top + "/") for top in SHADOWED):
        return RELOCATED + path
    return path


def root_plan(prefix: str, extra=()) -> list[tuple[str, str, str]]:
    """(kind, path, target) entries for the sandbox root: system dirs, the interpreter's
    prefix and ``extra`` read-only paths not already covered. ``target`` is a link's target, or
    where a bind appears inside the sandbox (:func:`inside_path`)."""
    plan, binds = [], []
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr", "/etc"):
        if os.path.islink(top):
            plan.append(("link", top, os.readlink(top)))
        elif os.path.isdir(top):
            plan.append(("bind", top, top))
            binds.append(top)
    for path in (os.path.realpath(p) for p in [prefix, *extra]):
        if os.path.isdir(path) and not any(path == b or path.startswith(b + "/") for b in binds):
            plan.append(("bind", path, inside_path(path)))
            binds.append(path)
    return plan


def build_root(newroot: str, plan, uid: int, disk_mb: int, template: bool) -> None:
    """Build and enter a fresh root (caller: root in a new mount namespace).

    ``template``: only the shared read-only part; /proc, /dev/shm and /tmp stay empty mount points
    (each job mounts its own, see :func:`enter_template`). Otherwise the caller must be PID 1 of
    its own PID namespace and everything is mounted here.
    """
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", newroot, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for kind, src, target in plan:
        if kind == "link":
            os.symlink(target, newroot + src)
            continue
        dst = newroot + (target or src)
        os.makedirs(dst, exist_ok=True)
        mount(src, dst, None, MS_BIND | MS_REC)
        mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
              | _mount_flags(src))
    dev = newroot + "/dev"
    os.mkdir(dev)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    for node in ("null", "zero", "full", "random", "urandom"):
        open(f"{dev}/{node}", "w").close()
        mount(f"/dev/{node}", f"{dev}/{node}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    for d in (dev + "/shm", newroot + "/proc", newroot + "/tmp", newroot + "/.old"):
        os.mkdir(d)
    if not template:
        job_mounts(newroot, uid, disk_mb)
    check(libc.syscall(SYS_PIVOT_ROOT[platform.machine()], _b(newroot), _b(newroot + "/.old")),
          "pivot_root")
    os.chdir("/")
    check(libc.umount2(b"/.old", 2), "umount old root")
    os.rmdir("/.old")
    mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    mount(None, "/dev", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    os.chdir("/tmp")


def job_mounts(root: str, uid: int, disk_mb: int) -> None:
    """A job's own mounts: /proc of its PID namespace, a private /dev/shm and /tmp (work dir)."""
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("tmpfs", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
          f"size=16m,mode=1777,uid={uid},gid={uid}")
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={int(disk_mb)}m,mode=0700,uid={uid},gid={uid}")


def build_template(newroot: str, plan) -> int:
    """fd of a mount namespace holding the read-only root, built in a short-lived helper."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            unshare(CLONE_NEWNS)
            build_root(newroot, plan, 0, 1, template=True)
            os.write(w, b"k")
            while True:
                signal.pause()
        finally:
            os._exit(1)
    os.close(w)
    ok = os.read(r, 1)
    os.close(r)
    try:
        if ok != b"k":
            raise RuntimeError("could not build the sandbox root file system")
        return os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def enter_template(template_fd: int, uid: int, disk_mb: int) -> None:
    """Join the template root, then take a private copy of it with this job's own mounts."""
    check(libc.setns(template_fd, CLONE_NEWNS), "setns mnt")
    unshare(JOB_NAMESPACES)
    job_mounts("", uid, disk_mb)
    os.chdir("/tmp")


def new_pid_ns(pidns_fd: int) -> None:
    """Make this process's next child PID 1 of a fresh PID namespace (repeatable)."""
    check(libc.setns(pidns_fd, CLONE_NEWPID), "setns pid")
    unshare(CLONE_NEWPID, "unshare pid")


def own_pid_ns(pidns_fd: int) -> None:
    """Children forked from now on are in this process's own PID namespace again (for helper
    processes: after a job, the namespace ``new_pid_ns`` made may have no PID 1 left, and a
    fork into it fails with ENOMEM)."""
    check(libc.setns(pidns_fd, CLONE_NEWPID), "setns pid")


def become_pid1() -> None:
    """Move into a new PID namespace as its PID 1 (the original process waits and exits)."""
    unshare(CLONE_NEWPID, "unshare pid")
    pid = os.fork()
    if pid:
        os._exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))


def enter_userns() -> None:
    """A user namespace where the caller is root (maps only the caller's own uid and gid)."""
    uid, gid = os.getuid(), os.getgid()
    unshare(CLONE_NEWUSER, "unshare user")
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                       ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def set_limits(cfg: dict) -> None:
    mb = 1 << 20
    for res, value in ((resource.RLIMIT_AS, int(cfg["memory_mb"]) * mb),
                       (resource.RLIMIT_CPU, int(cfg["cpu_s"])),
                       (resource.RLIMIT_FSIZE, int(cfg["fsize_mb"] * mb)),
                       (resource.RLIMIT_NOFILE, int(cfg["nofile"])),
                       (resource.RLIMIT_NPROC, int(cfg["nproc"])),
                       (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (value, value))


def drop_privileges(uid: int) -> None:
    """Become ``uid`` (if nonzero) with a fresh session keyring; then no_new_privs,
    non-dumpable, die with the parent."""
    number = SYS_KEYCTL.get(platform.machine())
    if number is not None:  # do not inherit (and so possess) the caller's session keyring
        libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None)
    if uid:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_DUMPABLE, 0)  # /proc/self/mem, ptrace and process_vm_readv closed
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it


def claim_uid_block() -> tuple[int, list[int]]:
    """Lock a block of per-run uids for this zygote (flock, released when it exits)."""
    lock_dir = os.path.join(tempfile.gettempdir(), "rlenvs-sandbox-uids")
    os.makedirs(lock_dir, mode=0o700, exist_ok=True)
    for block in range(4096):
        fd = os.open(os.path.join(lock_dir, f"{block}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        first = UID_BASE + block * UID_BLOCK
        return fd, list(range(first + UID_BLOCK - 1, first - 1, -1))
    raise RuntimeError("no free sandbox uid block")


def find_cgroups() -> list[tuple[str, str]]:
    """Writable cgroup v1 ``memory``/``pids`` directories of this process, as (controller, dir)."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    found = []
    for controller in ("memory", "pids"):
        for line in lines:
            _, ctrls, path = line.split(":", 2)
            if controller in ctrls.split(","):
                base = f"/sys/fs/cgroup/{controller}{path.rstrip('/')}"
                probe = f"{base}/rlenvs-probe-{os.getpid()}"
                try:
                    os.mkdir(probe)
                    os.rmdir(probe)
                    found.append((controller, base))
                except OSError:
                    pass
    return found


_cgroup_limits: dict[str, bytes] = {}  # limit file -> the value this process last wrote there


def cgroups_for(bases, uid: int, cfg: dict) -> list[str]:
    """Per-uid cgroups (created once, reused) set to this job's limits. Only this (root)
    process writes their files, so a limit already in place is not written again; the OOM
    counter is reset for every job."""
    paths = []
    for controller, base in bases if uid else ():
        path = f"{base}/rlenvs-{os.getpid()}-{uid}"
        if not os.path.isdir(path):
            os.mkdir(path)
            for name in [k for k in _cgroup_limits if k.startswith(path + "/")]:
                del _cgroup_limits[name]
        if controller == "memory":
            settings = {"memory.limit_in_bytes": b"%d" % (int(cfg["memory_mb"] * 1.5) << 20),
                        "memory.failcnt": b"0"}
        else:
            settings = {"pids.max": b"%d" % int(cfg["nproc"])}
        for name, value in settings.items():
            file = f"{path}/{name}"
            if name != "memory.failcnt" and _cgroup_limits.get(file) == value:
                continue
            _cgroup_limits.pop(file, None)
            fd = os.open(file, os.O_WRONLY)
            try:
                os.write(fd, value)
            finally:
                os.close(fd)
            if name != "memory.failcnt":
                _cgroup_limits[file] = value
        paths.append(path)
    return paths


def remove_stale(bases) -> None:
    """Remove cgroups and scratch dirs left by zygotes that were killed (their pid is gone)."""
    def gone(pid: str) -> bool:
        return pid.isdigit() and not os.path.exists(f"/proc/{pid}")

    for _, base in bases:
        for name in os.listdir(base):
            parts = name.split("-")
            if name.startswith("rlenvs-") and len(parts) == 3 and gone(parts[1]):
                try:
                    os.rmdir(f"{base}/{name}")
                except OSError:
                    pass
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        parts = name.split("-")
        if name.startswith("rlenvs-sandbox-") and len(parts) == 4 and gone(parts[2]):
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)


def world_readable(path: str) -> bool:
    """Whether an unrelated uid can read ``path`` (every ancestor searchable by others)."""
    path = os.path.realpath(path)
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        p = "/".join(parts[:i]) or "/"
        try:
            mode = os.stat(p).st_mode
        except OSError:
            return False
        if not mode & 0o001 or (p == path and not mode & 0o004):
            return False
    return True


def remove_files_of(uid: int, dirs) -> None:
    """Remove what ``uid`` left directly in the shared scratch ``dirs`` (setuid mode)."""
    for d in dirs:
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass
