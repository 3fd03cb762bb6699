"""The one "did you mean" of the project: every layer answers a mistyped name the same way."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# How alike a name must be to be offered (difflib's ratio): "codng" -> "coding", not "math".
CUTOFF = 0.6


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices``, or ``""``: append it to the error."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=CUTOFF)
    return f" (did you mean {close[0]!r}?)" if close else ""
