"""A running program's supervision: its limits before exec, its pid namespace's init, stopping and reaping it.

No Isolation logic here: callers say what mode they ran in.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import subprocess
import time
from pathlib import Path

FILE_MB = 16
NOFILE = 64
NPROC = 16
TAIL_CHARS = 4000


def limits(cpu_s: int, memory_mb: int, nproc: bool) -> None:
    """preexec_fn: runs in the child between fork and exec; keep it to syscalls."""
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * mb, memory_mb * mb))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_MB * mb, FILE_MB * mb))
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (NPROC, NPROC))


def tail(path: Path) -> str:
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - TAIL_CHARS))
        return f.read().decode("utf-8", errors="replace")


def namespace_init(info: int, limit_s: float) -> int | None:
    """A pidfd of the program, the init of its pid namespace, from bwrap's ``--info-fd`` (None: bwrap failed first)."""
    data = b""
    deadline = time.monotonic() + limit_s
    ready = select.poll()  # not select(): a Ray worker's descriptors run past FD_SETSIZE
    ready.register(info, select.POLLIN)
    while time.monotonic() < deadline and ready.poll(max(0.0, deadline - time.monotonic()) * 1000):
        chunk = os.read(info, 4096)
        if not chunk:
            break  # bwrap closes it once written
        data += chunk
    try:
        return os.pidfd_open(json.loads(data)["child-pid"])
    except (ValueError, KeyError, ProcessLookupError):
        return None


def stop(proc: subprocess.Popen[bytes], mode: str, init: int | None) -> None:
    """SIGKILL what is left of a run and reap it.

    With a pid namespace, the program is its init: kill it, and the launcher
    (bwrap, unshare) returns once it has reaped it, which the kernel allows
    only after emptying the namespace; so the next unit does not start while
    this one's processes still hold CPU or pids. Then kill the process group:
    in the modes without a pid namespace that takes stray children.
    """
    if init is not None:
        try:
            signal.pidfd_send_signal(init, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    elif mode == "ns+uid":
        try:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        except OSError:
            children = []  # already gone
        for child in children:  # unshare's child is the namespace's init
            try:
                os.kill(int(child), signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=10)  # unshare returns once the kernel has emptied the namespace
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone
    proc.wait()


def received(pipe: int) -> bytes:
    os.set_blocking(pipe, False)
    try:
        return os.read(pipe, 4096)
    except BlockingIOError:
        return b""  # a process of the run still holds the pipe open, and wrote nothing
