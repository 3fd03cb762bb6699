"""Which files a PR may touch, and which of them are submissions to benchmark.

A submission PR adds new files under ``models/submissions/`` and nothing else: a PR that
also edits code, CI or an existing submission is refused, because a benchmark run executes
on our machines with our credentials and must not pick up changes nobody reviewed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from contracts.errors import UserError
from contracts.submission import SUBMISSIONS_DIR

SUBMISSION_RE = re.compile(r"^models/submissions/[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.ya?ml$")


class ScopeError(UserError):
    """The PR changes something a submission PR may not change."""


def submission_files(files: Sequence[dict[str, Any]]) -> list[str]:
    """The submission files the PR adds; raises :class:`ScopeError` listing every other change."""
    problems, added = [], []
    for change in files:
        path, status = str(change.get("filename", "")), str(change.get("status", ""))
        if not path.startswith(SUBMISSIONS_DIR):
            problems.append(f"`{path}` is outside `{SUBMISSIONS_DIR}`")
        elif status != "added":
            problems.append(f"`{path}` is {status}; a submission PR only adds new files")
        elif not SUBMISSION_RE.match(path):
            problems.append(f"`{path}` is not a submission file (`{SUBMISSIONS_DIR}<id>.yaml`, no subfolders)")
        else:
            added.append(path)
        if change.get("previous_filename"):
            problems.append(f"`{change['previous_filename']}` is renamed; a submission PR only adds new files")
    if problems:
        raise ScopeError("this PR changes more than new submission files:\n" + "\n".join(f"- {p}" for p in problems))
    if not added:
        raise ScopeError(f"this PR adds no submission file under `{SUBMISSIONS_DIR}`")
    return sorted(added)
