"""The steps of ``benchmark_submission``: thin Prefect tasks over ``evals``.

Tasks pass paths, ids and small frozen values; models live in Ray actors and
never cross a task boundary. Our own content-addressed cache (evals.engine.cache)
decides what reruns, so Prefect's input cache is off (``NO_CACHE``). Retries
are Prefect's, declared on the steps that can meet a transient failure, each
with a named predicate: locating weights (``_hub_hiccup``), locating task data
(``_dataset_hub_hiccup``) and running a unit (``_cluster_hiccup``). The planning
steps are chained in ``evals.plan.prepare``; :data:`BENCHMARK_STEPS` are its
steps as Prefect tasks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.futures import PrefectFutureList
from prefect.runtime import flow_run, task_run

from contracts.errors import UserError
from contracts.submission import Submission, load_submission, parse_submission
from evals.catalog.costs import TaskCost, record_measured
from evals.catalog.index import TaskIndex
from evals.catalog.suites import SuiteCatalog
from evals.catalog.task_data import TaskData
from evals.cluster.placement import Cluster, Placement, VariantLoad, Wave, place
from evals.cluster.pool import PoolOptions, WorkerPool, ensure_ray, is_transient, weights_bytes
from evals.cluster.progress import Progress
from evals.edge.measurement import EdgeReport
from evals.edge.reuse import EdgeStore, edge_key
from evals.engine.cache import UnitCache
from evals.engine.execution import UnitReport, execute_unit, failure_cause, merge_unit, needs_evaluation
from evals.models.variants import Variant, resolve_variants
from evals.plan.prepare import PlanSteps, load_suite_of
from evals.plan.units import (
    Plan,
    PlanOptions,
    WorkUnit,
    effective_batch_size,
    estimate_costs,
    index_tasks,
    locate_data,
    make_plan,
)
from evals.results.frames import run_results
from evals.results.run_folder import RunFolder, RunFrames, RunInfo, start_run
from tasks.flow_runs import unfinished_runs
from tasks.logs import say

UNIT_RETRIES = 2
HUB_RETRIES = 3


class PullRequestBusy(UserError):
    """Another benchmark of the same pull request is already under way."""


@task(name="check-pull-request-free", cache_policy=NO_CACHE)
def check_pull_request_free(pr_number: int, submission_path: str) -> None:
    """Refuse a second benchmark of one PR's submission, however it was started (ChatOps or the UI).

    The receiver already refuses a second ``/test-benchmark`` while the PR has runs (one per
    submission file it adds); a run started from the UI with a ``pr_number`` meets this check
    instead. The earliest-created unfinished run goes ahead, so two that start together do
    not both give up.
    """
    me = str(flow_run.get_id())
    with get_client(sync_client=True) as client:
        runs = unfinished_runs(client, str(flow_run.flow_name), pr_number)
    same_file = [r for r in runs if (r.parameters or {}).get("submission_path") == submission_path]
    ids = [str(r.id) for r in same_file]
    earlier = same_file[: ids.index(me)] if me in ids else same_file
    if earlier:
        raise PullRequestBusy(
            f"pr_number: a benchmark of {submission_path} for PR #{pr_number} is already under way "
            f"(flow run {earlier[0].id}, {earlier[0].state_name}); wait for it to finish or cancel it first"
        )


@task(name="validate-submission", cache_policy=NO_CACHE)
def validate_submission(path: str, text: str | None = None, from_pull_request: bool = False) -> Submission:
    """The submission file at ``path``, or ``text`` (named ``path``) when the caller passes the text.

    ``from_pull_request`` applies the rules for PR files (hub weights or the PR's own folder only),
    from the text alone, before anything looks at this machine's disk.
    """
    if text is None:
        return load_submission(path, from_pull_request=from_pull_request)
    return parse_submission(text, path, from_pull_request=from_pull_request)


@task(name="load-suite", cache_policy=NO_CACHE)
def load_suite_catalog(options: PlanOptions) -> SuiteCatalog:
    return load_suite_of(options)


@task(name="index-tasks", cache_policy=NO_CACHE)
def index_suite_tasks(submission: Submission, catalog: SuiteCatalog) -> TaskIndex:
    return index_tasks(submission, catalog)


def _hub_unreachable(error: BaseException | None) -> bool:
    """The hub did not answer (network, 429, 5xx): a hiccup; a bad file, name or token is not."""
    import httpx
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(error, HfHubHTTPError):
        status = error.response.status_code if error.response is not None else None
        return status is None or status == 429 or status >= 500
    return isinstance(error, httpx.TransportError | ConnectionError | TimeoutError)


def _hub_hiccup(task: Any, run: Any, state: Any) -> bool:
    """Retry locating weights when the hub did not answer (network, 429, 5xx), never for a bad file or name."""
    return _hub_unreachable(state.result(raise_on_failure=False))


def _dataset_hub_hiccup(task: Any, run: Any, state: Any) -> bool:
    """Retry locating task data when the dataset hub did not answer, never for a missing, gated or bad dataset.

    ``datasets`` reports a repo it cannot see as ``DatasetNotFoundError`` (a ``FileNotFoundError``, so
    not an ``OSError`` worth retrying); its own connection errors are ``ConnectionError``s.
    """
    from datasets.exceptions import DatasetNotFoundError

    error = state.result(raise_on_failure=False)
    if isinstance(error, UserError | DatasetNotFoundError):
        return False
    if _hub_unreachable(error):
        print(f"[retry] {run.name}: the dataset hub did not answer ({type(error).__name__}: {error})")
        return True
    return False


@task(
    name="locate-weights",
    cache_policy=NO_CACHE,
    retries=HUB_RETRIES,
    retry_delay_seconds=[5, 30, 120],
    retry_condition_fn=_hub_hiccup,
)
def locate_weights(submission: Submission) -> list[Variant]:
    """Every variant's weights, found (built, for a demo fixture; downloaded, for a hub model) and hashed."""
    return resolve_variants(submission)


@task(
    name="locate-task-data",
    cache_policy=NO_CACHE,
    retries=HUB_RETRIES,
    retry_delay_seconds=[5, 30, 120],
    retry_condition_fn=_dataset_hub_hiccup,
)
def locate_task_data(submission: Submission, catalog: SuiteCatalog, index: TaskIndex) -> dict[str, TaskData]:
    """Every planned task's hub dataset, fetched into the datasets cache, with the commit it resolved."""
    return locate_data(submission, catalog, index)


@task(name="estimate-costs", cache_policy=NO_CACHE)
def estimate_task_costs(
    submission: Submission,
    catalog: SuiteCatalog,
    index: TaskIndex,
    options: PlanOptions,
    task_data: dict[str, TaskData],
) -> dict[str, TaskCost]:
    return estimate_costs(submission, catalog, index, options, task_data)


@task(name="plan-benchmark", cache_policy=NO_CACHE)
def plan_benchmark(
    submission: Submission,
    catalog: SuiteCatalog,
    variants: list[Variant],
    index: TaskIndex,
    options: PlanOptions,
    task_costs: dict[str, TaskCost],
    task_data: dict[str, TaskData],
) -> Plan:
    return make_plan(submission, catalog, variants, index, options, task_costs, task_data)


# The planning chain of evals.plan.prepare, each step a Prefect task.
BENCHMARK_STEPS = PlanSteps(
    load_suite=load_suite_catalog,
    locate_weights=locate_weights,
    index_tasks=index_suite_tasks,
    locate_data=locate_task_data,
    estimate_costs=estimate_task_costs,
    make_plan=plan_benchmark,
)


@task(name="start-run", cache_policy=NO_CACHE)
def open_run(
    plan: Plan,
    submission: Submission,
    output_dir: str | None,
    pr_number: int | None,
    head_sha: str | None,
    submission_text: str | None = None,
) -> RunInfo:
    raw = Path(plan.submission_path).read_bytes() if submission_text is None else submission_text.encode()
    flow_run_id = flow_run.get_id()
    return start_run(
        plan,
        submission.model.name,
        raw,
        output_dir=output_dir,
        flow_run_id=str(flow_run_id) if flow_run_id else None,
        pr_number=pr_number,
        head_sha=head_sha,
    )


@task(name="find-edge", task_run_name="find edge {variant.variant_id}", cache_policy=NO_CACHE)
def find_edge(plan: Plan, variant: Variant, options: PoolOptions, run: RunInfo) -> EdgeReport | None:
    """The variant's edge figures measured by an earlier run of the same weights here (evals.edge.reuse), if any."""
    if not plan.measure_edge:
        return None
    key = edge_key(variant, options.workers, options.threads_per_worker)
    return EdgeStore().get(key, run.run_id, variant.variant_id)


@task(name="place-workers", cache_policy=NO_CACHE)
def place_workers(plan: Plan, options: PoolOptions, edge_reused: frozenset[str] = frozenset()) -> Placement:
    """Which variants are loaded together, with how many workers each, on this cluster (``evals.cluster.placement``).

    Only units that miss the cache count, and edge units whose figures are not reused (``edge_reused``:
    variant ids); Ray starts only when some variant needs an actor.
    """
    cache = UnitCache()
    missing = {v.variant_id: [u for u in plan.units_of(v) if needs_evaluation(u, cache)] for v in plan.variants}
    loads = [
        VariantLoad(
            variant.variant_id,
            units=len(missing[variant.variant_id]),
            edge=plan.measure_edge and variant.variant_id not in edge_reused,
            weights_bytes=weights_bytes(variant),
            cost=sum(u.cost for u in missing[variant.variant_id]),
        )
        for variant in plan.variants
    ]
    cluster = Cluster(cpus=os.cpu_count() or 1)
    if any(load.actors_needed for load in loads):
        import ray

        from evals.cluster.shipping import uses_ray_client
        from evals.engine.worker import prepare_environment_report

        if not uses_ray_client():  # a Ray Client driver is on no node: no actor shares its report
            prepare_environment_report()  # for the first actors on this node, meanwhile
        # Ray here, in the flow's own thread, not in a unit's: Ray's daemons are bound
        # (PR_SET_PDEATHSIG) to the thread that starts them and die when it ends.
        ensure_ray()
        cluster = Cluster.from_resources(ray.cluster_resources())
    placement = place(loads, cluster, options)
    say(placement.describe())
    return placement


@task(name="start-workers", cache_policy=NO_CACHE)
def start_workers(plan: Plan, wave: Wave) -> dict[str, WorkerPool]:
    """A pool for each variant of the wave; actors start on the first unit that misses the cache.

    After its last unit a pool keeps one actor when the variant still has an edge unit or shards to merge.
    """
    return {
        variant.variant_id: WorkerPool(
            variant,
            plan.include_paths,
            plan.needs_builtin_tasks,
            wave.pools[variant.variant_id],
            seed=plan.seed,
            batch_size=effective_batch_size(variant, plan.batch_size),
            units=wave.units[variant.variant_id],
            keep_one=plan.measure_edge or any(u.is_shard for u in plan.units_of(variant)),
        )
        for variant in plan.variants
        if variant.variant_id in wave.pools
    }


def _unit_run_name() -> str:
    return f"unit {task_run.parameters['unit'].name}"


def _cluster_hiccup(task: Any, run: Any, state: Any) -> bool:
    """Retry a unit only when the cluster or the network failed (``evals.cluster.pool.is_transient``), saying so."""
    error = state.result(raise_on_failure=False)
    if not is_transient(error):
        return False
    print(f"[retry] {run.name}: {failure_cause(error)}")
    return True


@task(
    name="run-unit",
    task_run_name=_unit_run_name,
    cache_policy=NO_CACHE,
    retries=UNIT_RETRIES,
    retry_delay_seconds=2,
    retry_condition_fn=_cluster_hiccup,
)
def run_unit(unit: WorkUnit, pool: WorkerPool, run_dir: Path, progress: Progress) -> UnitReport:
    report = execute_unit(unit, pool, UnitCache(), run_dir)
    say(progress.done(unit, report))
    return report


def unit_reports(units: list[WorkUnit], runs: PrefectFutureList[UnitReport], progress: Progress) -> list[UnitReport]:
    """Wait for the units; one that failed (after any retries) is a failed report: the run goes on."""
    reports = []
    for unit, outcome in zip(units, runs.result(raise_on_failure=False), strict=True):
        if not isinstance(outcome, UnitReport):
            outcome = UnitReport.failed(unit.name, outcome)
            get_run_logger().error("unit %s failed: %s", unit.name, outcome.error)
            say(progress.done(unit, outcome))
        reports.append(outcome)
    return reports


@task(name="merge-shards", task_run_name="merge {variant.variant_id}", cache_policy=NO_CACHE)
def merge_shards(
    plan: Plan, variant: Variant, pool: WorkerPool, run_dir: Path, reports: list[UnitReport], progress: Progress
) -> list[UnitReport]:
    """One report per sharded task of the variant: its shards merged by lm-eval's aggregation (evals.engine.sharding)."""
    by_name = {r.name: r for r in reports}
    merged = []
    for unit in plan.result_units(variant):
        shards = plan.shards_of(unit)
        if not shards:
            continue
        try:
            report = merge_unit(unit, shards, [by_name[s.name] for s in shards], pool, UnitCache(), run_dir)
        except Exception as exc:  # recorded as data, like a unit
            report = UnitReport.failed(unit.name, exc)
        if report.status == "failed":
            get_run_logger().error("unit %s failed: %s", unit.name, report.error)
        say(progress.merged(unit, report, len(shards)))
        merged.append(report)
    return merged


@task(name="measure-edge", task_run_name="edge {pool.variant.variant_id}", cache_policy=NO_CACHE)
def measure_edge(
    pool: WorkerPool, run: RunInfo, progress: Progress, options: PoolOptions, found: EdgeReport | None = None
) -> EdgeReport:
    """Edge figures of the variant, on one of its actors, after its units: nothing else runs meanwhile.

    ``found``: figures an earlier run measured of the same weights on this machine (``find_edge``),
    reused as they are and labelled so. Figures measured here are kept for later runs.
    """
    if found is not None:
        say(progress.edge_done(found.name, None, reused_from=found.reused_from))
        return found
    try:
        report = pool.measure_edge(run.run_id)
    except Exception as exc:  # recorded as data, like a unit
        report = EdgeReport(pool.variant.variant_id, error=failure_cause(exc))
        get_run_logger().error("edge unit %s failed: %s", report.name, report.error)
    EdgeStore().put(edge_key(pool.variant, options.workers, options.threads_per_worker), report, run.run_id)
    say(progress.edge_done(report.name, report.error))
    return report


@task(name="stop-workers", cache_policy=NO_CACHE)
def stop_workers(pools: dict[str, WorkerPool]) -> None:
    for pool in pools.values():
        pool.shutdown()


@task(name="collect-results", cache_policy=NO_CACHE)
def collect_results(
    info: RunInfo,
    plan: Plan,
    submission: Submission,
    reports: list[UnitReport],
    edge: list[EdgeReport],
    warehouse: str | None = None,
) -> RunFrames:
    """The run's rows and summary (which reads the published tables of ``warehouse``), written to its folder."""
    results = run_results(info, plan, submission, reports, edge, warehouse)
    return RunFolder(info.run_dir).write_results(results.frames, results.summary, results.failures, results.schedule)


@task(name="keep-costs", cache_policy=NO_CACHE)
def keep_costs(plan: Plan, reports: list[UnitReport]) -> None:
    """Figures of the guessed tasks, measured by this run, for later plans (evals.catalog.costs); only after a clean run."""
    if any(r.status == "failed" for r in reports):
        return  # a resumed run must plan the shards this one planned
    folders = {r.name: r.folder for r in reports if r.folder}
    measured = [
        (u.subtask, u.task_config_hash, u.num_fewshot, Path(folders[u.name]))
        for u in plan.result_units()
        if u.cost_source == "guess" and u.name in folders
    ]
    record_measured(measured)


@task(name="report-summary", cache_policy=NO_CACHE)
def report_summary(info: RunInfo, frames: RunFrames) -> None:
    create_markdown_artifact(
        key="benchmark-summary", markdown=frames.summary, description=f"SLM Bench run {info.run_id}"
    )
