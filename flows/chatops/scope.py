"""Which files a PR may touch, and which of them are submissions to benchmark.

A submission PR adds new files under ``models/submissions/`` and nothing else: a PR that
also edits code, CI or an existing submission is refused, because a benchmark run executes
on our machines with our credentials and must not pick up changes nobody reviewed.

The scope is read pinned to one commit (:func:`pinned_scope`): the PR's head and base SHAs
are read once, and the file list comes from the compare API between those two SHAs, so a
force-push between the two calls cannot make the check see one commit and the run another.
A PR may change at most :data:`MAX_SUBMISSION_FILES` files, counted from the PR's own
``changed_files`` before any list or text is fetched (a bounded cost per delivery), and a
list that falls short of that count (GitHub caps its lists) is refused, not trusted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contracts.errors import UserError
from contracts.submission import SUBMISSIONS_DIR
from contracts.tables import GIT_SHA

if TYPE_CHECKING:
    from flows.chatops.github import GitHub

SUBMISSION_RE = re.compile(r"^models/submissions/[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.ya?ml$")
SHA_RE = re.compile(GIT_SHA)
# Files one PR may change. A submission PR adds one file per model; a few more is a batch. The
# count bounds the GitHub calls and the Submissions page rows one push can cause.
MAX_SUBMISSION_FILES = 10


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


class ScopeUnreadable(ScopeError):
    """GitHub's answer about the PR lacks what the check needs (a head, a base, a file count)."""


@dataclass(frozen=True)
class PinnedScope:
    """The submission files of a PR at one commit: what was checked is what runs and what merges."""

    head_sha: str
    base_sha: str
    paths: list[str]


def pinned_scope(github: GitHub, repo: str, pr: int, pull: dict[str, Any] | None = None) -> PinnedScope:
    """The PR's submission files at its head, listed between the base and head SHAs read once.

    ``pull`` is the PR as already read (``GitHub.pull``), to spare a call. Raises
    :class:`ScopeError` for a PR that changes too many files, whose list falls short of its
    ``changed_files``, or that changes anything but new submission files.
    """
    pull = github.pull(repo, pr) if pull is None else pull
    head = str((pull.get("head") or {}).get("sha", ""))
    base = str((pull.get("base") or {}).get("sha", ""))
    changed = pull.get("changed_files")
    if not SHA_RE.match(head) or not SHA_RE.match(base):
        raise ScopeUnreadable(f"PR #{pr} has no readable head or base commit")
    if not isinstance(changed, int) or isinstance(changed, bool) or changed < 0:
        raise ScopeUnreadable(f"GitHub did not say how many files PR #{pr} changes")
    if changed > MAX_SUBMISSION_FILES:
        raise ScopeError(
            f"this PR changes {changed:,} files; a submission PR adds at most {MAX_SUBMISSION_FILES} "
            f"submission files under `{SUBMISSIONS_DIR}`: split it into smaller PRs"
        )
    files = github.compare_files(repo, base, head)
    if len(files) < changed:
        raise ScopeError(
            f"GitHub listed {len(files)} of the {changed} files this PR changes; a PR whose changes "
            "cannot all be seen is not checked: make it smaller"
        )
    return PinnedScope(head, base, submission_files(files))
