"""From unit outcomes to the rows of the ``scores`` and ``runs`` tables.

The values are lm-eval's, copied, never recomputed: one row per metric and
filter that lm-eval reported for the unit's task, with its stderr (null where
lm-eval says "N/A") and the number of documents it evaluated.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from contracts.backends import BACKENDS
from contracts.submission import Submission
from contracts.tables import EDGE, RETENTION, RUNS, SAMPLES, SANDBOX_ISOLATIONS, SCORES
from evals.backends.spec import scorer_name
from evals.catalog.definitions import definitions_json
from evals.cluster.balance import balance, describe
from evals.edge.measurement import EdgeReport
from evals.engine.cache import read_results
from evals.engine.execution import UnitReport
from evals.plan.units import Plan, WorkUnit, effective_batch_size
from evals.provenance import hardware_json, recorded_versions, repo_commit
from evals.results.run_folder import RunInfo


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def unit_score_rows(run_id: str, unit: WorkUnit, results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per metric and filter lm-eval reported for the unit's subtask."""
    metrics = results["results"][unit.subtask]
    n_samples = results.get("n-samples", {}).get(unit.subtask, {}).get("effective")
    rows = []
    for key, value in metrics.items():
        if "," not in key or "_stderr," in key or _number(value) is None:
            continue
        metric, filter_name = key.split(",", 1)
        rows.append(
            {
                "run_id": run_id,
                "variant_id": unit.variant.variant_id,
                "model_name": unit.variant.model_name,
                "task": unit.task,
                "subtask": unit.subtask,
                "metric": metric,
                "filter": filter_name,
                "value": _number(value),
                "stderr": _number(metrics.get(f"{metric}_stderr,{filter_name}")),
                "n_samples": n_samples,
                "category": unit.category,
                "num_fewshot": results.get("n-shot", {}).get(unit.subtask, unit.num_fewshot or 0),
                "task_version": str(results.get("versions", {}).get(unit.subtask, "")),
                "task_config_hash": unit.task_config_hash,
                "dataset_revision": unit.dataset_revision,
                "chat_template": unit.variant.chat_template,
            }
        )
    return rows


def result_reports(plan: Plan, reports: list[UnitReport]) -> list[UnitReport]:
    """The reports of the units whose results the run reports (a sharded task's merge, not its shards)."""
    names = {u.name for u in plan.result_units()}
    return [r for r in reports if r.name in names]


def scores_frame(run_id: str, plan: Plan, reports: list[UnitReport]) -> pl.DataFrame:
    by_name = {u.name: u for u in plan.result_units()}
    rows = []
    for report in result_reports(plan, reports):
        if report.status != "failed" and report.folder:
            rows += unit_score_rows(run_id, by_name[report.name], read_results(Path(report.folder)))
    return SCORES.conform(pl.DataFrame(rows, schema=SCORES.schema)) if rows else SCORES.empty()


def samples_frame(run_id: str, plan: Plan, reports: list[UnitReport]) -> pl.DataFrame:
    """Every item lm-eval logged for the run's finished units (``evals.results.samples``).

    A sharded task's items are its merge's (every document once, with its whole-task doc id), not its shards'.
    """
    from evals.results.samples import SampleRule, read_samples, unit_sample_rows

    definitions = {d.task: d for d in plan.tasks}  # the run's own tasks, a user's included
    by_name = {u.name: u for u in plan.result_units()}
    rows = []
    for report in result_reports(plan, reports):
        if report.status == "failed" or not report.folder:
            continue
        unit, folder = by_name[report.name], Path(report.folder)
        entry = definitions.get(unit.task)
        rule = SampleRule(
            entry.metric if entry else "",
            entry.item_category if entry else None,
            unit.subtask != unit.task,
            entry.cluster if entry else None,
        )
        variant = unit.variant.variant_id
        rows += unit_sample_rows(
            run_id, variant, unit.task, unit.subtask, read_results(folder), read_samples(folder), rule
        )
    return SAMPLES.conform(pl.DataFrame(rows, schema=SAMPLES.schema)) if rows else SAMPLES.empty()


def edge_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The run's edge rows (built by evals.edge.measurement to the EDGE table)."""
    return EDGE.conform(pl.DataFrame(rows, schema=EDGE.schema)) if rows else EDGE.empty()


def retention_frame(runs: pl.DataFrame, scores: pl.DataFrame, samples: pl.DataFrame | None = None) -> pl.DataFrame:
    """Each quantized variant's scores as a percentage of its unquantized sibling's (evals.results.retention)."""
    from evals.results.retention import retention
    from evals.scoring import default_spec

    if scores.is_empty():
        return RETENTION.empty()
    return retention(runs, scores, default_spec(), samples)


def runs_frame(
    info: RunInfo, plan: Plan, submission: Submission, reports: list[UnitReport], status: str, error: str | None
) -> pl.DataFrame:
    card = submission.model
    finished = datetime.now(UTC)
    by_name = {u.name: u for u in plan.result_units()}
    rows = []
    for variant in plan.variants:
        mine = [r for r in result_reports(plan, reports) if by_name[r.name].variant == variant]
        rows.append(
            {
                "run_id": info.run_id,
                "variant_id": variant.variant_id,
                "status": status,
                "submission_path": plan.submission_path,
                "submission_sha256": info.submission_sha256,
                "model_name": card.name,
                "hf_repo": card.hf_repo,
                "revision": variant.revision,
                "weights_digest": variant.weights_digest,
                "family": card.family,
                "parameters": card.parameters,
                "license": card.license,
                "architecture": card.architecture,
                "context_length": card.context_length,
                "submitted_by": card.submitted_by,
                "backend": variant.backend,
                "precision": variant.quantization,
                "tensor_types": variant.tensor_types,
                "chat_template": variant.chat_template,
                "chat_template_sha256": variant.chat_template_sha256,
                "fewshot_as_multiturn": variant.fewshot_as_multiturn,
                "system_instruction": variant.system_instruction,
                "suite": plan.suite,
                "limit": plan.units[0].limit if plan.units else None,
                "seed": plan.units[0].seed if plan.units else 0,
                "batch_size": effective_batch_size(variant, plan.batch_size),
                "scorer": scorer_name(variant.backend),
                "hardware": hardware_json(),
                "versions": json.dumps(recorded_versions(), sort_keys=True),
                "repo_commit": repo_commit(),
                "flow_run_id": info.flow_run_id,
                "pr_number": info.pr_number,
                "head_sha": info.head_sha,
                "started_at": info.started_at,
                "finished_at": finished,
                "task_definitions": definitions_json(plan.tasks),
                "tasks_folder": str(info.run_dir.resolve() / "tasks") if any(d.user for d in plan.tasks) else None,
                "n_units_planned": len(plan.result_units(variant)),
                "n_units_succeeded": sum(r.status != "failed" for r in mine),
                "sandbox_isolation": weakest_isolation([r.sandbox_isolation for r in mine]),
                "error": error,
                "test_model": card.test_model,
                "local_path": card.local_path,
            }
        )
    return RUNS.conform(pl.DataFrame(rows, schema=RUNS.schema))


def weakest_isolation(modes: list[str | None]) -> str | None:
    """The sandbox isolation a variant's code ran under: the weakest its units had (None: no code ran)."""
    ran = [m for m in modes if m is not None]
    return max(ran, key=SANDBOX_ISOLATIONS.index) if ran else None


def summary_markdown(
    info: RunInfo,
    plan: Plan,
    scores: pl.DataFrame,
    reports: list[UnitReport],
    edge: pl.DataFrame | None = None,
    retention: pl.DataFrame | None = None,
    changes: list[str] | None = None,
) -> str:
    """The run summary: primary metric per variant and task (the PR comment and Prefect artifact).

    ``changes``: for a re-submitted model, whether each variant moved significantly from its published
    version (``evals.results.resubmission``)."""
    definitions = {d.task: d for d in plan.tasks}
    variants = [v.variant_id for v in plan.variants]
    tasks = list(dict.fromkeys(u.task for u in plan.units))
    results = result_reports(plan, reports)
    shards = sum(u.is_shard for u in plan.units)
    lines = [
        f"## SLM Bench run `{info.run_id}`",
        "",
        f"Suite `{plan.suite}`, limit {plan.units[0].limit if plan.units else '-'}, "
        + (f"batch size {plan.batch_size}, " if any(BACKENDS[v.backend].batches for v in plan.variants) else "")
        + f"{len(results)} units ({sum(r.status == 'cached' for r in results)} from cache, "
        f"{sum(r.status == 'failed' for r in results)} failed)"
        + (f"; large tasks ran as {shards} shards." if shards else "."),
        "",
        "| task | category | metric | " + " | ".join(variants) + " |",
        "|---|---|---|" + "---|" * len(variants),
    ]
    for task in tasks:
        entry = definitions.get(task)
        metric, filt = (entry.metric, entry.filter) if entry else ("?", "none")
        cells = []
        for variant in variants:
            rows = scores.filter(
                (pl.col("variant_id") == variant)
                & (pl.col("task") == task)
                & (pl.col("metric") == metric)
                & (pl.col("filter") == filt)
            )
            if rows.height == 0:
                cells.append("—")
            elif rows.height == 1:
                value, stderr = rows["value"][0], rows["stderr"][0]
                cells.append(f"{value:.4f}" + (f" ± {stderr:.4f}" if stderr is not None else ""))
            else:  # a split group: size-weighted mean, as lm-eval aggregates it
                mean = (rows["value"] * rows["n_samples"]).sum() / rows["n_samples"].sum()
                cells.append(f"{mean:.4f} ({rows.height} subtasks)")
        category = entry.category if entry else "?"
        shown = f"{task} (user: {entry.source.replace('|', '/')})" if entry and entry.user else task
        lines.append(f"| {shown} | {category} | {metric} | " + " | ".join(cells) + " |")
    if edge is not None and not edge.is_empty():
        lines += ["", "| edge metric | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
        for metric in edge["metric"].unique(maintain_order=True):
            cells = []
            for variant in variants:
                row = edge.filter((pl.col("variant_id") == variant) & (pl.col("metric") == metric))
                if row.height:
                    sd = row["sd"][0]
                    cells.append(
                        f"{row['mean'][0]:.4g}" + (f" ± {sd:.2g}" if sd is not None else "") + f" {row['unit'][0]}"
                    )
                else:
                    cells.append("—")
            lines.append(f"| {metric} | " + " | ".join(cells) + " |")
        lines += ["", f"Hardware: `{edge['hardware_profile'][0]}`."]
        reused = edge.filter(pl.col("measured_in_run").is_not_null()).unique("variant_id", maintain_order=True)
        if reused.height:
            lines += [
                "",
                "Edge figures reused, not measured in this run: "
                + ", ".join(
                    f"`{r['variant_id']}` from run `{r['measured_in_run']}`" for r in reused.iter_rows(named=True)
                )
                + " (the same weights on this machine, measured the same way).",
            ]
    if retention is not None and not retention.is_empty():
        overall = retention.filter(pl.col("category") == "overall")
        if overall.height:
            lines += [
                "",
                "Quantization retention (overall): "
                + ", ".join(
                    (
                        f"{r['variant_id']} {r['retention_pct']:.1f}%"
                        if r["retention_pct"] is not None
                        else f"{r['variant_id']} —"
                    )
                    + _paired_note(r)
                    for r in overall.iter_rows(named=True)
                )
                + ".",
            ]
    lines += changes or []
    lines += balance_lines(plan, reports)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        lines += ["", "**Failed units**", ""] + [f"- `{r.name}`: {r.error}" for r in failed]
    if plan.skipped_categories:
        lines += ["", f"Not measured in this suite: {', '.join(plan.skipped_categories)}."]
    return "\n".join(lines) + "\n"


def _paired_note(row: dict[str, Any]) -> str:
    """' (-1.2 points, 95% -2.0 to -0.4, p = 0.003: significant)' for a retention row with a paired interval."""
    if row.get("difference") is None or row.get("p_value") is None:
        return ""
    verdict = "significant" if row["p_value"] < 0.05 else "within noise"
    return (
        f" ({row['difference']:+.1f} points, 95% {row['difference_ci_low']:+.1f} to {row['difference_ci_high']:+.1f},"
        f" p = {row['p_value']:.3g}: {verdict})"
    )


def balance_lines(plan: Plan, reports: list[UnitReport]) -> list[str]:
    """Each variant's idle share per worker and idle tail (evals.cluster.balance), over the units evaluated in this run."""
    names = {v.variant_id: {u.name for u in plan.units_of(v)} for v in plan.variants}
    lines = []
    for variant, mine in names.items():
        measured = balance([r for r in reports if r.name in mine])
        if measured is not None:
            lines.append(f"- `{variant}`: {describe(measured)}")
    return ["", "Worker balance (units evaluated in this run):", "", *lines] if lines else []


def schedule(reports: list[UnitReport]) -> list[dict[str, Any]]:
    """Where and when each unit ran (``schedule.json`` in the run folder)."""
    keys = ("name", "status", "worker", "started_at", "duration_s", "waited_s")
    return [{k: getattr(r, k) for k in keys} for r in reports]


@dataclass(frozen=True)
class RunResults:
    """Everything a finished run reports: its frames, its summary and the units that failed."""

    frames: dict[str, pl.DataFrame]  # runs, scores, edge, retention, samples
    summary: str
    failures: list[UnitReport]
    schedule: list[dict[str, Any]] = field(default_factory=list)  # every unit and shard: worker, start, duration


def run_results(
    info: RunInfo,
    plan: Plan,
    submission: Submission,
    reports: list[UnitReport],
    edge: list[EdgeReport],
    warehouse: str | None = None,
) -> RunResults:
    """The run's rows from its unit and edge reports; a failed unit or edge unit makes the run ``failed``.

    ``warehouse``: where the published tables are, so the summary says whether a re-submitted model's
    variants changed significantly from their published versions.
    """
    failures = [r for r in result_reports(plan, reports) if r.status == "failed"]
    failures += [UnitReport(e.name, "failed", None, 0.0, e.error) for e in edge if e.error]
    error = "; ".join(f"{r.name}: {r.error}" for r in failures) or None
    scores = scores_frame(info.run_id, plan, reports)
    edge_rows = edge_frame([row for e in edge for row in e.rows])
    runs = runs_frame(info, plan, submission, reports, "failed" if failures else "staged", error)
    samples = samples_frame(info.run_id, plan, reports)
    kept = retention_frame(runs, scores, samples)
    from evals.results.resubmission import resubmission_lines
    from evals.scoring import default_spec

    changes = resubmission_lines(warehouse, runs, scores, samples, default_spec())
    summary = summary_markdown(info, plan, scores, reports, edge_rows, kept, changes)
    frames = {"scores": scores, "edge": edge_rows, "runs": runs, "retention": kept}
    frames["samples"] = samples
    return RunResults(frames, summary, failures, schedule(reports))
