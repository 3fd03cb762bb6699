"""Flow ``benchmark_submission``: a submission file in, measured and staged scores out.

validate -> suite, weights, task index, task data, task costs -> plan (evals.plan.prepare) -> run folder
-> waves of variants loaded together (all at once where the cluster has room): Ray actors,
   one Prefect task per unit (or shard), shards merged, then the wave's edge units one at a time
-> frames (scores, edge, runs) in the run folder -> contracts -> staging tables -> summary artifact

Along the way the run writes its state to the submissions queue (``tasks.queue``): started,
then its progress by tenths of its units, and why it failed (a flow hook).
"""

from __future__ import annotations

import re
from pathlib import Path

from prefect import flow, unmapped

from contracts.errors import UserError
from contracts.expectations import warm_up
from contracts.tables import GIT_SHA
from evals.cluster.pool import PoolOptions
from evals.edge.measurement import EdgeReport
from evals.engine.execution import UnitReport
from evals.paths import WAREHOUSE
from evals.plan.prepare import prepare_plan
from evals.plan.units import PlanOptions
from flows.parameters import SubmissionFile, SuiteName
from tasks.benchmark import (
    BENCHMARK_STEPS,
    check_pull_request_free,
    collect_results,
    find_edge,
    keep_costs,
    measure_edge,
    merge_shards,
    open_run,
    place_workers,
    report_summary,
    run_unit,
    start_workers,
    stop_workers,
    unit_reports,
    validate_submission,
)
from tasks.logs import say
from tasks.queue import note_failure, note_started, track_progress
from tasks.staging import stage_results


class BenchmarkFailed(UserError):
    """Some units failed; the message lists each with its cause."""


@flow(
    name="benchmark-submission",
    flow_run_name="benchmark {submission_path}",
    on_failure=[note_failure],
    on_crashed=[note_failure],
    on_cancellation=[note_failure],
)
def benchmark_submission(
    submission_path: SubmissionFile,
    suite: SuiteName = "offline",
    limit: int | None = None,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    seed: int = 1234,
    tasks_dirs: list[str] | None = None,
    output_dir: str | None = None,
    warehouse: str = WAREHOUSE,
    pr_number: int | None = None,
    head_sha: str | None = None,
    submission_yaml: str | None = None,
    batch_size: int = 1,
    dataset_revisions: dict[str, str] | None = None,
) -> str:
    """Evaluate every variant of a submission on a suite; returns the run id.

    A submission that comes from a pull request (``pr_number`` or ``submission_yaml`` given)
    may name only hub weights or files in its own folder.

    Args:
        submission_path: The submission YAML, relative to the repository (models/submissions/...).
        suite: The catalog suite to run (the CLI also takes a suite file, path.yaml[:name]).
        limit: Documents per task; empty runs every document (5 is a quick smoke test).
        workers: Model actors per variant; empty: one per GPU, or one per CPU core as memory allows.
        threads_per_worker: CPU threads per actor; empty: the cores divided among the actors.
        seed: The seed of every random choice (few-shot sampling, generation).
        tasks_dirs: Extra lm-eval task folders to read tasks from (a suite file's own tasks).
        output_dir: The run folder; empty: .slmbench/runs/<run id>.
        warehouse: The Delta tables' URI: a local folder or any URI deltalake supports.
        pr_number: The pull request the run tests (ChatOps sets it; one benchmark per PR at a time).
        head_sha: The pull request's head commit the submission was read at (40 hex digits).
        submission_yaml: The submission's text, when the file is not on this machine (ChatOps passes it).
        batch_size: Requests per forward pass on the transformers backend (llama.cpp scores one at a time).
        dataset_revisions: Catalog task -> the hub dataset commit to load (empty: the commit the hub resolves).
    """
    warm_up()  # contracts run at the end; their library imports meanwhile
    if head_sha is not None and not re.fullmatch(GIT_SHA, head_sha):
        raise UserError(
            f"head_sha: {head_sha!r} is not a full git commit id (40 lowercase hex digits); "
            "pass the pull request's head commit, or leave it empty"
        )
    if pr_number is not None:
        check_pull_request_free(pr_number, submission_path)
    from_pull_request = pr_number is not None or submission_yaml is not None
    submission = validate_submission(submission_path, submission_yaml, from_pull_request)
    note_started(warehouse, submission_path, submission.model.name, pr_number, head_sha)
    tasks_paths = tuple(Path(d) for d in tasks_dirs or ())
    options = PlanOptions(
        suite=suite,
        limit=limit,
        seed=seed,
        tasks_dirs=tasks_paths,
        submission_path=submission_path,
        workers=workers,
        batch_size=batch_size,
        dataset_revisions=tuple(sorted((dataset_revisions or {}).items())),
    )
    plan = prepare_plan(submission, options, BENCHMARK_STEPS)
    run = open_run(plan, submission, output_dir, pr_number, head_sha, submission_yaml)
    say(f"run {run.run_id}: {len(plan.units)} units and shards, {len(plan.variants)} variant(s) -> {run.run_dir}")

    progress = track_progress(warehouse, plan, submission, run)
    pool_options = PoolOptions(workers=workers, threads_per_worker=threads_per_worker)
    found = {v.variant_id: find_edge(plan, v, pool_options, run) for v in plan.variants}
    placement = place_workers(plan, pool_options, frozenset(v for v, f in found.items() if f is not None))
    reports: list[UnitReport] = []
    edge: list[EdgeReport] = []
    for wave in placement.waves:  # the variants loaded together: all at once where the cluster has room
        pools = start_workers(plan, wave)
        units = [u for u in plan.units if u.variant.variant_id in pools]  # largest first, variants interleaved
        runs = run_unit.map(
            units, [pools[u.variant.variant_id] for u in units], unmapped(run.run_dir), unmapped(progress)
        )
        done = unit_reports(units, runs, progress)
        reports += done
        for pool in pools.values():
            reports += merge_shards(plan, pool.variant, pool, run.run_dir, done, progress)
        if plan.measure_edge:  # after the wave's units, one at a time: nothing else runs on the node meanwhile
            edge += [measure_edge(pool, run, progress, pool_options, found[v]) for v, pool in pools.items()]
        stop_workers(pools)

    frames = collect_results(run, plan, submission, reports, edge, warehouse)
    keep_costs(plan, reports)
    status = stage_results(frames, warehouse, plan, run)
    report_summary(run, frames)
    say(frames.summary)
    if status == "failed" and not frames.failures:
        raise BenchmarkFailed(f"run {run.run_id} failed its contracts; see {run.run_dir / 'contracts.md'}")
    if frames.failures:
        raise BenchmarkFailed(
            f"{len(frames.failures)} of {len(plan.result_units())} units failed (finished units are cached; rerun to resume):\n"
            + "\n".join(f"  - {r.name}: {r.error}" for r in frames.failures)
        )
    return run.run_id
