"""The "reproduce this score" boxes of a model page: one per task score, with its commands (``evals.site.reproduce``).

Each box is static HTML, shown by the CSS ``:target`` rule when its score's
"reproduce" link is followed (no script of ours); mkdocs-material's copy
button (``content.code.copy``) on each command puts it on the clipboard
exactly as shown.
Newlines inside a command are written as ``&#10;``, so a box is one line of
HTML that Markdown leaves alone.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import polars as pl

from evals.catalog.suites import Catalog, TaskEntry
from evals.site.reproduce import PACK_DIR, PublishedScore, Reproduction, reproduce
from evals.site.text import attr, html, slug
from evals.catalog.definitions import definitions_frame

REPO_ROOT = Path(__file__).resolve().parents[2]


def box_id(task: str, variant_key: str) -> str:
    return f"repro-{slug(task)}--{variant_key}"


def reproduce_link(task: str, variant_key: str) -> str:
    """The link a task score's cell gets to its box."""
    return (
        f' <a class="slmb-act" href="#{box_id(task, variant_key)}" title="the commands behind this score">reproduce</a>'
    )


def reproduce_boxes(
    tasks: pl.DataFrame,
    runs: pl.DataFrame,
    keys: dict[str, str],
    labels: dict[str, str],
    catalog: Catalog,
) -> str:
    """Every task score's box (``tasks``: the model's rows of ``views.task_table``)."""
    by_variant = {r["variant_id"]: r for r in runs.iter_rows(named=True)}
    # Each task as its run defined it (a user's task included); the catalog's for runs that recorded none.
    recorded = {(d["run_id"], d["task"]): d for d in definitions_frame(runs).iter_rows(named=True)}
    boxes = []
    for row in tasks.sort("task", "variant_id").iter_rows(named=True):
        entry = catalog.tasks.get(row["task"])
        run = by_variant.get(row["variant_id"])
        definition = recorded.get((run["run_id"], row["task"])) if run else None
        if (entry is None and definition is None) or run is None or row["value"] is None:
            continue
        rule = definition or {"lm_eval": entry.lm_eval, "metric": entry.metric, "filter": entry.filter}  # type: ignore[union-attr]
        if definition and definition["user"]:
            folder = run.get("tasks_folder")  # the copies of the user's task files the run kept
        else:
            folder = task_dir(entry, catalog) if entry else None
        score = PublishedScore(
            run=run,
            task=row["task"],
            lm_eval_task=rule["lm_eval"],
            metric=rule["metric"],
            filter=rule["filter"],
            num_fewshot=row["num_fewshot"] or 0,
            value=row["value"],
            n_samples=row["n_samples"],
            task_dir=folder,
            dataset_revision=row.get("dataset_revision"),
        )
        boxes.append(_box(score, reproduce(score), box_id(row["task"], keys[row["variant_id"]]), labels))
    return '<div class="slmb-repros">' + "".join(boxes) + "</div>\n" if boxes else ""


def _box(score: PublishedScore, commands: Reproduction, anchor: str, labels: dict[str, str]) -> str:
    variant = str(score.run["variant_id"])
    head = (
        f'<p class="slmb-repro-title"><strong>Reproduce {html(score.task)} · {html(labels.get(variant, variant))}'
        f"</strong> · published {html(score.metric)} ({html(score.filter)}) = <code>{score.value!r}</code> "
        f"on {score.n_samples:,} documents, run <code>{html(score.run['run_id'])}</code>"
        f' <a class="slmb-act" href="#task-scores">close</a></p>'
    )
    parts = [head]
    if commands.lm_eval is not None:
        parts.append("<p>With lm-eval alone (its HF model, the same task files, settings and seed):</p>")
        parts.append(_command(commands.lm_eval, "lm-eval"))
    else:
        parts.append(f'<p class="slmb-hint">No plain lm-eval command: {html(commands.why_not)}</p>')
    parts.append("<p>With SLM Bench (the run that measured it, every task of the suite):</p>")
    parts.append(_command(commands.slmbench, "slmbench"))
    return f'<section class="slmb-repro" id="{anchor}" data-variant="{attr(variant)}">' + "".join(parts) + "</section>"


def _command(text: str, kind: str) -> str:
    body = html(text).replace("\n", "&#10;")
    return f'<div class="slmb-cmd" data-kind="{kind}"><pre><code>{body}</code></pre></div>'


def task_dir(entry: TaskEntry, catalog: Catalog) -> str | None:
    """The task's folder as a reader has it in a checkout: the offline pack, a catalog task folder, or lm-eval's own."""
    if entry.pack == "offline":
        return PACK_DIR
    for folder in catalog.tasks_dirs:
        if entry.lm_eval in _defined_tasks(Path(folder).resolve()):
            path = Path(folder).resolve()
            return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
    return None


@functools.cache
def _defined_tasks(folder: Path) -> frozenset[str]:
    """The task names the YAML files of a folder define (their ``task:`` lines)."""
    names = set()
    for path in folder.glob("*.yaml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            found = re.match(r"task:\s*(\S+)\s*$", line)
            if found:
                names.add(found.group(1).strip("'\""))
    return frozenset(names)
