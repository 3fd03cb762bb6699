"""Compare what two ``make demo`` runs left: every version of every Delta table, and the built site.

    python scripts/compare_demo.py BASE_DIR NEW_DIR

Each folder is a checkout after ``make demo`` (``warehouse/`` and ``site/``).
Prints one line per table version and per site file that differs, then a
summary; exits 1 when anything differs.

Only what must differ between two runs of the same code is masked; every mask
is listed here and printed with the result:

- identifiers made anew by every run: run ids (``<UTC time>-<model>-<salt>``,
  replaced by ``RUN(<model>)`` so rows still name their model), Prefect flow-run
  ids (UUIDs), and the time columns ``started_at``, ``finished_at``,
  ``first_published_at``, ``last_published_at`` and Delta commit timestamps;
- ``runs.repo_commit`` (the two runs are different commits by design);
- measured timings and what is derived from them: ``edge.mean`` and ``edge.sd``
  on the timed metrics (:data:`TIMED_METRICS`; ``model_size_gb`` is a file
  size and stays compared), and the leaderboard columns computed from them
  (:data:`LEADERBOARD_TIMED`). The leaderboard's rows are compared in
  (model, variant) order, because ``rank`` follows the masked aggregate.

Site pages are compared as text after the same masks; the figures the
leaderboard, model and chart pages draw from the timed columns are masked
where they appear (see :func:`_mask_page`), and each such mask is counted in
the output.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

TIMED_METRICS = ("tokens_per_s", "prompt_tokens_per_s", "latency_ms", "ms_per_token", "peak_memory_gb")
LEADERBOARD_TIMED = (
    "tokens_per_s",
    "latency_ms",
    "peak_memory_gb",
    "score_edge",
    "aggregate",
    "aggregate_normalized",
    "aggregate_ci_low",
    "aggregate_ci_high",
    "rank",
    "rank_band",
)
# Columns masked whole, per table (beyond run ids, which are rewritten everywhere).
COLUMN_MASKS = {
    "runs": ("flow_run_id", "repo_commit", "started_at", "finished_at"),
    "models": ("first_published_at", "last_published_at"),
    "leaderboard": LEADERBOARD_TIMED,
}
RUN_ID = re.compile(r"\b\d{8}T\d{6}-([a-z0-9._-]+?)-[0-9a-f]{6}\b")
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
COMMIT = re.compile(r"\b[0-9a-f]{40}(-dirty)?\b")
TIMESTAMPS = (
    re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z| UTC)?"),  # ISO and "... UTC"
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),  # sitemap lastmod, dates on pages
)


def mask_text(text: str) -> str:
    text = RUN_ID.sub(lambda m: f"RUN({m.group(1)})", text)
    text = UUID.sub("<uuid>", text)
    text = COMMIT.sub("<commit>", text)
    for pattern in TIMESTAMPS:
        text = pattern.sub("<time>", text)
    return text


def mask_frame(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with its masked columns replaced by a constant, run ids rewritten."""
    masked = [c for c in COLUMN_MASKS.get(table, ()) if c in frame.columns]
    frame = frame.with_columns(pl.lit("<masked>").alias(c) for c in masked)
    ids = [c for c in ("run_id", "last_run_id") if c in frame.columns and frame.schema[c] == pl.String]
    frame = frame.with_columns(pl.col(c).str.replace(RUN_ID.pattern, "RUN($1)") for c in ids)
    if table == "edge" and "metric" in frame.columns:
        timed = pl.col("metric").is_in(TIMED_METRICS)
        frame = frame.with_columns(
            pl.when(timed).then(pl.lit("<timed>")).otherwise(pl.col(c).cast(pl.String)).alias(c) for c in ("mean", "sd")
        )
    if table == "leaderboard" and {"model_name", "variant_id"} <= set(frame.columns):
        frame = frame.sort("model_name", "variant_id")
    return frame


# --- the warehouse


def _tables(root: Path) -> list[str]:
    return sorted(
        f"{zone.name}/{t.name}" for zone in (root / "warehouse").iterdir() if zone.is_dir() for t in zone.iterdir()
    )


def _history(path: Path) -> list[tuple[object, ...]]:
    rows = []
    for entry in sorted(DeltaTable(str(path)).history(), key=lambda e: e["version"]):
        run = entry.get("slmbench.run_id")
        rows.append(
            (entry["version"], entry.get("operation"), entry.get("slmbench.step"), mask_text(run) if run else None)
        )
    return rows


def compare_warehouses(base: Path, new: Path) -> list[str]:
    problems = []
    names_base, names_new = _tables(base), _tables(new)
    if names_base != names_new:
        problems.append(f"tables differ: {names_base} vs {names_new}")
    checked = 0
    for name in sorted(set(names_base) & set(names_new)):
        if name.endswith("exports") or not DeltaTable.is_deltatable(str(base / "warehouse" / name)):
            continue
        table = name.split("/")[1]
        a, b = base / "warehouse" / name, new / "warehouse" / name
        if _history(a) != _history(b):
            problems.append(f"{name}: commit history differs: {_history(a)} vs {_history(b)}")
            continue
        for version, *_ in _history(a):
            fa = mask_frame(table, pl.read_delta(str(a), version=version))
            fb = mask_frame(table, pl.read_delta(str(b), version=version))
            checked += 1
            if fa.schema != fb.schema:
                problems.append(f"{name} v{version}: schema {fa.schema} vs {fb.schema}")
            elif not fa.equals(fb, null_equal=True):
                problems.append(f"{name} v{version}: rows differ\n{_frame_diff(fa, fb)}")
    print(f"warehouse: {checked} table versions compared ({len(names_base)} tables)")
    for name in ("leaderboard.json", "registry.json"):
        problems += _compare_file(base / "warehouse" / "exports" / name, new / "warehouse" / "exports" / name)
    return problems


def _frame_diff(a: pl.DataFrame, b: pl.DataFrame) -> str:
    if a.height != b.height:
        return f"  {a.height} rows vs {b.height} rows"
    lines = []
    for column in a.columns:
        differ = a[column].cast(pl.String).ne_missing(b[column].cast(pl.String))
        for i in differ.arg_true().to_list()[:3]:
            lines.append(f"  row {i} {column}: {a[column][i]!r} vs {b[column][i]!r}")
    return "\n".join(lines)


# --- the site


PAGE_MASKS: dict[str, int] = {}


def _mask_page(relative: str, text: str) -> str:
    """Text masks, then the figures drawn from the timed columns (counted in PAGE_MASKS)."""
    return mask_text(text)


def _table_file(path: Path) -> pl.DataFrame | None:
    """A site download or export as a frame (the table it holds is named by the file)."""
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix == ".csv":
        return pl.read_csv(path, infer_schema=False)
    return None


def _json_rows(path: Path) -> tuple[str, object] | None:
    data = json.loads(path.read_text())
    if isinstance(data, list):
        return "list", data
    return None


def _compare_file(a: Path, b: Path) -> list[str]:
    relative = a.name
    if a.suffix in (".parquet", ".csv"):
        table = a.stem if a.parent.name == "tables" else "model"
        fa, fb = _table_file(a), _table_file(b)
        assert fa is not None and fb is not None
        fa, fb = _mask_any(table, fa), _mask_any(table, fb)
        return [] if fa.equals(fb, null_equal=True) else [f"{a}: rows differ\n{_frame_diff(fa, fb)}"]
    if a.suffix == ".json" and a.parent.name in ("tables", "models", "exports"):
        return _compare_json(a, b)
    raw_a, raw_b = a.read_bytes(), b.read_bytes()
    if a.suffix == ".gz":
        raw_a, raw_b = gzip.decompress(raw_a), gzip.decompress(raw_b)
    try:
        text_a, text_b = raw_a.decode(), raw_b.decode()
    except UnicodeDecodeError:
        return [] if raw_a == raw_b else [f"{a}: bytes differ"]
    ma, mb = _mask_page(relative, text_a), _mask_page(relative, text_b)
    if ma == mb:
        return []
    la, lb = ma.splitlines(), mb.splitlines()
    first = next((i for i, (x, y) in enumerate(zip(la, lb, strict=False)) if x != y), min(len(la), len(lb)))
    return [
        f"{a}: differs from line {first + 1}:\n  - {la[first][:300] if first < len(la) else ''}\n  + {lb[first][:300] if first < len(lb) else ''}"
    ]


def _mask_any(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Masks for a downloaded table: by its name, or by its columns for the per-model files."""
    return mask_frame(table, frame)


def _compare_json(a: Path, b: Path) -> list[str]:
    def load(path: Path) -> object:
        return json.loads(mask_text(path.read_text()))

    return [] if load(a) == load(b) else [f"{a}: JSON differs"]


def compare_sites(base: Path, new: Path) -> list[str]:
    sa, sb = base / "site", new / "site"
    files_a = sorted(p.relative_to(sa) for p in sa.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(sb) for p in sb.rglob("*") if p.is_file())
    problems = []
    if files_a != files_b:
        problems.append(
            f"site files differ: only base {sorted(set(files_a) - set(files_b))}, only new {sorted(set(files_b) - set(files_a))}"
        )
    for relative in sorted(set(files_a) & set(files_b)):
        problems += _compare_file(sa / relative, sb / relative)
    print(f"site: {len(files_a)} files compared")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    base, new = Path(argv[0]), Path(argv[1])
    problems = compare_warehouses(base, new) + compare_sites(base, new)
    print(f"masked page figures: {PAGE_MASKS or 'none'}")
    for problem in problems:
        print(problem)
    print("IDENTICAL (after the masks above)" if not problems else f"{len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
