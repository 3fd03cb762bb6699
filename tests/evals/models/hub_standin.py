"""A Hugging Face Hub stand-in on 127.0.0.1: the endpoints ``huggingface_hub`` uses to look at and fetch a repo.

It serves files from local folders under one fixed commit per repo and records every
request, so a test can see which files a download asked for. A repo may be ``gated`` (its
card is public, its files need approval: 403 ``GatedRepo``) or ``private`` (to an anonymous
caller the hub answers 401 ``RepoNotFound``, the same as for a repo that does not exist).
Real Hub features it does not serve (xet storage, LFS pointers, tokens, pagination) are not
needed for small files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class HubRepo:
    files: dict[str, bytes]
    commit: str
    branch: str = "main"
    access: str = "public"  # public, gated or private


@dataclass
class HubStandIn:
    repos: dict[str, HubRepo] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)

    def add_repo(self, repo_id: str, files: dict[str, bytes], access: str = "public") -> HubRepo:
        digest = hashlib.sha1(repo_id.encode())
        for name in sorted(files):
            digest.update(name.encode() + hashlib.sha1(files[name]).digest())
        commit = digest.hexdigest()  # like git's: a function of the tree
        self.repos[repo_id] = repo = HubRepo(files, commit, access=access)
        return repo

    def add_folder(self, repo_id: str, folder: Path, extra: dict[str, bytes] | None = None) -> HubRepo:
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        return self.add_repo(repo_id, {**files, **(extra or {})})

    def fetched(self) -> set[str]:
        """Files whose bytes were downloaded (GET on resolve)."""
        return {
            path.split("/resolve/", 1)[1].split("/", 1)[1]
            for m, path in self.requests
            if m == "GET" and "/resolve/" in path
        }

    def app(self) -> Starlette:
        def repo_at(request: Request) -> HubRepo | None:
            repo = self.repos.get(f"{request.path_params['owner']}/{request.path_params['name']}")
            revision = request.path_params.get("revision", "main")
            return repo if repo is not None and revision in (repo.branch, repo.commit) else None

        def refused(request: Request) -> Response | None:
            """What an anonymous caller gets for a repo that is missing or private (or gated, for files)."""
            repo = self.repos.get(f"{request.path_params['owner']}/{request.path_params['name']}")
            if repo is None or repo.access == "private":
                return JSONResponse({"error": "Repository Not Found"}, 401, headers={"X-Error-Code": "RepoNotFound"})
            if repo.access == "gated" and "/resolve/" in request.url.path:
                return JSONResponse({"error": "Access restricted"}, 403, headers={"X-Error-Code": "GatedRepo"})
            return None

        async def record(request: Request) -> None:
            self.requests.append((request.method, request.url.path))

        async def info(request: Request) -> Response:
            await record(request)
            if (answer := refused(request)) is not None:
                return answer
            repo = repo_at(request)
            if repo is None:
                return JSONResponse({"error": "Revision Not Found"}, 404, headers={"X-Error-Code": "RevisionNotFound"})
            repo_id = f"{request.path_params['owner']}/{request.path_params['name']}"
            return JSONResponse(
                {
                    "id": repo_id,
                    "sha": repo.commit,
                    "private": repo.access == "private",
                    "gated": "manual" if repo.access == "gated" else False,
                    "siblings": [{"rfilename": f} for f in repo.files],
                }
            )

        async def tree(request: Request) -> Response:
            await record(request)
            if (answer := refused(request)) is not None:
                return answer
            repo = repo_at(request)
            if repo is None:
                return JSONResponse({"error": "Revision Not Found"}, 404, headers={"X-Error-Code": "RevisionNotFound"})
            entries = [
                {"type": "file", "path": f, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                for f, data in repo.files.items()
            ]
            return JSONResponse(entries)

        async def resolve(request: Request) -> Response:
            await record(request)
            if (answer := refused(request)) is not None:
                return answer
            repo = repo_at(request)
            data = repo.files.get(request.path_params["path"]) if repo else None
            if repo is None or data is None:
                return Response(status_code=404, headers={"X-Error-Code": "EntryNotFound"})
            headers = {
                "X-Repo-Commit": repo.commit,
                "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                "Content-Length": str(len(data)),
            }
            return Response(b"" if request.method == "HEAD" else data, headers=headers)

        base = "/{owner}/{name}"
        return Starlette(
            routes=[
                Route("/api/models" + base, info),
                Route("/api/models" + base + "/revision/{revision}", info),
                Route("/api/models" + base + "/tree/{revision}", tree),
                Route(base + "/resolve/{revision}/{path:path}", resolve, methods=["GET", "HEAD"]),
            ]
        )
