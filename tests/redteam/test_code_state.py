"""Red team, code verifier: state that outlives a run and system calls untrusted code never
needs (issue #13 item 4). Every run must start from nothing and leave nothing behind."""

from __future__ import annotations

import uuid

import pytest

from judges.code import run_python, run_tests
from tests.redteam.test_code_channel import CONTAINED, MODES

SYSCALL_PROBE = r"""
import ctypes, errno, os, platform
libc = ctypes.CDLL(None, use_errno=True)
X86 = platform.machine() == 'x86_64'
NR = dict(add_key=248, request_key=249, keyctl=250, ptrace=101, bpf=321, perf_event_open=298,
          userfaultfd=323, mount=165, unshare=272, setns=308, pivot_root=155, chroot=161,
          io_uring_setup=425, process_vm_readv=310, process_vm_writev=311, pidfd_getfd=438,
          kexec_load=246, init_module=175, open_by_handle_at=304, fsopen=430) if X86 else dict(
          add_key=217, request_key=218, keyctl=219, ptrace=117, bpf=280, perf_event_open=241,
          userfaultfd=282, mount=40, unshare=97, setns=268, pivot_root=41, chroot=51,
          io_uring_setup=425, process_vm_readv=270, process_vm_writev=271, pidfd_getfd=438,
          kexec_load=104, init_module=105, open_by_handle_at=265, fsopen=430)
ARGS = dict(add_key=(b'user', b'{marker}', b'payload', 7, ctypes.c_long(-3)),
            keyctl=(1, None), unshare=(0x10000000,), ptrace=(0, 0, 0, 0),
            bpf=(0, 0, 0), perf_event_open=(0, 0, -1, -1, 0), userfaultfd=(0,))
allowed = []
for name, nr in NR.items():
    ctypes.set_errno(0)
    rc = libc.syscall(nr, *ARGS.get(name, (0, 0, 0, 0, 0)))
    err = ctypes.get_errno()
    if rc >= 0 or err not in (errno.EPERM, errno.ENOSYS):
        allowed.append(f'{name}:{rc}:{errno.errorcode.get(err, err)}')
for flags in (0x10000000, 0x20000000, 0x40000000, 0x00020000):  # clone with namespace flags
    ctypes.set_errno(0)
    rc = libc.syscall(56 if X86 else 220, flags | 17, 0, 0, 0, 0)
    if rc == 0:
        os._exit(0)
    if rc > 0 or ctypes.get_errno() != errno.EPERM:
        allowed.append(f'clone:{hex(flags)}:{rc}')
print('ALLOWED', allowed)
"""


@pytest.mark.parametrize("mode", MODES)
def test_denied_system_calls(mode):
    marker = uuid.uuid4().hex
    r = run_python(SYSCALL_PROBE.replace("{marker}", marker), timeout_s=5, mode=mode)
    assert r.exit_code == 0, r.stderr
    assert "ALLOWED []" in r.stdout, r.stdout


@pytest.mark.parametrize("mode", CONTAINED)
def test_keyring_entries_do_not_outlive_a_run(mode):
    """Item 4: a key added by one run must not be visible to a later run."""
    marker = uuid.uuid4().hex
    plant = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "for ring in (-3, -4, -5, -2):\n"
        f"    libc.syscall(248, b'user', b'{marker}-%d' % -ring, b'x' * 64, 64,"
        " ctypes.c_long(ring))\n"
        "def add(a, b):\n    return a + b\n")
    run_tests(plant, ["assert add(1, 2) == 3"], timeout_s=5, mode=mode)
    look = "import os\ntry:\n    print(open('/proc/keys').read())\nexcept OSError as e:\n" \
           "    print('unreadable', e)\n"
    for _ in range(3):
        r = run_python(look, timeout_s=5, mode=mode)
        assert marker not in r.stdout
    with open("/proc/keys") as f:
        assert marker not in f.read()


@pytest.mark.parametrize("mode", CONTAINED)
def test_nothing_left_behind(mode):
    """Processes, scratch files and IPC objects of one run are gone for the next."""
    marker = uuid.uuid4().hex
    naptime = f"299.{int(marker[:8], 16)}"
    plant = (
        "import os, subprocess, ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"open('/tmp/{marker}', 'w').write('x')\n"
        "try:\n"
        f"    open('/dev/shm/{marker}', 'w').write('x')\n"
        "except OSError:\n    pass\n"
        "libc.shmget(0x5eed, 4096, 0o1666)\n"
        "libc.msgget(0x5eed, 0o1666)\n"
        f"subprocess.Popen(['sleep', '{naptime}'], start_new_session=True)\n"
        "def add(a, b):\n    return a + b\n")
    run_tests(plant, ["assert add(1, 2) == 3"], timeout_s=5, mode=mode)
    look = (f"import os\nprint('FILE', os.path.exists('/tmp/{marker}') or "
            f"os.path.exists('/dev/shm/{marker}'))\n"
            "print('IPC', [l.split()[0] for f in ('shm', 'msg') "
            "for l in open(f'/proc/sysvipc/{f}').read().splitlines()[1:] "
            "if int(l.split()[0]) == 0x5eed])\n"
            "def cmdline(p):\n    try:\n        return open(f'/proc/{p}/cmdline', 'rb').read()\n"
            "    except OSError:  # the process ended between listdir and open\n"
            "        return b''\n"
            "print('PROCS', [p for p in os.listdir('/proc') if p.isdigit() and "
            f"cmdline(p) == b'sleep\\x00{naptime}\\x00'])\n")
    r = run_python(look, timeout_s=5, mode=mode)
    assert "FILE False" in r.stdout and "IPC []" in r.stdout and "PROCS []" in r.stdout, \
        r.stdout + r.stderr
