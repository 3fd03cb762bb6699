"""A local stand-in for the part of GitHub's REST API ChatOps uses, recording every call.

PRs are plain data (head SHA, changed files, file contents at commits); ``push`` moves a
PR's head like a new commit would (a force-push when it brings other files), and every
commit stays readable by its SHA, as on GitHub. ``failing[pr] = status`` makes every call
about that PR answer with that status (GitHub having a bad day), until it is removed.

As GitHub does: the PR carries ``changed_files`` and its ``base`` SHA; the compare API
(``base...head``) lists at most 300 files (``listing_caps[pr]`` lowers that cap for one PR);
the PR's file list pages stop at 3,000 files. ``on_pull_read[pr]`` runs once, right after the
PR itself was read: a push landing between two calls of the receiver.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

COMPARE_FILES_CAP = 300  # GitHub: "includes up to 300 changed files for the entire comparison"
PULL_FILES_CAP = 3000  # GitHub: the PR files list "is limited to 3000 files"
BASE_SHA = "b" * 40


def sha_of(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class PullRequest:
    number: int
    head_sha: str
    files: dict[str, str]  # path -> status (added, modified, ...)
    contents: dict[str, str]  # path -> text at head
    state: str = "open"
    merged: bool = False
    base_sha: str = BASE_SHA


@dataclass
class GitHubStandIn:
    repo: str = "slmbench/slmbench"
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    failing: dict[int, int] = field(default_factory=dict)
    listing_caps: dict[int, int] = field(default_factory=dict)
    on_pull_read: dict[int, Callable[[], object]] = field(default_factory=dict)
    # every commit ever pushed: sha -> (PR number, path -> status, path -> text)
    commits: dict[str, tuple[int, dict[str, str], dict[str, str]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_pull(self, number: int, contents: dict[str, str], statuses: dict[str, str] | None = None) -> PullRequest:
        statuses = statuses or {}
        pull = PullRequest(
            number,
            sha_of(f"{number}:{sorted(contents.items())}"),
            {p: statuses.get(p, "added") for p in contents},
            dict(contents),
        )
        self.pulls[number] = pull
        self.commits[pull.head_sha] = (number, pull.files, pull.contents)
        return pull

    def push(self, number: int, contents: dict[str, str] | None = None, statuses: dict[str, str] | None = None) -> str:
        """A new head; with ``contents``, one whose changes are those files (a force-push rewriting the PR)."""
        pull = self.pulls[number]
        pull.head_sha = sha_of(pull.head_sha + "+")
        if contents is not None:
            pull.files = {p: (statuses or {}).get(p, "added") for p in contents}
            pull.contents = dict(contents)
        self.commits[pull.head_sha] = (number, pull.files, pull.contents)
        return pull.head_sha

    def comments(self, number: int) -> list[str]:
        return [
            c["json"]["body"]
            for c in self.calls
            if c["method"] == "POST" and c["path"].endswith(f"/issues/{number}/comments")
        ]

    def app(self) -> Starlette:
        prefix = f"/repos/{self.repo}"

        async def record(request: Request) -> dict[str, Any]:
            body = await request.body()
            call = {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "json": (await request.json()) if body else None,
                "auth": request.headers.get("authorization"),
            }
            with self.lock:
                self.calls.append(call)
            return call

        def pull_of(request: Request) -> PullRequest | None:
            return self.pulls.get(int(request.path_params["number"]))

        async def pull(request: Request) -> Response:
            await record(request)
            pr = pull_of(request)
            if status := self.failing.get(int(request.path_params["number"])):
                return JSONResponse({"message": "Server Error" if status >= 500 else "Not Found"}, status)
            if pr is None:
                return JSONResponse({"message": "Not Found"}, 404)
            answer = {
                "number": pr.number,
                "state": pr.state,
                "merged": pr.merged,
                "head": {"sha": pr.head_sha},
                "base": {"sha": pr.base_sha},
                "changed_files": len(pr.files),
            }
            if hook := self.on_pull_read.pop(pr.number, None):
                hook()
            return JSONResponse(answer)

        async def files(request: Request) -> Response:
            await record(request)
            pr = pull_of(request)
            if pr is None:
                return JSONResponse({"message": "Not Found"}, 404)
            page, per_page = int(request.query_params.get("page", 1)), int(request.query_params.get("per_page", 30))
            rows = [{"filename": p, "status": s} for p, s in sorted(pr.files.items())][:PULL_FILES_CAP]
            return JSONResponse(rows[(page - 1) * per_page : page * per_page])

        async def compare(request: Request) -> Response:
            await record(request)
            base, dots, head = request.path_params["basehead"].partition("...")
            commit = self.commits.get(head)
            if not dots or commit is None or not base:
                return JSONResponse({"message": "Not Found"}, 404)
            number, changes, _ = commit
            if status := self.failing.get(number):
                return JSONResponse({"message": "Server Error" if status >= 500 else "Not Found"}, status)
            cap = min(COMPARE_FILES_CAP, self.listing_caps.get(number, COMPARE_FILES_CAP))
            rows = [{"filename": p, "status": s} for p, s in sorted(changes.items())][:cap]
            return JSONResponse({"status": "ahead", "files": rows, "commits": [{"sha": head}]})

        async def contents(request: Request) -> Response:
            await record(request)
            path, ref = request.path_params["path"], request.query_params.get("ref")
            commit = self.commits.get(str(ref))
            if commit is not None and path in commit[2]:
                return PlainTextResponse(commit[2][path])
            return JSONResponse({"message": "Not Found"}, 404)

        async def comment(request: Request) -> Response:
            call = await record(request)
            return JSONResponse({"id": len(self.calls), "body": call["json"]["body"]}, 201)

        async def merge(request: Request) -> Response:
            call = await record(request)
            pr = pull_of(request)
            if pr is None:
                return JSONResponse({"message": "Not Found"}, 404)
            if call["json"].get("sha") != pr.head_sha:
                return JSONResponse({"message": "Head branch was modified"}, 409)
            pr.state, pr.merged = "closed", True
            return JSONResponse({"merged": True, "sha": sha_of(pr.head_sha + "merge")})

        return Starlette(
            routes=[
                Route(prefix + "/pulls/{number:int}", pull, methods=["GET"]),
                Route(prefix + "/pulls/{number:int}/files", files, methods=["GET"]),
                Route(prefix + "/pulls/{number:int}/merge", merge, methods=["PUT"]),
                Route(prefix + "/compare/{basehead:str}", compare, methods=["GET"]),
                Route(prefix + "/contents/{path:path}", contents, methods=["GET"]),
                Route(prefix + "/issues/{number:int}/comments", comment, methods=["POST"]),
            ]
        )
