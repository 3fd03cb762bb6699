"""The Data page and its downloads: every table of the snapshot as CSV, Parquet and JSON."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from contracts.tables import EDGE, MODELS, RUNS, SAMPLES, SCORES, Table, leaderboard
from evals.scoring import ScoringSpec
from evals.site.snapshot import Snapshot
from evals.site.text import csv_safe, md_table, md_text

FORMATS = ("csv", "parquet", "json")


def write_tables(snapshot: Snapshot, out_dir: Path) -> dict[str, int]:
    """``tables/<table>.<format>`` for each table; returns rows per table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = _frames(snapshot)
    for name, frame in frames.items():
        csv_safe(frame).write_csv(out_dir / f"{name}.csv")
        frame.write_parquet(out_dir / f"{name}.parquet")
        frame.write_json(out_dir / f"{name}.json")
    return {name: frame.height for name, frame in frames.items()}


def _frames(snapshot: Snapshot) -> dict[str, pl.DataFrame]:
    return {
        "leaderboard": snapshot.leaderboard,
        "models": snapshot.models,
        "runs": snapshot.runs,
        "scores": snapshot.scores,
        "edge": snapshot.edge,
    }


def data_page(snapshot: Snapshot, spec: ScoringSpec, rows: dict[str, int], out_dir: Path) -> str:
    date = snapshot.data_date.strftime("%Y-%m-%d %H:%M:%S UTC") if snapshot.data_date else "—"
    board_date = snapshot.leaderboard_date.strftime("%Y-%m-%d %H:%M:%S UTC")
    versions = md_table(
        ["", "Version", "Written"],
        [
            ["Data (published runs)", _v(snapshot.data_version), date],
            ["Leaderboard table", _v(snapshot.leaderboard_version), board_date],
            ["Model registry table", _v(snapshot.models_version), "—"],
        ],
        ["l", "r", "l"],
    )
    downloads = []
    for name, count in rows.items():
        links = " · ".join(
            f"[{fmt.upper()}](tables/{name}.{fmt}) ({_size(out_dir / f'{name}.{fmt}')})" for fmt in FORMATS
        )
        downloads.append([f"`{name}`", f"{count:,}", links])
    parts = [
        "# Data\n",
        "The tables behind this site, at the versions below: the same rows the pages show. Read any version "
        "yourself with `slmbench results <table> --as-of N`.\n",
        versions,
        "## Downloads\n",
        md_table(["Table", "Rows", "Files"], downloads, ["l", "r", "l"]),
        "In the CSV files, a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return "
        "begins with an apostrophe, so that a spreadsheet shows it instead of running it as a formula. "
        "Parquet and JSON hold the values unchanged.\n",
        "Every evaluated item (the `samples` table) is too large for one download: each model page lists a "
        "task's items under Items, from its file under `samples/<model>/<variant>/<task>.json.gz`, and "
        "`slmbench results samples --run RUN_ID` reads a run's.\n",
        "## Columns\n",
        "From the table contracts in `contracts/tables.py`.\n",
    ]
    for table in (leaderboard(spec.categories), MODELS, RUNS, SCORES, EDGE, SAMPLES):
        parts.append(_columns(table))
    return "\n".join(parts)


def _columns(table: Table) -> str:
    rows = [
        [f"`{md_text(c.name)}`", md_text(str(c.dtype)), "yes" if c.nullable else "no", md_text(c.doc)]
        for c in table.columns
    ]
    return f"### `{table.name}`\n\n{md_text(table.doc)}\n\n" + md_table(["Column", "Type", "Nullable", "Meaning"], rows)


def _v(version: int | None) -> str:
    return "—" if version is None else str(version)


def _size(path: Path) -> str:
    size = path.stat().st_size
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
