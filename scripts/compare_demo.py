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
- the queue's ``event_id`` (a uuid4) and ``at`` (when the event happened), and run ids and
  flow-run uuids inside any text column (a run folder's path names its run);
- measured timings and what is derived from them: ``edge.mean`` and ``edge.sd``
  on the timed metrics (:data:`TIMED_METRICS`; ``model_size_gb`` is a file
  size and stays compared), and the leaderboard columns computed from them
  (:data:`LEADERBOARD_TIMED`, ``normalized_edge`` among them). The leaderboard's rows are compared in
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
    "normalized_edge",
    "rank_lo",  # the paired tests' range moves with the edge category's error
    "rank_hi",
    "aggregate_se",
)
# Columns masked whole, per table (beyond run ids, which are rewritten everywhere).
COLUMN_MASKS = {
    "runs": ("flow_run_id", "repo_commit", "started_at", "finished_at"),
    "models": ("first_published_at", "last_published_at"),
    "leaderboard": LEADERBOARD_TIMED,
    "queue": ("event_id", "at"),  # a uuid4 and the moment of each event, new every run
}
RUN_ID = re.compile(r"\b\d{8}T\d{6}-([a-z0-9._-]+?)-[0-9a-f]{6}\b")
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
COMMIT = re.compile(r"\b[0-9a-f]{40}(-dirty)?\b")
TIMESTAMPS = (
    re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z| UTC)?"),  # ISO and "... UTC"
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),  # sitemap lastmod, dates on pages
    re.compile(r"\b\d{2}:\d{2}(:\d{2})? UTC\b"),  # "14:37 UTC" beside a date
)
# On the pages: table columns, charts and download sizes drawn from the timed figures.
TIMED_HEADERS = (
    "Rank",
    "Aggregate",
    "95% interval",
    "Normalized",
    "Edge",
    "tokens per s (tokens/s)",
    "latency ms (ms)",
    "peak memory gb (GB)",
)
TIMED_CHARTS = ("Aggregate vs parameters", "Accuracy vs throughput")
# Tables whose very rows are chosen by timed figures: the Pareto front of the throughput chart.
TIMED_TABLES = (("Model", "Quant", "Tokens/s", "Aggregate"),)
TIMED_DOWNLOADS = ("edge", "leaderboard")  # their file sizes move with the figures' digits
# board.js's fields that are leaderboard columns above (ci_low/ci_high: aggregate_ci_low/high)
BOARD_TIMED = (
    "rank",
    "rank_band",
    "rank_lo",
    "rank_hi",
    "aggregate",
    "ci_low",
    "ci_high",
    "aggregate_normalized",
    "score_edge",
    "tokens_per_s",
    "latency_ms",
    "peak_memory_gb",
    "normalized_edge",
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
    # run ids and Prefect's flow-run uuids wherever a text column holds them (run folders, queue events)
    texts = [c for c in frame.columns if frame.schema[c] == pl.String and c not in masked]
    frame = frame.with_columns(
        pl.col(c).str.replace_all(RUN_ID.pattern, "RUN($1)").str.replace_all(UUID.pattern, "<uuid>") for c in texts
    )
    if table == "edge" and "metric" in frame.columns:
        timed = pl.col("metric").is_in(TIMED_METRICS)
        frame = frame.with_columns(
            pl.when(timed).then(pl.lit("<timed>")).otherwise(pl.col(c).cast(pl.String)).alias(c) for c in ("mean", "sd")
        )
    if table == "leaderboard" and {"model_name", "variant_id"} <= set(frame.columns):
        frame = frame.sort("model_name", "variant_id")
    return frame


# --- the warehouse


ZONES = ("staging", "published")


def _tables(root: Path) -> list[str]:
    """``<zone>/<table>`` of every table in the warehouse (its ``exports/`` are compared as files)."""
    return sorted(
        f"{z}/{t.name}" for z in ZONES if (root / "warehouse" / z).is_dir() for t in (root / "warehouse" / z).iterdir()
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
TABLE = re.compile(r"<table>.*?</table>", re.S)
ROW = re.compile(r"<tr>(.*?)</tr>", re.S)
CELL = re.compile(r"(<t[dh][^>]*>)(.*?)(</t[dh]>)", re.S)
CHART = re.compile(r'<figure class="slmb-chart"><svg [^>]*aria-label="([^"]*)".*?</figure>', re.S)
SIZE = re.compile(r"\([\d.]+ [KMG]?B\)")
SEARCH_SIZES = re.compile(r"(<code>(?:{})</code> \d+ )([^<]*)".format("|".join(TIMED_DOWNLOADS)))
DOWNLOAD_SIZE = re.compile(
    r'(href="\.\./tables/(?:{})\.\w+">\w+</a>) \([\d.]+ [KMG]?B\)'.format("|".join(TIMED_DOWNLOADS))
)


def _count(what: str, n: int = 1) -> None:
    PAGE_MASKS[what] = PAGE_MASKS.get(what, 0) + n


def _mask_table(table: str) -> str:
    """The cells under a timed column header (:data:`TIMED_HEADERS`)."""
    rows = ROW.findall(table)
    if not rows:
        return table
    headers = [re.sub(r"<[^>]+>", "", cell[1]).strip() for cell in CELL.findall(rows[0])]
    if tuple(headers) in TIMED_TABLES:
        _count(f"table {' | '.join(headers)}")
        return f"<table><timed {' | '.join(headers)}></table>"
    timed = {i for i, h in enumerate(headers) if h in TIMED_HEADERS}
    if not timed:
        return table

    def row(match: re.Match[str]) -> str:
        cells = iter(range(10_000))

        def cell(c: re.Match[str]) -> str:
            i = next(cells)
            if i in timed and c.group(1).startswith("<td"):
                _count(f"table column {headers[i]!r}")
                return f"{c.group(1)}<timed>{c.group(3)}"
            return c.group(0)

        return f"<tr>{CELL.sub(cell, match.group(1))}</tr>"

    return ROW.sub(row, table)


def _mask_chart(match: re.Match[str]) -> str:
    if match.group(1) in TIMED_CHARTS:
        _count(f"chart {match.group(1)!r}")
        return f"<figure><timed chart {match.group(1)!r}></figure>"
    return match.group(0)


def _mask_page(relative: str, text: str) -> str:
    """Text masks, then the figures drawn from the timed columns (counted in PAGE_MASKS)."""
    text = mask_text(text)
    if relative == "board.js":
        return _mask_board(text)
    text = TABLE.sub(lambda m: _mask_table(m.group(0)), text)
    text = CHART.sub(_mask_chart, text)
    sizes = len(DOWNLOAD_SIZE.findall(text))
    if sizes:
        _count("download size of " + "/".join(TIMED_DOWNLOADS), sizes)
        text = DOWNLOAD_SIZE.sub(r"\1 (<size>)", text)
    # the same downloads in the search index, as text: "<code>edge</code> 24 CSV (3.9 KB) · ..."
    return SEARCH_SIZES.sub(lambda m: m.group(1) + SIZE.sub("(<size>)", m.group(2)), text)


def _mask_board(text: str) -> str:
    """board.js: its JSON, with the timed fields masked and the rows in (model, variant) order."""
    prefix, _, body = text.partition("=")
    data = json.loads(body.strip().rstrip(";"))
    fields = data["fields"]
    timed = [fields.index(f) for f in BOARD_TIMED if f in fields]
    for row in data["rows"]:
        for i in timed:
            row[i] = "<timed>"
    _count("board.js fields " + ", ".join(BOARD_TIMED), len(data["rows"]))
    key = (fields.index("model"), fields.index("variant"))
    data["rows"].sort(key=lambda r: (r[key[0]], r[key[1]]))
    rest = {k: v for k, v in data.items() if k not in ("rows",)}
    return prefix + json.dumps({**rest, "rows": data["rows"]}, indent=0, sort_keys=True)


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
    if a.name == "search_index.json":
        return _compare_search_index(a, b)
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


# JSON files that hold table rows: which table the rows of each key belong to.
JSON_TABLES = {"rows": "leaderboard", "models": "models", "runs": "runs", "scores": "scores", "edge": "edge"}


def _compare_json(a: Path, b: Path) -> list[str]:
    """A JSON download or export: its rows masked as their table's (a list: the table the file is named for)."""

    def load(path: Path) -> object:
        data = json.loads(path.read_text())
        if isinstance(data, list):
            return _rows(path.stem, data)
        return {k: _rows(JSON_TABLES[k], v) if k in JSON_TABLES and isinstance(v, list) else v for k, v in data.items()}

    da, db = load(a), load(b)
    return [] if da == db else [f"{a}: JSON differs: {_first_json_diff(da, db)}"]


def _rows(table: str, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    frame = mask_frame(table, pl.DataFrame(rows, infer_schema_length=None)) if rows else pl.DataFrame()
    return json.loads(mask_text(frame.write_json()))


def _first_json_diff(a: object, b: object, where: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_json_diff(a.get(k), b.get(k), f"{where}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_json_diff(x, y, f"{where}[{i}]")
    return f"{where or '(file)'}: {str(a)[:200]} vs {str(b)[:200]}"


def _compare_search_index(a: Path, b: Path) -> list[str]:
    """mkdocs' search index: each page's text masked as the page is."""

    def load(path: Path) -> object:
        data = json.loads(path.read_text())
        for doc in data["docs"]:
            text = doc["text"]
            if doc["title"] in TIMED_CHARTS:  # the chart's labels and the Pareto table, as text: its prose kept
                _count(f"search text of chart {doc['title']!r} (prose kept)")
                text = "<timed chart> " + " ".join(re.findall(r"<p>.*?</p>", text, re.S))
            doc["text"] = _mask_page(doc["location"], text)
        return data

    da, db = load(a), load(b)
    return [] if da == db else [f"{a}: differs: {_first_json_diff(da, db)}"]


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
