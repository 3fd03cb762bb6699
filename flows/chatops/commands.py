"""The two PR-comment commands, parsed strictly.

    /test-benchmark [--limit N] [--suite S]
    /push-results

A comment that does not start with ``/`` is conversation, not a command. One that does
must be exactly one command on one line; anything else (an unknown name, an unknown or
repeated option, a missing or malformed value, trailing text) is refused with the reason,
because a half-understood command that starts a GPU run is worse than none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from contracts.errors import UserError
from contracts.names import did_you_mean

TEST_BENCHMARK = "/test-benchmark"
PUSH_RESULTS = "/push-results"
COMMANDS = (TEST_BENCHMARK, PUSH_RESULTS)
MAX_LIMIT = 100_000
# Suite names only: the CLI also takes a suite YAML path, which a comment must not reach.
SUITE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
MAX_COMMENT_CHARS = 200


class CommandError(UserError):
    """The comment looks like a command but is not a valid one."""


@dataclass(frozen=True)
class Command:
    name: Literal["/test-benchmark", "/push-results"]
    limit: int | None = None
    suite: str = "offline"

    def __str__(self) -> str:
        if self.name == PUSH_RESULTS:
            return self.name
        limit = f" --limit {self.limit}" if self.limit is not None else ""
        return f"{self.name}{limit} --suite {self.suite}"


def parse_command(body: str) -> Command | None:
    """The command in a comment, ``None`` for an ordinary comment; raises :class:`CommandError`."""
    text = body.strip()
    if not text.startswith("/"):
        return None
    if len(text) > MAX_COMMENT_CHARS or "\n" in text or "\r" in text:
        raise CommandError("a command must be alone in its comment, on one line")
    name, *args = text.split()
    if name == PUSH_RESULTS:
        if args:
            raise CommandError(f"{PUSH_RESULTS} takes no arguments, got {' '.join(args)!r}")
        return Command(PUSH_RESULTS)
    if name != TEST_BENCHMARK:
        raise CommandError(f"unknown command {name!r}{did_you_mean(name, COMMANDS)}; known: {', '.join(COMMANDS)}")
    return _test_benchmark(args)


def _test_benchmark(args: list[str]) -> Command:
    options: dict[str, str] = {}
    rest = list(args)
    while rest:
        flag = rest.pop(0)
        if flag not in ("--limit", "--suite"):
            raise CommandError(
                f"{TEST_BENCHMARK}: unknown option {flag!r}; usage: {TEST_BENCHMARK} [--limit N] [--suite S]"
            )
        if flag in options:
            raise CommandError(f"{TEST_BENCHMARK}: {flag} given twice")
        if not rest or rest[0].startswith("--"):
            raise CommandError(f"{TEST_BENCHMARK}: {flag} needs a value")
        options[flag] = rest.pop(0)
    limit = options.get("--limit")
    if limit is not None and not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= MAX_LIMIT):
        raise CommandError(f"{TEST_BENCHMARK}: --limit must be a whole number from 1 to {MAX_LIMIT}, got {limit!r}")
    suite = options.get("--suite", "offline")
    if not SUITE_RE.match(suite):
        raise CommandError(
            f"{TEST_BENCHMARK}: --suite must be a suite name (lowercase letters, digits, - or _), got {suite!r}"
        )
    return Command(TEST_BENCHMARK, limit=int(limit) if limit is not None else None, suite=suite)
