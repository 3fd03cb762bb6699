"""The sandbox's isolation modes, strongest first: one definition for the sandbox and the runs table.

Kept in a module of its own, free of polars and pydantic, because a worker running as another
uid loads only the sandbox and the few modules it imports (tests/evals/sandbox/test_sandbox_isolation.py).
"""

from __future__ import annotations

from typing import Literal, get_args

SandboxMode = Literal["full", "ns+uid", "netns", "userns+netns", "none"]
SANDBOX_MODES: tuple[SandboxMode, ...] = get_args(SandboxMode)
