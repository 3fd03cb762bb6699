"""Where SLM Bench keeps what it builds and caches on disk.

Everything lives under one home folder so a clean clone stays clean and a
user can move it (``SLMBENCH_HOME``). None of it is committed.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The root of built fixtures, caches and runs: ``$SLMBENCH_HOME`` or ``./.slmbench``."""
    return Path(os.environ.get("SLMBENCH_HOME") or Path.cwd() / ".slmbench").resolve()


def fixtures_dir() -> Path:
    """Demo models the project trains, converts and quantizes itself."""
    return home() / "fixtures"


def taskpack_dir() -> Path:
    """The generated offline lm-eval task pack (YAML + JSONL)."""
    return home() / "taskpack"


def cache_dir() -> Path:
    """Content-addressed unit results: ``$SLMBENCH_CACHE_DIR`` or ``<home>/cache``."""
    override = os.environ.get("SLMBENCH_CACHE_DIR")
    return Path(override).resolve() if override else home() / "cache"


def runs_dir() -> Path:
    """One folder per benchmark run."""
    return home() / "runs"


def results_url() -> str | None:
    """The base URL where run folders are browsable (``$SLMBENCH_RESULTS_URL``), when one is published."""
    url = os.environ.get("SLMBENCH_RESULTS_URL", "").strip()
    return url.rstrip("/") if url.startswith(("https://", "http://")) else None


def shared_models_dir() -> Path:
    """Model files shared beside the checkout (``../shared/models``), if present."""
    return Path(os.environ.get("SLMBENCH_SHARED_MODELS") or Path.cwd().parent / "shared" / "models").resolve()


# The results warehouse when none is named: ./warehouse, beside where a command runs
# (any URI deltalake supports may be given instead; evals.warehouse).
WAREHOUSE = "warehouse"
