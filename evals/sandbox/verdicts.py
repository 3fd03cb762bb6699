"""What a sandboxed run came to: passed, failed, timed out or a sandbox error, and why, in one line.

A program passes only when the bootstrap saw it reach its end (evals/sandbox/bootstrap.py) and it exited 0.
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from contracts.isolation import SandboxMode

Status = Literal["passed", "failed", "timeout", "error"]
SETUP_FAILED = 125  # the bootstrap could not confine itself: the sandbox's error, not the program's


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
    isolation: SandboxMode | None = None

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


def verdict(code: int, timed_out: bool, reached_end: bool, stderr: str, timeout_s: float) -> tuple[Status, str]:
    killed_by = -code if code < 0 else 0
    if timed_out:
        return "timeout", f"ran past the {timeout_s:g} s wall-clock limit"
    if killed_by == signal.SIGXCPU:
        return "timeout", "used up its CPU time limit"
    if reached_end and code == 0:
        return "passed", ""
    last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if (code == SETUP_FAILED and stderr.startswith("sandbox: ")) or (code == 1 and stderr.startswith("bwrap: ")):
        return "error", f"the sandbox could not start the program: {last}"
    if code == 0:
        return "failed", "ended before the tests finished: exit status 0 without reaching the program's end"
    if killed_by:
        return "failed", f"killed by {signal.Signals(killed_by).name} before the tests finished"
    return "failed", f"exit status {code} before the tests finished" + (f": {last}" if last else "")
