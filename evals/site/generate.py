"""Tables in, site sources out: the generated pages, data files and static assets.

The output folder is a complete mkdocs ``docs_dir``: the static sources of
``docs/`` (scripts, styles) copied in, then the generated pages::

    index.md  charts.md  compare.md  methodology.md  submit.md  submissions.md  data.md
    models/<slug>.md                 one page per model
    failures/<run>.md                one page per failed run (the submissions queue)
    samples/<slug>/<variant>/<task>.json.gz   its items, read when opened (evals.site.items)
    tables/<table>.{csv,parquet,json} and tables/models/<slug>.json
    assets/slmb/board.js             the leaderboard for the browser scripts

Nothing here knows about mkdocs beyond writing Markdown: ``builder`` runs it.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from evals.catalog.suites import Catalog, load_catalog
from evals.scoring import ScoringSpec, default_spec
from evals.site import board_pages, data_files, model_pages, queue_pages, reference_pages
from evals.site.pairs import BoardPairs, board_pairs_view, write_pair_files
from evals.site.items import items_link, items_panel, variant_keys, write_item_files
from evals.site.reproduce_boxes import reproduce_boxes, reproduce_link
from evals.site.snapshot import SampleReader, SiteDataError, Snapshot, read_snapshot
from evals.site.views import board_data, model_cards, model_slugs, retention, task_table

STATIC_DIR = Path(__file__).resolve().parents[2] / "docs"
MARKER = ".slmbench-generated"  # only a folder holding this file is ever emptied


@dataclass(frozen=True)
class Manifest:
    """What one generation wrote."""

    pages_dir: Path
    models: int
    variants: int
    pages: int
    leaderboard_version: int
    data_version: int | None
    data_date: str | None
    seconds: dict[str, float] = field(default_factory=dict)


def generate_site(
    uri: str,
    pages_dir: Path,
    version: int | None = None,
    catalog: Catalog | None = None,
    spec: ScoringSpec | None = None,
    live_queue: pl.DataFrame | None = None,
) -> Manifest:
    """Write the site sources for leaderboard ``version`` (latest when None) of the warehouse at ``uri``.

    ``live_queue``: Prefect's benchmark runs as queue events, for the submissions page (optional).
    """
    timer = _Timer()
    catalog = catalog or load_catalog()
    spec = spec or default_spec()
    snapshot = timer.step("read tables", lambda: read_snapshot(uri, version))
    _reset(pages_dir)
    titles = {name: c.title for name, c in catalog.categories.items()}

    names = snapshot.leaderboard["model_name"].unique(maintain_order=True).to_list()
    slugs = model_slugs(names)
    cards = model_cards(snapshot)
    kept = retention(snapshot.runs, snapshot.scores, spec, snapshot.items)
    data = board_data(snapshot, spec, slugs, cards)
    paired = timer.step("paired comparisons", lambda: board_pairs_view(snapshot, spec))
    meta = {
        "data_version": snapshot.data_version,
        "leaderboard_version": snapshot.leaderboard_version,
        "data_date": snapshot.data_date.isoformat() if snapshot.data_date else None,
    }

    def write_board_pages() -> None:
        _write(pages_dir / "assets" / "slmb" / "board.js", board_pages.board_script(data, spec, titles, meta))
        _write(pages_dir / "index.md", board_pages.leaderboard_page(snapshot, spec, titles, len(names), data.tasks))
        _write(pages_dir / "compare.md", board_pages.compare_page())
        _write(pages_dir / "charts.md", board_pages.charts_page(snapshot, slugs, kept.to_dicts()))
        write_pair_files(paired, pages_dir / "assets" / "slmb" / "pairs")
        _write(
            pages_dir / "methodology.md",
            reference_pages.methodology_page(catalog, spec, snapshot.runs, snapshot.edge, paired),
        )
        _write(pages_dir / "submit.md", reference_pages.submit_page())
        rows = data_files.write_tables(snapshot, pages_dir / "tables")
        _write(pages_dir / "data.md", data_files.data_page(snapshot, spec, rows, pages_dir / "tables"))

    timer.step("board pages", write_board_pages)
    queue = timer.step(
        "submissions", lambda: queue_pages.write_queue_pages(uri, snapshot, pages_dir, slugs, live_queue)
    )
    timer.step(
        "model pages", lambda: _model_pages(snapshot, spec, catalog, titles, slugs, cards, kept, pages_dir, paired)
    )
    return Manifest(
        pages_dir=pages_dir,
        models=len(names),
        variants=snapshot.leaderboard.height,
        pages=6 + queue + len(names),
        leaderboard_version=snapshot.leaderboard_version,
        data_version=snapshot.data_version,
        data_date=snapshot.data_date.isoformat() if snapshot.data_date else None,
        seconds=timer.seconds,
    )


def _model_pages(
    snapshot: Snapshot,
    spec: ScoringSpec,
    catalog: Catalog,
    titles: dict[str, str],
    slugs: dict[str, str],
    cards: dict[str, dict],
    kept: pl.DataFrame,
    pages_dir: Path,
    paired: BoardPairs,
) -> None:
    pages, raw = pages_dir / "models", pages_dir / "tables" / "models"
    pages.mkdir(parents=True, exist_ok=True)
    raw.mkdir(parents=True, exist_ok=True)
    # Partition every frame once (O(rows)) instead of filtering per model (O(models x rows)).
    boards = snapshot.leaderboard.partition_by("model_name", as_dict=True, maintain_order=True)
    runs = _by_model(snapshot.runs)
    scores = _by_model(snapshot.scores)
    tasks = _by_model(
        task_table(snapshot, spec).join(
            snapshot.runs.select("run_id", "variant_id", "model_name"), on=["run_id", "variant_id"], how="inner"
        )
    )
    edge = _by_model(
        snapshot.edge.join(
            snapshot.runs.select("run_id", "variant_id", "model_name"), on=["run_id", "variant_id"], how="inner"
        )
    )
    kept_by = _by_model(kept)
    empty = {"runs": snapshot.runs.clear(), "scores": snapshot.scores.clear(), "edge": snapshot.edge.clear()}
    samples = SampleReader(snapshot.uri)
    for (name,), variants in boards.items():
        slug = slugs[name]
        model_edge = edge.get(name, empty["edge"])
        model_runs, model_tasks = runs.get(name, empty["runs"]), tasks.get(name, pl.DataFrame())
        extras = _score_extras(samples, pages_dir, slug, variants, model_runs, model_tasks, spec, catalog, paired)
        text = model_pages.model_page(
            name,
            slug,
            cards.get(name, {}),
            variants,
            model_runs,
            model_tasks,
            model_edge,
            kept_by.get(name, kept.clear()),
            spec,
            titles,
            extras,
            scores.get(name, empty["scores"]),
        )
        _write(pages / f"{slug}.md", text)
        model_pages.write_model_files(
            raw,
            slug,
            runs.get(name, empty["runs"]),
            scores.get(name, empty["scores"]),
            model_edge.drop("model_name") if "model_name" in model_edge.columns else model_edge,
        )


def _score_extras(
    samples: SampleReader,
    pages_dir: Path,
    slug: str,
    variants: pl.DataFrame,
    runs: pl.DataFrame,
    tasks: pl.DataFrame,
    spec: ScoringSpec,
    catalog: Catalog,
    paired: BoardPairs,
) -> model_pages.ScoreExtras:
    """A model's reproduce boxes and item browser, its item files written."""
    if tasks.is_empty():
        return model_pages.ScoreExtras()
    labels = model_pages.variant_labels(variants)
    keys = variant_keys(variants["variant_id"].to_list())
    index = write_item_files(pages_dir, slug, samples.rows(runs.select("run_id", "variant_id")), tasks, spec, runs)

    def actions(task: str, variant: str) -> str:
        return reproduce_link(task, keys[variant]) + (items_link(task, variant) if index.has(task, variant) else "")

    return model_pages.ScoreExtras(
        actions=actions,
        reproduce=reproduce_boxes(tasks, runs, keys, labels, catalog),
        items=items_panel(index, model_pages.ROOT, labels, list(spec.tasks), _pair_ranks(variants, paired)),
        detectable={t: d[2] for t, d in paired.detectable.items()},
        task_se=paired.task_se,
    )


def _pair_ranks(variants: pl.DataFrame, paired: BoardPairs) -> dict[str, int]:
    """variant id -> its board rank, the name of its pair file (the Items panel's compare summary reads it)."""
    return {v: paired.ranks[(r, v)] for r, v in variants.select("run_id", "variant_id").iter_rows() if (r, v) in paired.ranks}


def _by_model(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    if frame.is_empty() or "model_name" not in frame.columns:
        return {}
    return {key[0]: part for key, part in frame.partition_by("model_name", as_dict=True).items()}  # type: ignore[misc]


def _reset(pages_dir: Path) -> None:
    """Empty the output folder (only one this module made) and copy the static sources in."""
    if pages_dir.exists() and any(pages_dir.iterdir()) and not (pages_dir / MARKER).exists():
        raise SiteDataError(f"{pages_dir} is not empty and was not made by the site generator; choose another folder")
    shutil.rmtree(pages_dir, ignore_errors=True)
    shutil.copytree(STATIC_DIR, pages_dir, ignore=shutil.ignore_patterns("generated", ".*"))
    (pages_dir / MARKER).write_text("generated by evals.site; emptied on every build\n", encoding="utf-8")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def step(self, name, action):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        out = action()
        self.seconds[name] = round(time.perf_counter() - began, 3)
        return out
