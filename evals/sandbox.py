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
  open files, no core dumps, and process count (``_NPROC``; not enforced
  while the run's uid is root, see below);
- a wall-clock timeout that SIGKILLs the run's whole process group (it is a
  session leader), so children it forked die with it;
- stdin closed, stdout/stderr captured to files and reported as tails;
- an audit hook, installed before the program runs and impossible to remove
  from Python code, that refuses sockets, subprocesses, ``os.system``/``exec``
  /``fork``/``spawn``/``kill`` and ``ctypes``. It is defence in depth, not a
  boundary (a C extension could bypass it): the limits above and below are.

Network isolation and privileges depend on the host, probed once per
process (``isolation()``, strongest first):

- ``netns+nobody`` (running as root, ``unshare --net`` works): the program
  runs in a new, empty network namespace (only a down loopback: no connection
  to anything, not even 127.0.0.1) as uid/gid 65534 (nobody) with no
  supplementary groups, so it cannot read root-only files and the process
  limit applies. The interpreter must be one nobody can execute: ours when it
  can, else the system ``python3`` (stdlib only; programs need no packages).
  This is what this project's machines give (there, ``/usr/bin/python3``,
  since the project's Python lives under ``/root``).
- ``netns`` (root, but no interpreter nobody can run): the empty network
  namespace, as root: file permissions and the process limit do not hold.
- ``userns+netns`` (not root, unprivileged user namespaces allowed):
  ``unshare --map-root-user --net``: an empty network namespace, same uid
  outside.
- ``none`` (no ``unshare`` works): no network isolation; the audit hook is
  all that refuses sockets. ``isolation().mode`` says so, so a caller can
  refuse to run.
"""

from __future__ import annotations

import functools
import os
import resource
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

_FILE_MB = 16
_NOFILE = 64
_NPROC = 32  # per uid: concurrent sandboxes share "nobody", so leave room for them
_TAIL_CHARS = 4000
_NOBODY = 65534
_PATH = "/usr/bin:/bin"

# Runs before the program, in the child. Audit hooks cannot be removed once
# added; the events are CPython's documented audit events.
_BOOTSTRAP = """\
import sys
def _deny(event, args, _blocked=frozenset({
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto",
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "os.kill", "os.killpg", "pty.spawn", "ctypes.dlopen", "ctypes.cdata",
})):
    if event in _blocked:
        raise PermissionError(f"sandbox: {event} is not allowed")
sys.addaudithook(_deny)
del _deny
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


@dataclass(frozen=True)
class Isolation:
    """How runs are isolated on this host (see the module docstring)."""

    mode: Literal["netns+nobody", "netns", "userns+netns", "none"]
    prefix: tuple[str, ...]  # the command that enters the namespace, before the interpreter
    python: str  # the interpreter the program runs on


def _works(argv: list[str]) -> bool:
    try:
        probe = subprocess.run(argv, capture_output=True, timeout=20, env={"PATH": _PATH}, cwd="/")
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@functools.cache
def isolation() -> Isolation:
    """Probe the strongest isolation this host allows, once per process."""
    unshare = shutil.which("unshare", path=_PATH)
    # stdlib-only programs run on any Python 3.8+ (audit hooks). Ours may sit in a
    # folder "nobody" cannot enter (a pyenv under /root), so the system one is a fallback.
    pythons = [sys.executable] + [p for p in (shutil.which("python3", path=_PATH),) if p and p != sys.executable]
    check = ["-I", "-S", "-c", "import sys; sys.exit(sys.version_info < (3, 8))"]
    if unshare is not None and os.geteuid() == 0:
        prefix = (unshare, "--net", "--setgid", str(_NOBODY), "--setuid", str(_NOBODY))
        for python in pythons:
            if _works([*prefix, python, *check]):
                return Isolation("netns+nobody", prefix, python)
        if _works([unshare, "--net", sys.executable, *check]):
            return Isolation("netns", (unshare, "--net"), sys.executable)
    if unshare is not None and _works([unshare, "--map-root-user", "--net", sys.executable, *check]):
        return Isolation("userns+netns", (unshare, "--map-root-user", "--net"), sys.executable)
    return Isolation("none", (), sys.executable)


def _limits(cpu_s: int, memory_mb: int, drop_groups: bool) -> None:
    """preexec_fn: runs in the child between fork and exec; keep it to syscalls."""
    if drop_groups:
        os.setgroups([])
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


def run_python(program: str, *, timeout_s: float = 5.0, memory_mb: int = 512) -> SandboxResult:
    """Run ``program`` (Python source) in the sandbox and report the outcome."""
    if timeout_s <= 0:
        raise ValueError(f"run_python: timeout_s must be > 0, got {timeout_s}")
    if memory_mb < 64:
        raise ValueError(f"run_python: memory_mb must be >= 64 (the interpreter needs ~30 MB), got {memory_mb}")
    iso = isolation()
    as_nobody = iso.mode == "netns+nobody"
    work = Path(tempfile.mkdtemp(prefix="slmb-sandbox-"))
    logs = Path(tempfile.mkdtemp(prefix="slmb-sandbox-logs-"))  # out of the program's reach
    start = time.monotonic()
    try:
        (work / "main.py").write_text(program, encoding="utf-8")
        if as_nobody:
            os.chown(work, _NOBODY, _NOBODY)
            os.chown(work / "main.py", _NOBODY, _NOBODY)
        env = {"PATH": _PATH, "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8"}
        argv = [*iso.prefix, iso.python, "-I", "-S", "-B", "-c", _BOOTSTRAP]
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
                    preexec_fn=functools.partial(_limits, cpu_s, memory_mb, as_nobody),
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
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass  # the group is already gone
                proc.wait()
        duration = time.monotonic() - start
        code = proc.returncode
        if timed_out or code == -signal.SIGXCPU:
            status: Status = "timeout"
        elif code == 0:
            status = "passed"
        else:
            status = "failed"
        return SandboxResult(status == "passed", status, _tail(logs / "out"), _tail(logs / "err"), duration, code)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(logs, ignore_errors=True)
