"""A small GitHub REST client: the few calls ChatOps makes, token from the environment.

Synchronous on purpose: the receiver runs each delivery's handling in a worker thread and
the reporting hooks run inside flow runs, so one plain client serves both.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx

from contracts.errors import UserError

RETRY_STATUSES = {502, 503, 504}


class GitHubError(UserError):
    """GitHub answered with an error (or not at all); ``status`` is 0 when it could not be reached."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class GitHub:
    def __init__(self, base_url: str, token: str | None, timeout: float = 10.0, retries: int = 3) -> None:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "slmbench-chatops",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self._retries = retries

    def close(self) -> None:
        self._client.close()

    def pull(self, repo: str, number: int) -> dict[str, Any]:
        return self._request("GET", f"/repos/{repo}/pulls/{number}").json()

    def compare_files(self, repo: str, base: str, head: str) -> list[dict[str, Any]]:
        """The files changed between two commits (``base...head``, from their merge base), as the PR shows them.

        Pinned to the two SHAs, so a push to the PR meanwhile changes nothing in the answer. GitHub
        lists at most 300 files here (on the first page only): callers compare the count with the
        PR's ``changed_files`` and refuse a list that falls short.
        """
        return list(self._request("GET", f"/repos/{repo}/compare/{base}...{head}").json().get("files") or [])

    def file_text(self, repo: str, path: str, ref: str) -> str:
        """A file's content at a commit (the raw media type: no base64 round trip)."""
        response = self._request(
            "GET",
            f"/repos/{repo}/contents/{quote(path)}",
            params={"ref": ref},
            headers={"Accept": "application/vnd.github.raw"},
        )
        return response.text

    def comment(self, repo: str, number: int, body: str) -> dict[str, Any]:
        return self._request("POST", f"/repos/{repo}/issues/{number}/comments", json={"body": body}).json()

    def merge(self, repo: str, number: int, sha: str, title: str) -> dict[str, Any]:
        """Merge only if the head is still ``sha`` (GitHub answers 409 otherwise)."""
        body = {"sha": sha, "merge_method": "squash", "commit_title": title}
        return self._request("PUT", f"/repos/{repo}/pulls/{number}/merge", json=body).json()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self._retries):
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt + 1 == self._retries:
                    raise GitHubError(f"GitHub unreachable ({method} {url}): {exc}") from None
            else:
                if response.status_code not in RETRY_STATUSES or attempt + 1 == self._retries:
                    break
            time.sleep(0.5 * 2**attempt)  # transient: back off before the next try
        if response.status_code >= 400:
            raise GitHubError(
                f"GitHub {method} {url}: {response.status_code} {response.text[:200]}", response.status_code
            )
        return response
