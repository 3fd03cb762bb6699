"""The site's JSON exports: ``leaderboard.json`` and ``registry.json``, written at publish time.

Other sites and scripts read these two files rather than the Delta tables;
each is replaced atomically, so a reader never sees half of one.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from contracts.tables import LEADERBOARD, MODELS
from evals import paths
from evals.warehouse.storage import PUBLISHED, atomic_write, current_version, read_table


def export_site_data(uri: str, out_dir: Path) -> dict[str, Path]:
    """Write ``leaderboard.json`` and ``registry.json`` for the site; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    board = read_table(uri, LEADERBOARD.name)
    models = read_table(uri, MODELS.name)
    meta = {
        "leaderboard_version": current_version(uri, PUBLISHED, LEADERBOARD.name),
        "data_version": int(board["data_version"][0]) if board.height else None,
        "models_version": current_version(uri, PUBLISHED, MODELS.name),
    }
    files = {
        "leaderboard.json": {**meta, "rows": board.sort("rank").to_dicts()},
        "registry.json": {**meta, "models": models.sort("name").to_dicts()},
    }
    return {
        name: atomic_write(out_dir / name, json.dumps(body, indent=2, default=_json_default))
        for name, body in files.items()
    }


def default_exports_dir(uri: str) -> Path:
    """``<warehouse>/exports`` for a local warehouse, ``<home>/exports`` for a remote one."""
    return Path(uri) / "exports" if "://" not in uri else paths.home() / "exports"


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
