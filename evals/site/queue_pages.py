"""The Submissions page (the queue, in the open) and one page per failed run.

Built from the warehouse alone, as it stood at the site's data version: the queue events
and staging runs written before the next leaderboard version (``Snapshot.until``; everything
when this is the latest) and the published runs of the data version. Prefect's own view
(runs waiting for a slot, runs that crashed) joins when the caller passes it (``live``).

Each submission file is listed once, in the state of its latest run (``evals.warehouse.queue``):
a failed run stays on the page, with its reason and a link to its report, until the file is
run again. Everything shown came from a submission or an error message: it is escaped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
import yaml

from evals import paths
from evals.site.snapshot import Snapshot
from evals.site.text import MISSING, attr, html, slug
from evals.warehouse.queue import attempts, read_queue, submission_states
from evals.warehouse.storage import read_table

# The page's sections: the states a reader looks for first come first.
SECTIONS = (
    ("running", "Running", "started, with the share of its work units done"),
    ("queued", "Queued", "a run was created and waits for a slot"),
    ("failed", "Failed", "the latest run failed; it stays here until the submission is run again"),
    ("validated", "Validated", "the pull request's check passed; no run yet"),
    ("staged", "Staged", "its results passed their contracts and wait to be published"),
    ("published", "Published", "on the leaderboard"),
)
REASON_CHARS = 160
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a run id as evals.results.run_folder names it: a folder name, never a path


@dataclass(frozen=True)
class QueueView:
    """What the Submissions page shows, and the table versions it was read at."""

    states: pl.DataFrame  # evals.warehouse.queue.submission_states
    failed: pl.DataFrame  # every failed attempt (attempts rows)
    queue_version: int | None
    staging_version: int | None
    with_prefect: bool


def read_view(uri: str, snapshot: Snapshot, live: pl.DataFrame | None = None) -> QueueView:
    """The queue as it stood at the snapshot's data version (``live``: Prefect's runs as queue events)."""
    events, staged, queue_version, staging_version = read_queue(uri, snapshot.until)
    published = read_table(uri, "runs", version=snapshot.data_version) if snapshot.data_version is not None else None
    published = staged.clear() if published is None else published
    tried = attempts(events, staged, published, live)
    return QueueView(
        states=submission_states(events, staged, published, live),
        failed=tried.filter(pl.col("state") == "failed"),
        queue_version=queue_version,
        staging_version=staging_version,
        with_prefect=live is not None,
    )


def write_queue_pages(
    uri: str,
    snapshot: Snapshot,
    pages_dir: Path,
    slugs: dict[str, str],
    live: pl.DataFrame | None = None,
) -> int:
    """``submissions.md`` and ``failures/<run>.md`` for each failed run; returns how many pages were written."""
    view = read_view(uri, snapshot, live)
    results_url = paths.results_url()
    pages = {_failure_slug(r["attempt"]): r for r in view.failed.iter_rows(named=True)}
    folder = pages_dir / "failures"
    folder.mkdir(parents=True, exist_ok=True)
    for name, row in pages.items():
        (folder / f"{name}.md").write_text(failure_page(row, results_url), encoding="utf-8")
    (pages_dir / "submissions.md").write_text(submissions_page(view, snapshot, slugs), encoding="utf-8")
    return 1 + len(pages)


def submissions_page(view: QueueView, snapshot: Snapshot, slugs: dict[str, str]) -> str:
    states = view.states
    counts = {state: states.filter(pl.col("state") == state).height for state, _, _ in SECTIONS}
    summary = " · ".join(f"{counts[state]} {title.lower()}" for state, title, _ in SECTIONS)
    date = snapshot.data_date.strftime("%Y-%m-%d %H:%M UTC") if snapshot.data_date else MISSING
    versions = f"staging runs v{_v(view.staging_version)}, queue v{_v(view.queue_version)}" + (
        ", and Prefect's runs when the site was built" if view.with_prefect else ""
    )
    parts = [
        "---\nhide:\n  - navigation\n  - toc\n---\n\n# Submissions\n",
        f'<p class="slmb-meta">As of data version {_v(snapshot.data_version)} ({date}): read from {versions}.</p>\n',
        "Every submission file, in the state of its latest run. A run that failed stays listed, with its reason "
        "and a link to its report, until the submission is run again.\n",
        f'<p class="slmb-queue-summary" id="slmb-queue-summary">{summary}</p>\n',
    ]
    for state, title, meaning in SECTIONS:
        rows = states.filter(pl.col("state") == state).sort("updated_at", descending=True, nulls_last=True)
        parts.append(f"## {title} ({rows.height})\n")
        parts.append(f"{meaning[0].upper()}{meaning[1:]}.\n")
        if rows.height:
            parts.append(_table(state, rows, slugs))
    return "\n".join(parts)


def _table(state: str, rows: pl.DataFrame, slugs: dict[str, str]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("Submission", "Status", "Pull request", "Started", "Last update"))
    body = "".join(_row(state, r, slugs) for r in rows.iter_rows(named=True))
    return (
        f'<div class="slmb-scroll"><table class="slmb-table slmb-queue" id="slmb-queue-{state}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>\n"
    )


def _row(state: str, r: dict, slugs: dict[str, str]) -> str:
    name = r.get("model_name")
    if name and state == "published" and name in slugs:
        model = f'<a href="../models/{attr(slugs[name])}/">{html(name)}</a>'
    else:
        model = html(name) if name else "<em>model not read yet</em>"
    submission = f'{model}<span class="slmb-ci"><code>{html(r["submission_path"])}</code></span>'
    pr = MISSING
    if r.get("pr_number") is not None:
        pr = f"#{int(r['pr_number'])}" + (f" at <code>{html(r['head_sha'][:7])}</code>" if r.get("head_sha") else "")
    cells = [submission, _status(state, r), pr, _time(r.get("started_at")), _time(r.get("updated_at"))]
    return f'<tr data-state="{state}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _status(state: str, r: dict) -> str:
    badge = f'<span class="slmb-badge slmb-state-{state}">{state}</span>'
    done, total = r.get("units_done"), r.get("units_total")
    parts = [badge]
    if state == "running" and total:
        share = min(1.0, (done or 0) / total)
        parts.append(
            f'<progress max="{total}" value="{done or 0}" aria-label="units done"></progress> '
            f"{done or 0} of {total} units ({100 * share:.0f}%)"
        )
    elif state == "running":
        parts.append(html(_one_line(r.get("detail")) or "started"))
    elif state == "failed":
        parts.append(f'<span class="slmb-reason">{html(_one_line(r.get("detail")) or "no reason recorded")}</span>')
        parts.append(f'<a href="../failures/{_failure_slug(r["attempt"])}/">report</a>')
    elif state in ("queued", "validated") and r.get("detail"):
        parts.append(html(_one_line(r.get("detail"))))
    if r.get("run_id"):
        parts.append(f'<span class="slmb-ci">run <code>{html(r["run_id"])}</code></span>')
    earlier = int(r.get("earlier") or 0)
    if earlier:
        failed = r.get("earlier_failed") or []
        links = ", ".join(f'<a href="../failures/{_failure_slug(a)}/">failed run</a>' for a in failed)
        parts.append(f'<span class="slmb-ci">{earlier} earlier run(s){": " + links if links else ""}</span>')
    return " ".join(parts)


def failure_page(row: dict, results_url: str | None) -> str:
    """One failed run: its full reason, its contracts report when the run folder is here, and where its files are."""
    run_id = row.get("run_id")
    title = f"Failed run {run_id or row['attempt']}"
    facts = [
        ("Submission", f"<code>{html(row['submission_path'])}</code>"),
        ("Model", html(row.get("model_name") or MISSING)),
        ("Run id", f"<code>{html(run_id)}</code>" if run_id else "not named: it failed before its run started"),
        ("Prefect flow run", f"<code>{html(row.get('flow_run_id') or MISSING)}</code>"),
        ("Pull request", f"#{int(row['pr_number'])}" if row.get("pr_number") is not None else MISSING),
        ("Started", _time(row.get("started_at"))),
        ("Failed", _time(row.get("updated_at"))),
    ]
    if row.get("units_total"):
        facts.append(("Work units done", f"{int(row.get('units_done') or 0)} of {int(row['units_total'])}"))
    parts = [
        "---\n" + yaml.safe_dump({"title": attr(title), "search": {"exclude": True}}, allow_unicode=True) + "---\n",
        f"<h1>{html(title)}</h1>\n",
        '<table class="slmb-facts">' + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts) + "</table>\n",
        "## Reason\n",
        f'<pre class="slmb-error">{html(row.get("detail") or "no reason recorded")}</pre>\n',
        "## Data contracts report\n",
        _report(row),
    ]
    if results_url and run_id:
        folder = f"{results_url}/{run_id}/"
        parts.append(
            f'The run\'s folder (results, samples, logs, reports): <a href="{attr(folder)}">{html(folder)}</a>\n'
        )
    parts.append("[Back to the submissions](../submissions.md)\n")
    return "\n".join(parts)


def _report(row: dict) -> str:
    """The run's ``contracts.json`` as a table, when its folder is on this machine."""
    run_id = row.get("run_id")
    folders = [Path(row["run_dir"])] if row.get("run_dir") else []
    if run_id and RUN_ID.fullmatch(run_id):
        folders.append(paths.runs_dir() / run_id)
    for folder in folders:
        report = folder / "contracts.json"
        if report.is_file():
            try:
                data = json.loads(report.read_text(encoding="utf-8"))
                failures = list(data.get("failures") or [])
            except (ValueError, AttributeError, TypeError):
                return f"The report in <code>{html(report)}</code> cannot be read.\n"
            if not failures:
                return f"All {int(data.get('expectations') or 0)} expectations passed: the run failed for the reason above.\n"
            head = "".join(f"<th>{h}</th>" for h in ("Table", "Column", "Expectation", "Detail"))
            body = "".join(
                "<tr>"
                + "".join(f"<td>{html(str(f.get(k) or ''))}</td>" for k in ("table", "column", "expectation", "detail"))
                + "</tr>"
                for f in failures
                if isinstance(f, dict)
            )
            return (
                f"{len(failures)} of {int(data.get('expectations') or 0)} expectations failed "
                f"(<code>{html(report.name)}</code> of the run):\n\n"
                f'<div class="slmb-scroll"><table class="slmb-table"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table></div>\n"
            )
    return (
        "No contracts report: the run failed before its rows were checked, or its folder is not on the machine "
        "that built this site (the reason above says what failed).\n"
    )


def _failure_slug(attempt: str) -> str:
    return slug(attempt)


def _one_line(text: str | None) -> str:
    if not text:
        return ""
    line = " ".join(str(text).split())
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 1] + "…"


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else MISSING


def _v(version: int | None) -> str:
    return MISSING if version is None else str(version)
