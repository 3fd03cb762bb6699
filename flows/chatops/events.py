"""GitHub deliveries as typed events: what happened, on which PR, by whom.

Only the fields ChatOps acts on are read; a signed payload that lacks one of them is
malformed (400), while a well-formed event we do not act on is :class:`Ignored` (2xx).

Each event we act on has a ``replay_key`` made of signed fields only (the comment id and its
``updated_at``; the PR, action, head and ``updated_at``). ``X-GitHub-Delivery`` is not covered by
the signature, so a captured body re-sent under a new delivery id must still be recognized.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.errors import UserError
from flows.chatops.config import REPO_RE

# GitHub's author_association values that may run commands (others need SLMBENCH_MAINTAINERS).
TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
PR_VALIDATE_ACTIONS = frozenset({"opened", "synchronize", "reopened"})


class PayloadError(UserError):
    """A signed delivery without a field its event must have."""


@dataclass(frozen=True)
class PullRequestComment:
    repo: str
    pr: int
    author: str
    association: str
    body: str
    comment_id: int
    updated_at: str = ""

    @property
    def replay_key(self) -> str:
        return f"comment:{self.repo}:{self.comment_id}:{self.updated_at}"


@dataclass(frozen=True)
class PullRequestChanged:
    repo: str
    pr: int
    head_sha: str
    action: str
    updated_at: str = ""

    @property
    def replay_key(self) -> str:
        return f"pull_request:{self.repo}#{self.pr}:{self.action}:{self.head_sha}:{self.updated_at}"


@dataclass(frozen=True)
class Ignored:
    reason: str


Event = PullRequestComment | PullRequestChanged | Ignored


def read_event(name: str, payload: dict[str, Any]) -> Event:
    if name == "ping":
        return Ignored("ping")
    if name == "issue_comment":
        return _comment(payload)
    if name == "pull_request":
        return _pull_request(payload)
    return Ignored(f"event {name!r} is not handled")


def _comment(payload: dict[str, Any]) -> Event:
    action = _field(payload, "action", str)
    issue = _field(payload, "issue", dict)
    if "pull_request" not in issue:
        return Ignored("comment on an issue, not a pull request")
    if action != "created":  # an edited comment must not re-run a command
        return Ignored(f"comment {action}")
    comment = _field(payload, "comment", dict)
    return PullRequestComment(
        repo=_repo(payload),
        pr=_field(issue, "number", int),
        author=_field(_field(comment, "user", dict), "login", str),
        association=_field(comment, "author_association", str),
        body=_field(comment, "body", str),
        comment_id=_field(comment, "id", int),
        updated_at=_optional(comment, "updated_at"),
    )


def _pull_request(payload: dict[str, Any]) -> Event:
    action = _field(payload, "action", str)
    if action not in PR_VALIDATE_ACTIONS:
        return Ignored(f"pull_request {action}")
    pull = _field(payload, "pull_request", dict)
    return PullRequestChanged(
        repo=_repo(payload),
        pr=_field(pull, "number", int),
        head_sha=_field(_field(pull, "head", dict), "sha", str),
        action=action,
        updated_at=_optional(pull, "updated_at"),
    )


def _repo(payload: dict[str, Any]) -> str:
    """``owner/name`` as GitHub spells them: the name goes into API paths, so nothing else passes."""
    full_name = _field(_field(payload, "repository", dict), "full_name", str)
    if not REPO_RE.match(full_name):
        raise PayloadError("payload field 'full_name' is not a repository name (owner/name)")
    return full_name


def _optional(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _field(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise PayloadError(f"payload field {key!r} missing or not {kind.__name__}")
    return value
