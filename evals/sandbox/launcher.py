"""The one place that executes model-generated code.

``run_python(program)`` runs a Python program in a separate, limited process
and reports what happened as data (``SandboxResult``); it never raises for
anything the program does. It raises ``IsolationError`` (a ``UserError``)
before running anything when this host isolates programs less than the
operator accepts: ``full`` unless ``SLMBENCH_SANDBOX_MIN_ISOLATION`` names a
weaker mode (below).

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
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from contracts.isolation import SandboxMode
from evals.sandbox import supervision
from evals.sandbox.probe import PATH, Isolation, require_isolation
from evals.sandbox.verdicts import SandboxResult, verdict

# Which programs pass is decided in this package: its code digest is part of every code unit's
# cache key (evals.provenance.engine_digest), so a change to the rule reruns those units.
BOOTSTRAP = (Path(__file__).parent / "bootstrap.py").read_text(encoding="utf-8")
_UID_BASE = 2_000_000_000  # far above login users and the usual subuid ranges
_UID_SPAN = 100_000_000
PROBE_PROGRAM = (
    "import json, subprocess, sys\nassert sys.version_info >= (3, 8)\n"  # not frozen: the stdlib is readable
)
_UNSHARE_ARGS: dict[SandboxMode, tuple[str, ...]] = {
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
    nproc_inside = (
        supervision.NPROC if iso.mode == "full" else 0
    )  # the user namespace counts this run's processes alone
    boot = [iso.python, "-I", "-S", "-B", "-c", BOOTSTRAP, str(work), str(uid if confine else -1)]
    boot += ["1" if confine else "0", "1" if audit_hook else "0", str(pipe), str(nproc_inside)]
    if iso.mode == "full":
        assert iso.launcher is not None
        layout = ["--bind", str(work), str(work), "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", str(work)]
        return [iso.launcher, *_BWRAP_ARGS, *_root_links(), *layout, "--info-fd", str(info), "--", *boot]
    if iso.launcher is None:
        return boot
    return [iso.launcher, *_UNSHARE_ARGS[iso.mode], *boot]


def run_python(program: str, *, timeout_s: float = 5.0, memory_mb: int = 512, audit_hook: bool = True) -> SandboxResult:
    """Run ``program`` (Python source) in the sandbox and report the outcome.

    ``audit_hook=False`` leaves out the in-process hook; it exists only for the
    tests that prove the OS-level limits contain a hostile program on their own.
    """
    if timeout_s <= 0:
        raise ValueError(f"run_python: timeout_s must be > 0, got {timeout_s}")
    if memory_mb < 64:
        raise ValueError(f"run_python: memory_mb must be >= 64 (the interpreter needs ~30 MB), got {memory_mb}")
    return execute(require_isolation(), program, timeout_s=timeout_s, memory_mb=memory_mb, audit_hook=audit_hook)


def execute(iso: Isolation, program: str, *, timeout_s: float, memory_mb: int, audit_hook: bool) -> SandboxResult:
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
        env = {"PATH": PATH, "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8"}
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
                    preexec_fn=functools.partial(supervision.limits, int(timeout_s) + 1, memory_mb, iso.mode != "full"),
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
                init = supervision.namespace_init(info_pipe, timeout_s)
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
                supervision.stop(proc, iso.mode, init)
        stderr = supervision.tail(logs / "err")
        code = proc.returncode
        if iso.mode == "full" and code > 128:
            code = 128 - code  # bwrap reports a program killed by signal n as status 128 + n; Popen says -n
        status, reason = verdict(code, timed_out, supervision.received(ends_pipe) == token, stderr, timeout_s)
        own = uid if uid >= 0 else None
        duration = time.monotonic() - start
        return SandboxResult(
            status == "passed", status, supervision.tail(logs / "out"), stderr, duration, code, own, reason, iso.mode
        )
    finally:
        for fd in (ends_pipe, signal_pipe, info_pipe, bwrap_info, -1 if init is None else init):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(logs, ignore_errors=True)
