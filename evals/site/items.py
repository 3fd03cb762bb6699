"""The per-sample browser: one compressed file per model variant and task, and the model page's Items panel.

Files live at ``samples/<model slug>/<variant key>/<task>.json.gz`` and are
fetched only when a reader opens that task in the panel
(``assets/slmb/items.js``), so a model page costs the same to load whatever
its tasks hold. They are gzip files served as they are (static hosts such as
GitHub Pages send no ``Content-Encoding`` for them); the script decompresses
them with the browser's ``DecompressionStream``.

A file holds the items of the task's primary filter (the one its score is
read from), in subtask and document order::

    {"task", "variant", "run_id", "metric", "filter", "value", "n",
     "fields": [...], "items": [[...], ...]}

Every text in them is untrusted (prompts, generations): the script writes it
with ``textContent`` only, and shows control and bidirectional-override
characters as visible marks instead of obeying them.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import polars as pl

from evals.scoring import ScoringSpec, task_rules
from evals.site.text import attr, html, slug

COMPRESSION = 6  # gzip level: 9 makes files ~1% smaller and takes twice as long to write

# The item fields, in file order (the script reads them by name from "fields").
FIELDS = (
    "doc_id",
    "subtask",
    "category",
    "correct",
    "score",
    "prompt",
    "choices",
    "loglikelihoods",
    "pick",
    "generation",
    "extracted",
    "target",
    "sandbox",
)


@dataclass
class ItemIndex:
    """Which item files a model has: per task, per variant, (file, items, right)."""

    base: str  # the model's folder under the site root
    files: dict[str, dict[str, tuple[str, int, int | None]]] = field(default_factory=dict)

    def has(self, task: str, variant: str) -> bool:
        return variant in self.files.get(task, {})


def variant_keys(variant_ids: list[str]) -> dict[str, str]:
    """A file-name-safe folder per variant, unique within the model."""
    keys: dict[str, str] = {}
    for variant in variant_ids:
        key = slug(variant)
        while key in keys.values():
            key += "-"
        keys[variant] = key
    return keys


def write_item_files(
    site_dir: Path,
    model_slug: str,
    samples: pl.DataFrame,
    tasks: pl.DataFrame,
    spec: ScoringSpec,
    runs: pl.DataFrame | None = None,
) -> ItemIndex:
    """The item files of one model; ``tasks``: its published task scores (run_id, variant_id, task, value).

    Each task's metric and filter are its run's own (``runs.task_definitions``, a user's task included) when
    ``runs`` is given, as scoring reads them; the spec's otherwise.
    """
    index = ItemIndex(base=f"samples/{model_slug}/")
    if samples.is_empty() or tasks.is_empty():
        return index
    keys = variant_keys(sorted(set(tasks["variant_id"].to_list())))
    # the rows of each task's scored filter, in file order, split once (not filtered per file)
    rules = task_rules(spec, runs)
    if runs is None:
        rules = samples.select("run_id").unique().join(rules, how="cross")
    primary = {(r["run_id"], r["task"]): (r["metric"], r["filter"]) for r in rules.iter_rows(named=True)}
    on = ["run_id", "task", "filter"]
    scored = samples.join(rules.select(on), on=on, how="semi").sort("subtask", "doc_id")
    parts = scored.partition_by(["run_id", "variant_id", "task"], as_dict=True)
    for row in tasks.iter_rows(named=True):
        part = parts.get((row["run_id"], row["variant_id"], row["task"]))
        if part is None:
            continue
        metric, filter_name = primary[(row["run_id"], row["task"])]
        items = [_item(r, metric) for r in part.iter_rows(named=True)]
        verdicts = [i[3] for i in items if i[3] is not None]
        body = {
            "task": row["task"],
            "variant": row["variant_id"],
            "run_id": row["run_id"],
            "metric": metric,
            "filter": filter_name,
            "value": row["value"],
            "n": len(items),
            "fields": FIELDS,
            "items": items,
        }
        name = f"{keys[row['variant_id']]}/{slug(row['task'])}.json.gz"
        path = site_dir / index.base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        # ensure_ascii: escapes (lone surrogates included) never fail to encode; mtime 0: same bytes every build
        data = json.dumps(body, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode()
        path.write_bytes(gzip.compress(data, compresslevel=COMPRESSION, mtime=0))
        right = sum(verdicts) if verdicts else None
        index.files.setdefault(row["task"], {})[row["variant_id"]] = (name, len(items), right)
    return index


def _item(row: dict[str, Any], metric: str) -> list[Any]:
    metrics = _loads(row["metrics"]) or {}
    score = metrics.get(metric)
    return [
        row["doc_id"],
        row["subtask"],
        row["category"],
        row["correct"],
        score if isinstance(score, int | float) and not isinstance(score, bool) else None,
        row["prompt"],
        _loads(row["choices"]),
        _loads(row["loglikelihoods"]),
        row["pick"],
        row["generation"],
        row["extracted"],
        row["target"],
        row["sandbox"],
    ]


def items_link(task: str, variant: str) -> str:
    """The link a task score's cell gets to its items in the panel (the panel reads the page address)."""
    query = urlencode({"task": task, "a": variant})
    return f' <a class="slmb-act" href="?{attr(query)}#items" title="every item behind this score">items</a>'


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def items_panel(
    index: ItemIndex,
    root: str,
    labels: dict[str, str],
    task_order: list[str],
    pair_ranks: dict[str, int] | None = None,
) -> str:
    """The Items section of a model page: controls, an empty list and the index the script reads."""
    if not index.files:
        return "No per-item results were kept for this model's runs.\n"
    tasks = [t for t in task_order if t in index.files] + sorted(t for t in index.files if t not in task_order)
    variants = [v for v in labels if any(v in index.files[t] for t in tasks)]
    data = {
        "base": root + index.base,
        "labels": {v: labels[v] for v in variants},
        "tasks": {t: {v: list(f) for v, f in index.files[t].items()} for t in tasks},
        # each variant's pair file (evals.site.pairs): compare mode shows the pair's paired test
        "pairs": {v: r for v, r in (pair_ranks or {}).items() if v in variants},
        "pairsBase": root + "assets/slmb/pairs/",
    }
    task_options = "".join(f'<option value="{attr(t)}">{html(t)}</option>' for t in tasks)
    variant_options = "".join(f'<option value="{attr(v)}">{html(labels[v])}</option>' for v in variants)
    return (
        "Every evaluated item of a task: the exact prompt the model was given (few-shot examples included), "
        "its answer (each choice's log-likelihood, or the generated text and what the task's filter extracted), "
        "the target, and whether it was right. Pick a second variant to compare them item by item, the items "
        "where they disagree first.\n\n"
        '<div id="slmb-items" class="slmb-items">'
        '<form class="slmb-controls" onsubmit="return false">'
        f'<select id="slmb-items-task" aria-label="Task"><option value="">Choose a task</option>{task_options}</select>'
        f'<select id="slmb-items-a" aria-label="Variant">{variant_options}</select>'
        '<select id="slmb-items-b" aria-label="Compare with">'
        f'<option value="">Compare with (none)</option>{variant_options}</select>'
        '<select id="slmb-items-show" aria-label="Show"></select>'
        '<select id="slmb-items-cat" aria-label="Category" hidden></select>'
        '<input type="search" id="slmb-items-q" placeholder="Search prompts and answers" '
        'aria-label="Search prompts and answers" autocomplete="off">'
        "</form>"
        '<p id="slmb-items-count" class="slmb-count" aria-live="polite">'
        "Choose a task: its items load when you open it.</p>"
        '<p id="slmb-items-paired" class="slmb-count" hidden></p>'
        '<div id="slmb-items-list"></div>'
        '<p><button type="button" class="md-button" id="slmb-items-more" hidden>Show more</button></p>'
        "<noscript><p>The item browser needs JavaScript.</p></noscript>"
        "</div>\n"
        f'<script type="application/json" id="slmb-items-index">{script_json(data)}</script>\n'
        f'<script src="{root}assets/slmb/items.js" defer></script>\n'
    )


def script_json(value: Any) -> str:
    """JSON to place inside a ``<script>`` element: nothing in it can close the element or open a comment."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
