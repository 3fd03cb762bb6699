"""How this host isolates programs: the strongest mode that runs the real bootstrap, probed once per process.

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
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from dataclasses import dataclass

from contracts.errors import UserError
from contracts.isolation import SANDBOX_MODES, SandboxMode

ISOLATION_ENV = "SLMBENCH_SANDBOX_ISOLATION"
MIN_ISOLATION_ENV = "SLMBENCH_SANDBOX_MIN_ISOLATION"
PATH = "/usr/bin:/bin"


class IsolationError(UserError):
    """The host cannot isolate code as the operator asked (or a sandbox setting is wrong)."""


@dataclass(frozen=True)
class Isolation:
    """How runs are isolated on this host (see the module docstring)."""

    mode: SandboxMode
    launcher: str | None  # bwrap or unshare; None in mode none
    python: str  # the interpreter the program runs on
    own_uid: bool  # each run gets a uid of its own
    weaker_because: str = ""  # what the probes of the stronger modes answered


def isolation() -> Isolation:
    """The strongest isolation this host allows (or the one ``SLMBENCH_SANDBOX_ISOLATION`` names), probed once."""
    forced = os.environ.get(ISOLATION_ENV) or None
    if forced is not None and forced not in SANDBOX_MODES:
        raise IsolationError(f"{ISOLATION_ENV}={forced!r} is not a sandbox mode; use one of {', '.join(SANDBOX_MODES)}")
    return _probe(forced)


def require_isolation() -> Isolation:
    """This host's isolation, or ``IsolationError`` when it is weaker than ``SLMBENCH_SANDBOX_MIN_ISOLATION`` allows."""
    minimum = os.environ.get(MIN_ISOLATION_ENV) or "full"
    if minimum not in SANDBOX_MODES:
        raise IsolationError(
            f"{MIN_ISOLATION_ENV}={minimum!r} is not a sandbox mode; use one of {', '.join(SANDBOX_MODES)} (strongest first)"
        )
    iso = isolation()
    if SANDBOX_MODES.index(iso.mode) > SANDBOX_MODES.index(minimum):
        why = f" ({iso.weaker_because})" if iso.weaker_because else ""
        raise IsolationError(
            f"code tasks run generated programs only with {minimum!r} sandbox isolation, and this host gives "
            f"{iso.mode!r}{why}. For full isolation install bubblewrap (apt-get install bubblewrap) on a host that "
            f"allows unprivileged user namespaces (docs/operations.md says what a container needs); to accept "
            f"{iso.mode!r} on purpose, set {MIN_ISOLATION_ENV}={iso.mode}."
        )
    return iso


@functools.cache
def _probe(forced: SandboxMode | None) -> Isolation:
    from evals.sandbox.launcher import PROBE_PROGRAM, execute  # it runs the real bootstrap

    refusals: list[str] = []
    for mode in SANDBOX_MODES if forced is None else (forced,):
        found = _candidates(mode)
        if isinstance(found, str):
            refusals.append(f"{mode}: {found}")
            continue
        for candidate in found:
            result = execute(candidate, PROBE_PROGRAM, timeout_s=20.0, memory_mb=512, audit_hook=True)
            if result.passed:
                why = f"chosen by {ISOLATION_ENV}={forced}" if forced else "; ".join(refusals)
                return Isolation(candidate.mode, candidate.launcher, candidate.python, candidate.own_uid, why)
            said = result.stderr.strip().splitlines()
            refusals.append(f"{mode} with {candidate.python}: {said[-1] if said else result.reason}")
    if forced is not None:
        raise IsolationError(f"{ISOLATION_ENV}={forced}: this host cannot give that isolation ({'; '.join(refusals)})")
    raise IsolationError(f"no sandbox mode runs a program on this host: {'; '.join(refusals)}")


def _candidates(mode: SandboxMode) -> list[Isolation] | str:
    """What to try for ``mode`` on this host, or why it cannot be had."""
    root = os.geteuid() == 0
    if mode == "none":
        return [Isolation("none", None, sys.executable, False)]
    if mode == "full":
        bwrap = shutil.which("bwrap", path=PATH)
        if bwrap is None:
            return "bubblewrap (bwrap) is not installed"
        # only /usr is mounted in its root: an interpreter from elsewhere (a pyenv under /root) is not there
        pythons = [p for p in dict.fromkeys([sys.executable, shutil.which("python3", path=PATH)]) if p]
        pythons = [p for p in pythons if os.path.realpath(p).startswith("/usr/")]
        if not pythons:
            return "no Python interpreter under /usr (install python3)"
        return [Isolation("full", bwrap, p, root) for p in pythons]
    unshare = shutil.which("unshare", path=PATH)
    if unshare is None:
        return "util-linux unshare is not installed"
    if mode == "userns+netns":
        return [Isolation(mode, unshare, sys.executable, False)]
    if not root:
        return "needs root"
    if mode == "netns":
        return [Isolation(mode, unshare, sys.executable, False)]
    # ns+uid: ours may sit in a folder other uids cannot enter (a pyenv under /root); the system one is a fallback
    pythons = [p for p in dict.fromkeys([sys.executable, shutil.which("python3", path=PATH)]) if p]
    return [Isolation(mode, unshare, p, True) for p in pythons]
