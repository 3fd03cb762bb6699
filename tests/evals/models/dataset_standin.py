"""A Hugging Face Hub stand-in for dataset repos on 127.0.0.1: what ``datasets`` and ``huggingface_hub`` ask for.

It serves a folder laid out as hub dataset repos (``<root>/<owner>/<name>/...``, as
``evals.catalog.hub_datasets`` writes it; any folder placed there is served the same
way), each under one commit that is a function of its files. The requests
``datasets.load_dataset_builder(...).download_and_prepare()`` makes through ``HF_ENDPOINT``
(datasets 5.2, huggingface_hub 2.4; every request is recorded, and
``tests/evals/catalog/test_task_data.py`` prints them with ``-s``) are, per config:

1. ``HEAD`` then ``GET /datasets/<repo>/resolve/main/README.md``: the card, whose YAML header
   lists the configs and their files; the ``X-Repo-Commit`` header says which commit ``main`` is;
2. ``HEAD /datasets/<repo>/resolve/<commit>/<name>.py``: a loading script (404: none, as datasets
   5 no longer runs them);
3. ``GET /api/datasets/<repo>/revision/<commit>``: the repo's info (``sha``, ``siblings``);
4. ``HEAD .../resolve/<commit>/.huggingface.yaml`` and ``.../dataset_infos.json``: optional
   metadata (404: none);
5. ``GET /api/datasets/<repo>/tree/<commit>/<config folder>?recursive=false&expand=false``: the
   files of the config's folder, to expand its ``data_files`` patterns;
6. ``HEAD`` then ``GET .../resolve/<commit>/<file>``: each parquet file of each split.

With ``HF_DATASETS_OFFLINE=1`` and a warm cache, none. ``POST /api/datasets/<repo>/paths-info/<rev>``
(what ``HfFileSystem`` asks for one path) and the recursive tree are served too, for patterns
that need them; any other request is recorded and answered 404.

A repo may be ``gated``: its info is public, its files need a token (``Authorization:
Bearer ...``) the stand-in accepts (any of ``tokens``), else 401 ``GatedRepo`` as the hub
answers an anonymous caller. Unknown repos answer 404 ``RepoNotFound``; an unknown path
404 ``EntryNotFound``. Real Hub features it does not serve: xet storage, LFS pointers,
pagination past one page (small repos fit).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

EPOCH = "2026-01-01T00:00:00.000Z"


@dataclass
class DatasetRepo:
    folder: Path
    commit: str
    gated: bool = False

    def files(self) -> dict[str, Path]:
        return {p.relative_to(self.folder).as_posix(): p for p in sorted(self.folder.rglob("*")) if p.is_file()}


def tree_commit(repo_id: str, folder: Path) -> str:
    """Like git's: a function of the tree (names and bytes), so new data is a new commit."""
    digest = hashlib.sha1(repo_id.encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + hashlib.sha1(path.read_bytes()).digest())
    return digest.hexdigest()


def git_oid(data: bytes) -> str:
    """A file's id as git (and the hub) names a blob."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class DatasetHubStandIn:
    root: Path
    gated: frozenset[str] = frozenset()
    tokens: frozenset[str] = frozenset({"hf_standin_token"})
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query)

    def repo(self, repo_id: str) -> DatasetRepo | None:
        folder = self.root / repo_id
        if not folder.is_dir() or not repo_id.count("/") == 1:
            return None
        return DatasetRepo(folder, tree_commit(repo_id, folder), repo_id in self.gated)

    def commit(self, repo_id: str) -> str:
        repo = self.repo(repo_id)
        if repo is None:
            raise KeyError(repo_id)
        return repo.commit

    def app(self) -> Starlette:
        def located(request: Request) -> tuple[DatasetRepo | None, Response | None]:
            repo_id = f"{request.path_params['owner']}/{request.path_params['name']}"
            repo = self.repo(repo_id)
            if repo is None:
                return None, JSONResponse(
                    {"error": "Repository not found"}, 404, headers={"X-Error-Code": "RepoNotFound"}
                )
            revision = request.path_params.get("revision", "main")
            if revision not in ("main", repo.commit):
                return None, JSONResponse(
                    {"error": f"Invalid rev id: {revision}"}, 404, headers={"X-Error-Code": "RevisionNotFound"}
                )
            return repo, None

        def authorized(request: Request, repo: DatasetRepo) -> Response | None:
            if not repo.gated:
                return None
            token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if token in self.tokens:
                return None
            return JSONResponse(
                {"error": "Access to this dataset is restricted. You must have access to it and be authenticated."},
                401,
                headers={"X-Error-Code": "GatedRepo", "X-Error-Message": "Access restricted"},
            )

        def record(request: Request) -> None:
            query = f"?{request.url.query}" if request.url.query else ""
            self.requests.append((request.method, request.url.path + query))

        async def info(request: Request) -> Response:
            record(request)
            repo, refused = located(request)
            if repo is None:
                return refused  # type: ignore[return-value]
            repo_id = f"{request.path_params['owner']}/{request.path_params['name']}"
            return JSONResponse(
                {
                    "_id": repo.commit[:24],
                    "id": repo_id,
                    "author": repo_id.split("/")[0],
                    "sha": repo.commit,
                    "lastModified": EPOCH,
                    "private": False,
                    "gated": "manual" if repo.gated else False,
                    "disabled": False,
                    "tags": [],
                    "downloads": 0,
                    "likes": 0,
                    "cardData": {},
                    "siblings": [{"rfilename": name} for name in repo.files()],
                    "createdAt": EPOCH,
                }
            )

        def entry(name: str, path: Path) -> dict[str, object]:
            data = path.read_bytes()
            return {
                "type": "file",
                "oid": git_oid(data),
                "size": len(data),
                "path": name,
                "lastCommit": {"id": "", "title": "", "date": EPOCH},
            }

        def listing(repo: DatasetRepo, under: str, recursive: bool) -> list[dict[str, object]]:
            prefix = f"{under.strip('/')}/" if under.strip("/") else ""
            out: list[dict[str, object]] = []
            folders: set[str] = set()
            for name, path in repo.files().items():
                if not name.startswith(prefix):
                    continue
                rest = name[len(prefix) :].split("/")
                for depth in range(1, len(rest)):  # the folders on the way, once each
                    folder = prefix + "/".join(rest[:depth])
                    if (recursive or depth == 1) and folder not in folders:
                        folders.add(folder)
                        out.append(
                            {
                                "type": "directory",
                                "oid": hashlib.sha1(folder.encode()).hexdigest(),
                                "size": 0,
                                "path": folder,
                            }
                        )
                if recursive or len(rest) == 1:
                    out.append(entry(name, path))
            return out

        async def tree(request: Request) -> Response:
            record(request)
            repo, refused = located(request)
            if repo is None:
                return refused  # type: ignore[return-value]
            under = request.path_params.get("path", "")
            recursive = request.query_params.get("recursive", "false").lower() in ("1", "true")
            items = listing(repo, under, recursive)
            if under and not items:
                return JSONResponse({"error": "Entry not found"}, 404, headers={"X-Error-Code": "EntryNotFound"})
            return JSONResponse(items)

        async def paths_info(request: Request) -> Response:
            record(request)
            repo, refused = located(request)
            if repo is None:
                return refused  # type: ignore[return-value]
            form = await request.form()
            wanted = form.getlist("paths") if form else []
            if not wanted:
                body = await request.json()
                wanted = body.get("paths", [])
            files = repo.files()
            out: list[dict[str, object]] = []
            for name in wanted:
                name = str(name).strip("/")
                if name in files:
                    out.append(entry(name, files[name]))
                elif any(f.startswith(name + "/") for f in files):
                    out.append(
                        {"type": "directory", "oid": hashlib.sha1(name.encode()).hexdigest(), "size": 0, "path": name}
                    )
            return JSONResponse(out)

        async def resolve(request: Request) -> Response:
            record(request)
            repo, refused = located(request)
            if repo is None:
                return refused  # type: ignore[return-value]
            if (denied := authorized(request, repo)) is not None:
                return denied
            path = repo.files().get(request.path_params["path"])
            if path is None:
                return Response(status_code=404, headers={"X-Error-Code": "EntryNotFound"})
            data = path.read_bytes()
            headers = {
                "X-Repo-Commit": repo.commit,
                "ETag": f'"{git_oid(data)}"',
                "Content-Length": str(len(data)),
            }
            return Response(b"" if request.method == "HEAD" else data, headers=headers)

        async def unknown(request: Request) -> Response:
            record(request)  # a request this stand-in does not serve: recorded, so a test sees it
            return JSONResponse({"error": "not served by the stand-in"}, 404)

        base = "/{owner}/{name}"
        return Starlette(
            routes=[
                Route("/api/datasets" + base, info),
                Route("/api/datasets" + base + "/revision/{revision}", info),
                Route("/api/datasets" + base + "/tree/{revision}", tree),
                Route("/api/datasets" + base + "/tree/{revision}/{path:path}", tree),
                Route("/api/datasets" + base + "/paths-info/{revision}", paths_info, methods=["POST"]),
                Route("/datasets" + base + "/resolve/{revision}/{path:path}", resolve, methods=["GET", "HEAD"]),
                Route("/{rest:path}", unknown, methods=["GET", "HEAD", "POST"]),
            ]
        )
