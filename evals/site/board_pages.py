"""The leaderboard, compare and charts pages.

The leaderboard and compare pages are HTML shells filled in the browser by
``assets/slmb/leaderboard.js`` and ``compare.js`` from ``assets/slmb/board.js``
(the leaderboard as compact JSON). The scripts build every cell with
``textContent``, so a submitted string can never become markup. The column
headers, filter choices and number formats are written here, so the scripts
hold no knowledge of the catalog.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from evals.scoring import EDGE_CATEGORY, ScoringSpec
from evals.site import charts
from evals.site.snapshot import Snapshot
from evals.site.text import BUCKETS, FORMATS, attr, html, md_table, md_text, parameters_label
from evals.site.views import PROVENANCE_FIELDS, BoardData, pareto_front

EDGE_TITLES = {"tokens_per_s": "Tokens/s", "latency_ms": "Latency ms", "peak_memory_gb": "Memory GB"}


def board_script(data: BoardData, spec: ScoringSpec, titles: dict[str, str], meta: dict) -> str:
    """``assets/slmb/board.js``: a script, not JSON, so the pages also work when opened from disk."""
    body = {
        "fields": data.fields,
        "rows": data.rows,
        "formats": FORMATS,
        "categories": [{"key": c, "title": titles.get(c, c)} for c in spec.categories],
        "meta": meta,
    }
    # ensure_ascii: the file is plain ASCII whatever the page's charset.
    return "window.SLMB_BOARD = " + json.dumps(body, ensure_ascii=True, separators=(",", ":")) + ";\n"


@dataclass(frozen=True)
class BoardColumn:
    """One leaderboard column as the page declares it to ``leaderboard.js``."""

    key: str
    header: str  # HTML, already escaped
    kind: str  # "num", "text", or "none" (not sortable)
    fmt: str = ""  # a key of FORMATS for numbers
    group: str = ""  # a key of COLUMN_GROUPS when the reader may hide it; "" for the fixed columns
    shown: bool = True  # shown unless the reader hides it
    normalized: str = ""  # the field shown instead when scores are baseline-normalized

    def th(self) -> str:
        label = f'<button type="button">{self.header}</button>' if self.kind != "none" else self.header
        return (
            f'<th data-key="{attr(self.key)}" data-type="{self.kind}" data-format="{self.fmt}" '
            f'data-group="{self.group}" data-shown="{int(self.shown)}" data-normalized="{attr(self.normalized)}" '
            f'scope="col">{label}</th>'
        )


# The groups of columns a reader can show or hide, in the picker's order.
COLUMN_GROUPS = {"categories": "Categories", "tasks": "Tasks", "edge": "Edge", "provenance": "Provenance"}


def _columns(spec: ScoringSpec, titles: dict[str, str], tasks: Sequence[str] = ()) -> list[BoardColumn]:
    """Every leaderboard column, in order; task and provenance columns start hidden."""
    cols = [
        BoardColumn("select", '<span class="slmb-sr">Compare</span>', "none"),
        BoardColumn("pin", '<span class="slmb-sr">Pin</span>', "none"),
        BoardColumn("rank", "Rank", "num"),
        BoardColumn("model", "Model", "text"),
        BoardColumn("parameters", "Params", "num"),
        BoardColumn("precision", "Quant", "text"),
        BoardColumn("chat_template", "Chat template", "text"),
        BoardColumn("backend", "Backend", "text"),
        BoardColumn("aggregate", "Aggregate", "num", "score", normalized="aggregate_normalized"),
    ]
    cols += [
        BoardColumn(f"score_{c}", html(titles.get(c, c)), "num", "score", "categories", normalized=f"normalized_{c}")
        for c in spec.categories
    ]
    cols += [BoardColumn(f"task_{t}", html(t), "num", "task", "tasks", shown=False) for t in tasks]
    cols += [BoardColumn(m, EDGE_TITLES[m], "num", m, "edge") for m in EDGE_TITLES]
    cols += [BoardColumn(k, html(h), "text", "", "provenance", shown=False) for k, h in PROVENANCE_FIELDS]
    cols.append(BoardColumn("coverage", "Coverage", "num", "coverage"))
    return cols


def _picker(columns: Sequence[BoardColumn]) -> str:
    """The column picker: a fieldset of checkboxes per group (``leaderboard.js`` keeps them in step)."""
    sets = []
    for group, title in COLUMN_GROUPS.items():
        boxes = "".join(
            f'<label><input type="checkbox" data-col="{attr(c.key)}"> {c.header}</label>'
            for c in columns
            if c.group == group
        )
        if boxes:
            both = (
                f'<button type="button" data-all="{group}">all</button>'
                f'<button type="button" data-none="{group}">none</button>'
            )
            sets.append(f'<fieldset data-group="{group}"><legend>{title} {both}</legend>{boxes}</fieldset>')
    # A button and a panel, not <details>: mkdocs-material styles every <details> as an admonition.
    return (
        '<div class="slmb-picker" id="slmb-picker">'
        '<button type="button" class="md-button" id="slmb-columns" aria-expanded="false" '
        'aria-controls="slmb-picker-body">Columns</button>'
        f'<div class="slmb-picker-body" id="slmb-picker-body" role="group" aria-label="Columns shown" hidden>'
        f"{''.join(sets)}</div></div>"
    )


def leaderboard_page(
    snapshot: Snapshot, spec: ScoringSpec, titles: dict[str, str], n_models: int, tasks: Sequence[str] = ()
) -> str:
    board = snapshot.leaderboard
    precisions = sorted(set(board["precision"].to_list()))
    backends = sorted(set(board["backend"].to_list()))
    columns = _columns(spec, titles, tasks)
    head = "".join(c.th() for c in columns)
    edge = (
        '<button type="button" class="md-button" id="slmb-edge" aria-pressed="false" '
        'title="GGUF quantizations of at most 3B parameters, sorted by edge score">For edge devices</button>'
        if EDGE_CATEGORY in spec.categories
        else ""
    )
    controls = (
        '<form class="slmb-controls" role="search" onsubmit="return false">'
        '<input type="search" id="slmb-q" name="q" placeholder="Search models" aria-label="Search models" autocomplete="off">'
        + _select("cat", "Category", [(c, titles.get(c, c)) for c in spec.categories], "All categories")
        + _select("quant", "Quantization", [(p, p) for p in precisions], "All quantizations")
        + _select("size", "Parameters", [(b[0], b[0]) for b in BUCKETS], "All sizes")
        + _select("backend", "Backend", [(b, b) for b in backends], "All backends")
        + _select("scale", "Scores", [("normalized", "Baseline-normalized scores")], "Raw scores")
        + edge
        + '<button type="button" class="md-button" id="slmb-reset">Reset</button>'
        + '<button type="button" class="md-button md-button--primary" id="slmb-compare" disabled>Compare selected</button>'
        + _picker(columns)
        + '<label class="slmb-toggle" id="slmb-tests-label" hidden><input type="checkbox" id="slmb-tests"> '
        'Show test models (<span id="slmb-tests-count">0</span>)</label>'
        "</form>"
    )
    date = snapshot.data_date.strftime("%Y-%m-%d %H:%M UTC") if snapshot.data_date else "—"
    return (
        "---\nhide:\n  - navigation\n  - toc\n---\n\n# Leaderboard\n\n"
        f'<p class="slmb-meta">Data version {snapshot.data_version if snapshot.data_version is not None else "—"} '
        f"({date}) · {n_models:,} models · {board.height:,} variants · "
        '<a href="data/">downloads</a> · <a href="methodology/">how scores are computed</a> · '
        '<a href="submissions/">the submissions queue</a></p>\n\n'
        '<div id="slmb-board" class="slmb-board" data-root="">'
        + controls
        + '<p id="slmb-count" class="slmb-count" aria-live="polite">Loading…</p>'
        '<div class="slmb-scroll"><table id="slmb-table" class="slmb-table">'
        f"<thead><tr>{head}</tr></thead><tbody></tbody></table></div>"
        '<p><button type="button" class="md-button" id="slmb-more" hidden>Show all</button></p>'
        '<noscript><p>The table needs JavaScript; the same data is on the <a href="data/">Data</a> page.</p></noscript>'
        "</div>\n\n"
        "Missing values (not measured) show as —. Aggregate: weighted category scores, renormalized over the measured "
        "weight, with its 95% interval; partial rows did not measure every category and rank after full ones. "
        "Baseline-normalized scores put each task's random-guess score at 0 (see the "
        '<a href="methodology/">methodology</a>); the rank stays that of the raw aggregate. '
        "☆ pins a row above the others, whatever the order. Test models (demo fixtures, tiny test files) are "
        "hidden unless asked for.\n\n"
        '<script src="assets/slmb/board.js" defer></script>\n<script src="assets/slmb/leaderboard.js" defer></script>\n'
    )


def _select(name: str, label: str, options: Sequence[tuple[str, str]], all_label: str) -> str:
    items = "".join(f'<option value="{attr(v)}">{html(t)}</option>' for v, t in options)
    return (
        f'<select id="slmb-{name}" name="{name}" aria-label="{attr(label)}">'
        f'<option value="">{html(all_label)}</option>{items}</select>'
    )


def compare_page() -> str:
    return (
        "---\nhide:\n  - toc\n---\n\n# Compare\n\n"
        "Pick two or more models; the page address keeps the choice, so it can be shared.\n\n"
        '<div id="slmb-compare" class="slmb-board" data-root="../">'
        '<form class="slmb-controls" onsubmit="return false">'
        '<input id="slmb-pick" list="slmb-models" placeholder="Type a model name" aria-label="Model to add" autocomplete="off">'
        '<datalist id="slmb-models"></datalist>'
        '<button type="button" class="md-button md-button--primary" id="slmb-add">Add</button>'
        '<button type="button" class="md-button" id="slmb-clear">Clear</button></form>'
        '<p id="slmb-chosen" class="slmb-chips"></p>'
        '<div class="slmb-scroll"><table id="slmb-compare-table" class="slmb-table"></table></div>'
        '<div id="slmb-pair" class="slmb-pair"></div>'
        "</div>\n\n"
        "Best value in each row in bold; — means not measured. The paired comparison uses every item both "
        "variants answered (see the <a href=\"../methodology/#paired-comparisons-worked\">methodology</a>).\n\n"
        '<script src="../assets/slmb/board.js" defer></script>\n<script src="../assets/slmb/compare.js" defer></script>\n'
    )


def charts_page(snapshot: Snapshot, slugs: dict[str, str], retention_rows: list[dict]) -> str:
    board = snapshot.leaderboard.to_dicts()
    backends = sorted({r["backend"] for r in board})
    parts = ["# Charts\n", "Hover a point for its model; click it to open the model's page.\n"]

    sized = [r for r in board if r["parameters"]]
    parts.append("## Aggregate vs parameters\n")
    if sized:
        points = [_point(r, float(r["parameters"]), slugs, backends) for r in sized]
        x = charts.log_axis("parameters (log scale)", [p.x for p in points], parameters_label)
        y = charts.linear_axis("aggregate (0-100)", [p.y for p in points], floor=0.0, pad=2.0)
        parts.append(charts.scatter(points, x, y, "Aggregate vs parameters", backends) + "\n")
    else:
        parts.append("No variant has a known parameter count.\n")

    parts.append("## Accuracy vs throughput\n")
    fast = [r for r in board if r["tokens_per_s"]]
    if fast:
        points = [_point(r, float(r["tokens_per_s"]), slugs, backends) for r in fast]
        front = pareto_front([(p.x, p.y) for p in points])
        x = charts.log_axis("decode throughput, tokens/s (log scale)", [p.x for p in points], lambda v: f"{v:g}")
        y = charts.linear_axis("aggregate (0-100)", [p.y for p in points], floor=0.0, pad=2.0)
        parts.append(charts.scatter(points, x, y, "Accuracy vs throughput", backends, front=front) + "\n")
        parts.append("On the Pareto front (no other variant is both faster and more accurate):\n")
        rows = [
            [
                f"[{md_text(fast[i]['model_name'])}](models/{slugs[fast[i]['model_name']]}.md)",
                md_text(fast[i]["precision"]),
                f"{fast[i]['tokens_per_s']:.{FORMATS['tokens_per_s']}f}",
                f"{fast[i]['aggregate']:.{FORMATS['score']}f}",
            ]
            for i in sorted(front, key=lambda i: -points[i].x)
        ]
        parts.append(md_table(["Model", "Quant", "Tokens/s", "Aggregate"], rows, ["l", "l", "r", "r"]))
    else:
        parts.append("No variant has a measured throughput yet (edge figures are shown as — until measured).\n")

    parts.append("## Quantization retention\n")
    parts.append(_retention_chart(retention_rows, slugs))
    return "\n".join(parts)


def _point(row: dict, x: float, slugs: dict[str, str], backends: list[str]) -> charts.Point:
    label = f"{row['model_name']} · {row['precision']} · {row['aggregate']:.{FORMATS['score']}f}"
    return charts.Point(
        x, float(row["aggregate"]), label, f"../models/{slugs[row['model_name']]}/", backends.index(row["backend"])
    )


RETENTION_MODELS = 40


def _retention_chart(rows: list[dict], slugs: dict[str, str]) -> str:
    measured = [r for r in rows if r["retention"] is not None]
    if not measured:
        return "No model has both a full-precision and a quantized variant measured on the same categories.\n"
    by_model: dict[str, list[dict]] = {}
    for r in measured:
        by_model.setdefault(r["model_name"], []).append(r)
    # The models whose worst quantization loses most come first: that is what a reader looks for.
    names = sorted(by_model, key=lambda n: (min(r["retention"] for r in by_model[n]), n))[:RETENTION_MODELS]
    precisions = sorted({r["precision"] for r in measured})
    dot_rows = [
        charts.DotRow(
            label=name,
            href=f"../models/{slugs[name]}/",
            dots=[
                (
                    100.0 * r["retention"],
                    precisions.index(r["precision"]),
                    f"{name} · {r['precision']}: {100.0 * r['retention']:.{FORMATS['retention']}f}%",
                )
                for r in by_model[name]
            ],
        )
        for name in names
    ]
    values = [100.0 * r["retention"] for r in measured]
    axis = charts.linear_axis("aggregate retained, % of the full-precision variant", [*values, 100.0], pad=2.0)
    note = (
        f"The {len(names)} of {len(by_model)} models with the largest loss. " if len(by_model) > len(names) else ""
    ) + (
        "Retention: a quantized variant's aggregate (edge left out) as a percentage of the unquantized "
        "variant's in the same run, over the categories both measured; see the methodology.\n"
    )
    return (
        charts.dot_plot(dot_rows, axis, "Quantization retention per model", precisions, reference=100.0) + "\n\n" + note
    )
