"""ChatOps settings, read once from the environment (the receiver, the served flows and the hooks).

Secrets never have defaults: a receiver without ``SLMBENCH_WEBHOOK_SECRET`` refuses to start
rather than accept unsigned deliveries, and one that does not know which repositories it
serves (``SLMBENCH_GITHUB_REPOS``, else ``SLMBENCH_GITHUB_REPO``) refuses to start rather
than act on deliveries from any repository the webhook's app is installed on. The receiver is offline by default: it asks the hub
whether a PR's model can be downloaded only when hub access was turned on explicitly
(``HF_HUB_OFFLINE=0``, the same switch as for hub runs; ``HF_ENDPOINT`` for a mirror).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from contracts.errors import UserError
from evals import paths

# GitHub sends at most 25 MB, but the events we act on are a few KiB: a small cap
# keeps a flood of large bodies from tying up memory before the signature is checked.
DEFAULT_MAX_BODY = 1024 * 1024
# GitHub sends a delivery's headers and body at once; a client that trickles them holds a
# connection (and a file descriptor) open, so each has a deadline and their number a cap.
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 1000
# Checks (a push's validation, a command) one PR may cause per hour: each costs a few GitHub API
# calls, and the bot's token has 5,000 an hour for every PR together.
DEFAULT_PR_CHECKS_PER_HOUR = 30
# GitHub's rules: an owner is 1-39 letters, digits or hyphens; a repository name 1-100 of these, not . or ..
REPO_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$")
BENCHMARK_DEPLOYMENT = "benchmark-submission/benchmark-submission"
PUBLISH_DEPLOYMENT = "publish-results/publish-results"
SITE_DEPLOYMENT = "build-site/build-site"


class ConfigError(UserError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class ChatOpsConfig:
    webhook_secret: bytes
    github_token: str | None = None
    github_api_url: str = "https://api.github.com"
    maintainers: frozenset[str] = field(default_factory=frozenset)
    max_body_bytes: int = DEFAULT_MAX_BODY
    warehouse: str = paths.WAREHOUSE
    results_url: str | None = None  # base URL where run folders are browsable; else the local path is shown
    state_dir: Path = field(default_factory=lambda: paths.home() / "chatops")
    benchmark_deployment: str = BENCHMARK_DEPLOYMENT
    publish_deployment: str = PUBLISH_DEPLOYMENT
    hub_check: bool = False  # the PR check confirms each model is publicly on the hub
    hub_endpoint: str = "https://huggingface.co"
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    repos: frozenset[str] = field(default_factory=frozenset)  # owner/name, lowercase: the repositories served
    pr_checks_per_hour: int = DEFAULT_PR_CHECKS_PER_HOUR

    def serves(self, repo: str) -> bool:
        return repo.lower() in self.repos

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, require_secret: bool = True) -> ChatOpsConfig:
        env = dict(os.environ if env is None else env)
        secret = env.get("SLMBENCH_WEBHOOK_SECRET", "")
        if require_secret and not secret:
            raise ConfigError("SLMBENCH_WEBHOOK_SECRET is not set; set it to the secret of the GitHub webhook")
        max_body = env.get("SLMBENCH_WEBHOOK_MAX_BODY", str(DEFAULT_MAX_BODY))
        if not max_body.isdigit() or int(max_body) < 1024:
            raise ConfigError(f"SLMBENCH_WEBHOOK_MAX_BODY must be a byte count >= 1024, got {max_body!r}")
        maintainers = {m.strip().lower() for m in env.get("SLMBENCH_MAINTAINERS", "").split(",") if m.strip()}
        repos = _repos(env.get("SLMBENCH_GITHUB_REPOS") or env.get("SLMBENCH_GITHUB_REPO") or "")
        if require_secret and not repos:
            raise ConfigError(
                "SLMBENCH_GITHUB_REPO is not set; set it to the owner/name of the repository whose "
                "pull requests this receiver serves (SLMBENCH_GITHUB_REPOS for several, comma-separated)"
            )
        return cls(
            webhook_secret=secret.encode(),
            github_token=env.get("SLMBENCH_GITHUB_TOKEN") or env.get("GITHUB_TOKEN") or None,
            github_api_url=env.get("SLMBENCH_GITHUB_API_URL", "https://api.github.com").rstrip("/"),
            maintainers=frozenset(maintainers),
            max_body_bytes=int(max_body),
            warehouse=env.get("SLMBENCH_WAREHOUSE", paths.WAREHOUSE),
            results_url=env.get("SLMBENCH_RESULTS_URL") or None,
            state_dir=Path(env["SLMBENCH_CHATOPS_DIR"])
            if env.get("SLMBENCH_CHATOPS_DIR")
            else paths.home() / "chatops",
            benchmark_deployment=env.get("SLMBENCH_BENCHMARK_DEPLOYMENT", BENCHMARK_DEPLOYMENT),
            publish_deployment=env.get("SLMBENCH_PUBLISH_DEPLOYMENT", PUBLISH_DEPLOYMENT),
            hub_check=env.get("HF_HUB_OFFLINE", "1").strip().lower() in ("0", "false", "no", "off"),
            hub_endpoint=(env.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/"),
            header_timeout_s=_number(env, "SLMBENCH_WEBHOOK_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT, 0.1),
            body_timeout_s=_number(env, "SLMBENCH_WEBHOOK_BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT, 0.1),
            max_connections=int(_number(env, "SLMBENCH_WEBHOOK_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, 16)),
            repos=repos,
            pr_checks_per_hour=int(_number(env, "SLMBENCH_PR_CHECKS_PER_HOUR", DEFAULT_PR_CHECKS_PER_HOUR, 1)),
        )


def _repos(text: str) -> frozenset[str]:
    repos = [r.strip() for r in text.split(",") if r.strip()]
    if bad := [r for r in repos if not REPO_RE.match(r)]:
        raise ConfigError(f"SLMBENCH_GITHUB_REPO(S): {bad[0]!r} is not a repository; write it as owner/name")
    return frozenset(r.lower() for r in repos)


def _number(env: dict[str, str], name: str, default: float, minimum: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not minimum <= value <= 1e6:  # also false for nan
        raise ConfigError(f"{name} must be a number from {minimum:g} to 1e6, got {text!r}")
    return value
