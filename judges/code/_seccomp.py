"""Kernel-enforced limits on what a sandboxed job may ask of the kernel (stdlib + ctypes; Linux).

:func:`lock_down` runs in every job after its privileges are dropped and before anything
untrusted runs. It drops every capability (for jobs that still run as uid 0: the ``rlimits``
mode as root, ``userns``), then installs a seccomp filter, inherited by every thread and child
and impossible to remove, that answers ``EPERM`` to system calls untrusted test code never
needs: the kernel keyrings (state that would outlive the run), ``ptrace`` and cross-process
memory or descriptor access, ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring``,
mounts and new namespaces (``unshare``, ``setns``, ``clone`` with namespace flags; ``clone3``
answers ``ENOSYS`` so that the C library falls back to ``clone``), module and kexec loading.
With ``deny_ipc`` also System V IPC (modes without a private IPC namespace, where those
objects would outlive the run). Other architectures than x86_64/aarch64 get no filter
(``FILTERED`` is then False). :func:`spare` adds, in the program process of a tests job, a
filter that keeps it from signalling its test driver (a stopped driver would only make the
run wait for its timeout).
"""

from __future__ import annotations

import ctypes
import errno
import platform

_ARCH = {  # audit arch, then syscall numbers
    "x86_64": (0xC000003E, dict(
        clone=56, clone3=435, unshare=272, setns=308, mount=165, umount2=166, pivot_root=155,
        chroot=161, ptrace=101, process_vm_readv=310, process_vm_writev=311, pidfd_getfd=438,
        kcmp=312, add_key=248, request_key=249, keyctl=250, bpf=321, perf_event_open=298,
        userfaultfd=323, io_uring_setup=425, io_uring_enter=426, io_uring_register=427,
        kexec_load=246, kexec_file_load=320, init_module=175, finit_module=313,
        delete_module=176, open_by_handle_at=304, name_to_handle_at=303, fanotify_init=300,
        open_tree=428, move_mount=429, fsopen=430, fsconfig=431, fsmount=432, fspick=433,
        mount_setattr=442, swapon=167, swapoff=168, reboot=169, acct=163, quotactl=179,
        syslog=103, iopl=172, ioperm=173, shmget=29, semget=64, msgget=68)),
    "aarch64": (0xC00000B7, dict(
        clone=220, clone3=435, unshare=97, setns=268, mount=40, umount2=39, pivot_root=41,
        chroot=51, ptrace=117, process_vm_readv=270, process_vm_writev=271, pidfd_getfd=438,
        kcmp=272, add_key=217, request_key=218, keyctl=219, bpf=280, perf_event_open=241,
        userfaultfd=282, io_uring_setup=425, io_uring_enter=426, io_uring_register=427,
        kexec_load=104, kexec_file_load=294, init_module=105, finit_module=273,
        delete_module=106, open_by_handle_at=265, name_to_handle_at=264, fanotify_init=262,
        open_tree=428, move_mount=429, fsopen=430, fsconfig=431, fsmount=432, fspick=433,
        mount_setattr=442, swapon=224, swapoff=225, reboot=142, acct=89, quotactl=60,
        syslog=116, shmget=194, semget=190, msgget=186)),
}
# Signal-family calls whose first argument names the target process (or -1: every process).
_SIGNALS = {"x86_64": dict(kill=62, tkill=200, tgkill=234, rt_sigqueueinfo=129,
                           rt_tgsigqueueinfo=297, pidfd_open=434),
            "aarch64": dict(kill=129, tkill=130, tgkill=131, rt_sigqueueinfo=138,
                            rt_tgsigqueueinfo=240, pidfd_open=434)}
FILTERED = platform.machine() in _ARCH
_IPC = ("shmget", "semget", "msgget")
_NAMESPACE_FLAGS = 0x7E020080  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME
_LD, _JEQ, _JSET, _RET = 0x20, 0x15, 0x45, 0x06
_KILL, _ALLOW, _ERRNO = 0x80000000, 0x7FFF0000, 0x00050000
_X32_BIT = 0x40000000
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_CAP_AMBIENT = 24, 28, 47
_libc = ctypes.CDLL(None, use_errno=True)


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Insn))]


def program(deny_ipc: bool) -> list[tuple[int, int, int, int]]:
    """The BPF program as (code, jt, jf, k) instructions."""
    arch, nrs = _ARCH[platform.machine()]
    eperm = _ERRNO | errno.EPERM
    insns = [(_LD, 0, 0, 4), (_JEQ, 1, 0, arch), (_RET, 0, 0, _KILL), (_LD, 0, 0, 0)]
    if platform.machine() == "x86_64":  # the x32 ABI: same kernel entry, other numbers
        insns += [(_JSET, 0, 1, _X32_BIT), (_RET, 0, 0, eperm)]
    insns += [(_JEQ, 0, 1, nrs["clone3"]), (_RET, 0, 0, _ERRNO | errno.ENOSYS)]
    for name, nr in nrs.items():
        if name in ("clone", "clone3") or (name in _IPC and not deny_ipc):
            continue
        insns += [(_JEQ, 0, 1, nr), (_RET, 0, 0, eperm)]
    insns += [(_JEQ, 0, 3, nrs["clone"]), (_LD, 0, 0, 16), (_JSET, 0, 1, _NAMESPACE_FLAGS),
              (_RET, 0, 0, eperm), (_RET, 0, 0, _ALLOW)]
    return insns


def spare_program(pid: int) -> list[tuple[int, int, int, int]]:
    """BPF program: no signal (nor pidfd) to process ``pid`` or its group, nor to every
    process (-1)."""
    arch, _ = _ARCH[platform.machine()]
    eperm = _ERRNO | errno.EPERM
    targets = [pid, (-pid) & 0xFFFFFFFF, 0xFFFFFFFF]
    insns = [(_LD, 0, 0, 4), (_JEQ, 1, 0, arch), (_RET, 0, 0, _KILL), (_LD, 0, 0, 0)]
    for nr in _SIGNALS[platform.machine()].values():
        block = [(_LD, 0, 0, 16)]
        for value in targets:
            block += [(_JEQ, 0, 1, value), (_RET, 0, 0, eperm)]
        block.append((_RET, 0, 0, _ALLOW))
        insns += [(_JEQ, 0, len(block), nr), *block]
    return [*insns, (_RET, 0, 0, _ALLOW)]


def _compile(insns: list[tuple[int, int, int, int]]) -> tuple:
    """The kernel's ``sock_fprog`` for ``insns`` (with the array it points to, kept alive)."""
    arr = (_Insn * len(insns))(*[_Insn(*i) for i in insns])
    return _Prog(len(insns), ctypes.cast(arr, ctypes.POINTER(_Insn))), arr


# Filters compiled ahead (``prepare``, in the zygote): a job forked afterwards installs them
# without building them again. Keys: ("lock", deny_ipc) and ("spare", pid).
_COMPILED: dict = {}


def _filter(key: tuple) -> tuple:
    prog = _COMPILED.get(key)
    if prog is None:
        insns = program(key[1]) if key[0] == "lock" else spare_program(key[1])
        prog = _COMPILED[key] = _compile(insns)
    return prog


def prepare(driver_pids=()) -> None:
    """Compile the filters now (the zygote does, once): both :func:`lock_down` filters and
    the :func:`spare` filters for these driver pids (1 where a job has its own PID namespace)."""
    if FILTERED:
        for key in [("lock", False), ("lock", True), *[("spare", p) for p in driver_pids]]:
            _filter(key)


def _install(prog: tuple) -> None:
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog[0]), 0, 0),
           "seccomp filter")


def prctl(option: int, value: int) -> int:
    """``prctl(option, value, 0, 0, 0)`` through the module's C library handle."""
    return _libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0)


def spare(pid: int) -> None:
    """Install :func:`spare_program` (in the program process, for its test driver)."""
    if FILTERED:
        _install(_filter(("spare", pid)))


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {errno.errorcode.get(err, err)}")


def drop_capabilities() -> None:
    """Give up every capability for good (bounding, ambient, permitted, effective)."""
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0:
            if ctypes.get_errno() == errno.EINVAL:
                break
            _check(-1, "drop bounding capability")
    # SECBIT_NOROOT, NO_SETUID_FIXUP, KEEP_CAPS_LOCKED and their locks: uid 0 gains nothing back.
    _check(_libc.prctl(PR_SET_SECUREBITS, ctypes.c_ulong(0x2F), 0, 0, 0), "securebits")
    _libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(4), 0, 0, 0)  # clear all (may be unsupported)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.capset(header, data), "capset")


def lock_down(euid: int, deny_ipc: bool) -> None:
    """Drop capabilities (if uid 0) and install the filter (``no_new_privs`` must be set)."""
    if euid == 0:
        drop_capabilities()
    if not FILTERED:
        return
    _install(_filter(("lock", bool(deny_ipc))))
