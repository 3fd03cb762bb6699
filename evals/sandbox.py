"""The one place that executes model-generated code.

``run_python(program)`` runs a Python program in a separate, limited process
and reports what happened as data (``SandboxResult``); it never raises for
anything the program does.

What every run gets, on any Linux host:

- a fresh interpreter started with ``-I -S -B`` (isolated mode: no
  ``PYTHON*`` variables, no user or site packages, no cwd on ``sys.path``,
  no ``.pyc`` writes), with an environment of ``PATH``, ``HOME``, ``TMPDIR``
  and ``LANG`` only: nothing of the parent's environment (tokens, keys) leaks;
- its own empty temporary directory as cwd, ``HOME`` and ``TMPDIR``, deleted
  afterwards;
- ``setrlimit`` before exec: CPU time (``timeout_s`` + 1 s), address space
  (``memory_mb``), file size (``_FILE_MB``, which also caps stdout/stderr),
  open files, no core dumps, and process count (``_NPROC``; the kernel
  enforces it only for a non-root uid, see below);
- a wall-clock timeout that SIGKILLs the run's whole process group (it is a
  session leader), so children it forked die with it;
- stdin closed, stdout/stderr captured to files and reported as tails;
- an audit hook, installed before the program runs and impossible to remove
  from Python code, that refuses sockets, subprocesses, ``os.system``/``exec``
  /``fork``/``spawn``/``kill`` and ``ctypes``. It is defence in depth, not a
  boundary (a C extension could bypass it): the limits above and below are.

Isolation depends on the host, probed once per process (``isolation()``,
strongest first):

- ``full`` (root, ``unshare`` with net, mount and pid namespaces works, and
  an interpreter any uid can execute): the program runs

  * in a new, empty **network namespace** (only a down loopback: no
    connection to anything, not even 127.0.0.1);
  * in a new **pid namespace** whose init is the program itself, with its
    own ``/proc``: it sees no host process, and when it ends (or is killed)
    the kernel kills every process left in the namespace, so nothing it
    spawned outlives the run, even one that called ``setsid``;
  * in a private **mount namespace** where every mount is remounted
    read-only except its own directory: it cannot write or delete anything
    elsewhere (``/tmp``, ``/dev/shm`` and the checkout included);
  * as a **fresh uid/gid** of its own (random, in ``_UID_BASE`` + [0, 10^8)),
    no supplementary groups, no capabilities: root-only files stay
    unreadable, and ``RLIMIT_NPROC`` counts only this run's processes, so a
    fork bomb stops at ``_NPROC`` without touching other runs' budget.

  The interpreter must be one any uid can execute: ours when it can, else the
  system ``python3`` (stdlib only; programs need no packages). This is what
  this project's machines give (``/usr/bin/python3``; the project's Python
  lives under ``/root``).
- ``netns`` (root, but no interpreter another uid can run, or mounts are
  refused): the empty network namespace, as root: file permissions, the
  read-only filesystem and the process limit do not hold.
- ``userns+netns`` (not root, unprivileged user namespaces allowed):
  ``unshare --map-root-user --net``: an empty network namespace, same uid
  outside; the rest of the filesystem is as writable as for the caller.
- ``none`` (no ``unshare`` works): no network isolation; the audit hook is
  all that refuses sockets. ``isolation().mode`` says so, so a caller can
  refuse to run.

Not covered anywhere: memory other than address space (no cgroup is used, so
page cache and kernel memory are not capped), disk use beyond the file-size
limit per file (many 16 MB files can fill the temp dir's filesystem until the
wall clock stops the run), and CPU share (a run competes with the host's other
processes; its CPU *time* is capped).
"""

from __future__ import annotations

import functools
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Status = Literal["passed", "failed", "timeout", "error"]
Mode = Literal["full", "netns", "userns+netns", "none"]

_FILE_MB = 16
_NOFILE = 64
_NPROC = 16  # per uid, and each full-mode run has a uid of its own
_TAIL_CHARS = 4000
_UID_BASE = 2_000_000_000  # far above login users and the usual subuid ranges
_UID_SPAN = 100_000_000
_PATH = "/usr/bin:/bin"
_SETUP_FAILED = 125  # the bootstrap could not confine itself: the sandbox's error, not the program's

# Runs first in the child. In full mode it is root inside fresh mount and pid
# namespaces: it remounts everything read-only but its own directory, then
# drops to the run's uid (which drops every capability), and only then runs
# the program. Audit hooks cannot be removed once added; the events are
# CPython's documented audit events (ctypes ones too, since ctypes was
# imported here and stays in sys.modules).
_BOOTSTRAP = """\
import os, sys
_work, _uid, _confine = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
if _confine:
    import ctypes
    _libc = ctypes.CDLL(None, use_errno=True)
    _BIND, _REMOUNT, _RDONLY = 4096, 32, 1
    _KEEP = {"nosuid": 2, "nodev": 4, "noexec": 8, "noatime": 1024, "nodiratime": 2048, "relatime": 2097152}
    if _libc.mount(_work.encode(), _work.encode(), None, _BIND, None) != 0:
        sys.stderr.write("sandbox: cannot bind the work dir\\n"); os._exit(125)
    for _line in open("/proc/self/mountinfo").read().splitlines():
        _fields = _line.split()
        _point = _fields[4].encode().decode("unicode_escape")
        if _point == _work:
            continue
        _flags = _BIND | _REMOUNT | _RDONLY | sum(_KEEP.get(o, 0) for o in _fields[5].split(","))
        if _libc.mount(b"none", _point.encode(), None, _flags, None) != 0 and _point == "/":
            sys.stderr.write("sandbox: cannot make / read-only\\n"); os._exit(125)
    del _libc, _line, _fields, _point, _flags
if _uid >= 0:
    os.setgroups([])
    os.setgid(_uid)
    os.setuid(_uid)
os.chdir(_work)
def _deny(event, args, _blocked=frozenset({
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto",
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "os.kill", "os.killpg", "pty.spawn", "ctypes.dlopen", "ctypes.dlsym",
    "ctypes.cdata", "ctypes.call_function", "ctypes.addressof",
})):
    if event in _blocked:
        raise PermissionError(f"sandbox: {event} is not allowed")
if sys.argv[4] == "1":
    sys.addaudithook(_deny)
del _deny, _work, _uid, _confine
sys.argv = ["main.py"]
_source = open("main.py", encoding="utf-8").read()
exec(compile(_source, "main.py", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
"""


@dataclass(frozen=True)
class SandboxResult:
    """What one run did. ``status``: passed (exit 0), failed (the program raised or
    exited non-zero, including MemoryError and being killed by a limit other than
    time), timeout (wall clock or CPU limit), error (the sandbox itself could not run it)."""

    passed: bool
    status: Status
    stdout: str
    stderr: str
    duration_s: float
    returncode: int | None
    uid: int | None = None  # the run's own uid in full mode (a test can check that none of its processes remain)


@dataclass(frozen=True)
class Isolation:
    """How runs are isolated on this host (see the module docstring)."""

    mode: Mode
    prefix: tuple[str, ...]  # the command that enters the namespaces, before the interpreter
    python: str  # the interpreter the program runs on

    @property
    def own_uid(self) -> bool:
        """True when each run gets a uid of its own (and the read-only filesystem)."""
        return self.mode == "full"


def _works(argv: list[str]) -> bool:
    try:
        probe = subprocess.run(argv, capture_output=True, timeout=20, env={"PATH": _PATH}, cwd="/")
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _probe_full(prefix: tuple[str, ...], python: str) -> bool:
    """Run the real bootstrap on a trivial program: namespaces, read-only remounts and the uid drop."""
    work = Path(tempfile.mkdtemp(prefix="slmb-sandbox-probe-"))
    try:
        # json and subprocess are not frozen modules: importing them proves the stdlib is readable
        (work / "main.py").write_text("import json, subprocess, sys\nsys.exit(sys.version_info < (3, 8))\n")
        uid = _UID_BASE
        os.chown(work, uid, uid)
        return _works([*prefix, python, "-I", "-S", "-B", "-c", _BOOTSTRAP, str(work), str(uid), "1", "1"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


@functools.cache
def isolation() -> Isolation:
    """Probe the strongest isolation this host allows, once per process."""
    unshare = shutil.which("unshare", path=_PATH)
    # stdlib-only programs run on any Python 3.8+ (audit hooks). Ours may sit in a
    # folder other uids cannot enter (a pyenv under /root), so the system one is a fallback.
    pythons = [sys.executable] + [p for p in (shutil.which("python3", path=_PATH),) if p and p != sys.executable]
    check = ["-I", "-S", "-c", "import sys; sys.exit(sys.version_info < (3, 8))"]
    if unshare is not None and os.geteuid() == 0:
        full = (
            unshare,
            "--net",
            "--mount",
            "--propagation",
            "private",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
        )
        for python in pythons:
            if _probe_full(full, python):
                return Isolation("full", full, python)
        if _works([unshare, "--net", sys.executable, *check]):
            return Isolation("netns", (unshare, "--net"), sys.executable)
    if unshare is not None and _works([unshare, "--map-root-user", "--net", sys.executable, *check]):
        return Isolation("userns+netns", (unshare, "--map-root-user", "--net"), sys.executable)
    return Isolation("none", (), sys.executable)


def _limits(cpu_s: int, memory_mb: int) -> None:
    """preexec_fn: runs in the child between fork and exec; keep it to syscalls."""
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * mb, memory_mb * mb))
    resource.setrlimit(resource.RLIMIT_FSIZE, (_FILE_MB * mb, _FILE_MB * mb))
    resource.setrlimit(resource.RLIMIT_NOFILE, (_NOFILE, _NOFILE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (_NPROC, _NPROC))


def _tail(path: Path) -> str:
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - _TAIL_CHARS))
        return f.read().decode("utf-8", errors="replace")


def _wait_for_exit(uid: int, limit_s: float = 5.0) -> None:
    """Wait until no process of ``uid`` is left.

    Killing ``unshare`` from outside returns before the kernel has finished
    tearing down the run's pid namespace; the next unit should not start while
    the last one's processes still hold CPU or pids.
    """
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        alive = False
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    if entry.stat().st_uid == uid:
                        alive = True
                        break
                except FileNotFoundError:
                    continue  # it ended while we looked
        if not alive:
            return
        time.sleep(0.005)


def run_python(program: str, *, timeout_s: float = 5.0, memory_mb: int = 512, audit_hook: bool = True) -> SandboxResult:
    """Run ``program`` (Python source) in the sandbox and report the outcome.

    ``audit_hook=False`` leaves out the in-process hook; it exists only for the
    tests that prove the OS-level limits contain a hostile program on their own.
    """
    if timeout_s <= 0:
        raise ValueError(f"run_python: timeout_s must be > 0, got {timeout_s}")
    if memory_mb < 64:
        raise ValueError(f"run_python: memory_mb must be >= 64 (the interpreter needs ~30 MB), got {memory_mb}")
    iso = isolation()
    uid = _UID_BASE + secrets.randbelow(_UID_SPAN) if iso.own_uid else -1
    work = Path(tempfile.mkdtemp(prefix="slmb-sandbox-"))
    logs = Path(tempfile.mkdtemp(prefix="slmb-sandbox-logs-"))  # out of the program's reach
    start = time.monotonic()
    try:
        (work / "main.py").write_text(program, encoding="utf-8")
        if uid >= 0:
            os.chown(work, uid, uid)
            os.chown(work / "main.py", uid, uid)
        env = {"PATH": _PATH, "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8"}
        flags = ("1" if iso.own_uid else "0", "1" if audit_hook else "0")
        argv = [*iso.prefix, iso.python, "-I", "-S", "-B", "-c", _BOOTSTRAP, str(work), str(uid), *flags]
        cpu_s = int(timeout_s) + 1
        with (logs / "out").open("wb") as out, (logs / "err").open("wb") as err:
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=work,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    close_fds=True,
                    preexec_fn=functools.partial(_limits, cpu_s, memory_mb),
                )
            except OSError as exc:
                return SandboxResult(False, "error", "", f"sandbox could not start: {exc}", 0.0, None)
            timed_out = False
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                # kill the group even after a normal exit: it takes stray children with it
                # (in full mode the pid namespace already has: its init is gone)
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass  # the group is already gone
                proc.wait()
                if timed_out and uid >= 0:
                    _wait_for_exit(uid)
        duration = time.monotonic() - start
        code = proc.returncode
        stderr = _tail(logs / "err")
        if timed_out or code == -signal.SIGXCPU:
            status: Status = "timeout"
        elif code == 0:
            status = "passed"
        elif code == _SETUP_FAILED and stderr.startswith("sandbox: "):
            status = "error"
        else:
            status = "failed"
        own = uid if uid >= 0 else None
        return SandboxResult(status == "passed", status, _tail(logs / "out"), stderr, duration, code, own)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(logs, ignore_errors=True)
