"""Planning: (submission, suite, located weights, task index, located task data, task costs, options) -> frozen work units.

A work unit is one variant x one lm-eval task. Groups such as mmlu are split
into their leaf subtasks so they spread over workers; scoring puts them back
together the way lm-eval aggregates them. A unit's name
(``<variant>/<subtask>``) is its output path; its content key is its cache key,
which holds the dataset revision of a hub-backed task (``evals.catalog.task_data``).

Units are sized by cost (``evals.catalog.costs``: requests x tokens per document) and
a task that would cost more than ``1 / granularity`` of its variant's total is
split into document-range shards (``evals.engine.sharding``), named
``<variant>/<subtask>[start:stop]`` and cached one by one; the shards of a task
merge back into the one unit whose results the run reports.

:func:`make_plan` is a pure function of its inputs (and of the code installed:
library versions and the digest of our engine's code go into every unit's
key), and records every task's definition (``evals.catalog.definitions``) for
the run's tables. Its inputs are found before, each by a step of its own;
``evals.plan.prepare`` chains those steps, in their one order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from contracts.backends import BACKENDS
from contracts.checks import EDGE_UNIT
from contracts.errors import UserError
from contracts.submission import Submission
from evals.catalog import costs
from evals.catalog.checks import check_planned_task
from evals.catalog.costs import TaskCost
from evals.catalog.definitions import TaskDefinition, define_task
from evals.catalog.index import TaskIndex
from evals.catalog.suites import CatalogError, SuiteCatalog, TaskEntry, load_catalog
from evals.catalog.task_data import TaskData, locate_task_data
from evals.engine import sharding
from evals.models.variants import Variant
from evals.provenance import engine_digest, library_versions
from evals.sandbox import require_isolation


@dataclass(frozen=True)
class PlanOptions:
    suite: str = "offline"
    limit: int | None = None
    seed: int = 1234
    tasks_dirs: tuple[Path, ...] = ()
    submission_path: str = ""  # the file the submission came from, as the runs table records it
    # The workers the user asked for, if any. Shards are sized for evals.engine.sharding.GRANULARITY
    # workers, whatever the count, so their cache keys hold across worker counts; only more
    # workers than that make finer shards.
    workers: int | None = None
    # Requests per forward pass of the transformers backend (lm-eval's batch_size); llama.cpp scores
    # one request at a time. Padding moves log-likelihoods by float32 rounding only (tests/evals/backends).
    batch_size: int = 1
    # (catalog task, dataset commit) pins on top of the suite's own (the catalog's ``revision``).
    dataset_revisions: tuple[tuple[str, str], ...] = ()

    @property
    def granularity(self) -> int:
        """No unit costs more than 1/granularity of its variant's total."""
        return max(sharding.GRANULARITY, self.workers or 0)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UserError(f"batch_size: must be a whole number >= 1, got {self.batch_size}")


def effective_batch_size(variant: Variant, batch_size: int) -> int:
    """The batch size a variant's units run at: the asked one where its backend batches, else 1."""
    return batch_size if BACKENDS[variant.backend].batches else 1


@dataclass(frozen=True)
class WorkUnit:
    """One variant on one lm-eval task: the grain of scheduling and caching."""

    variant: Variant
    task: str  # catalog key
    subtask: str  # the lm-eval task actually run (== lm_eval name unless a group was split)
    category: str
    num_fewshot: int | None
    limit: int | None
    seed: int
    output_type: str
    cost: float  # estimated requests x tokens (evals.catalog.costs), token-equivalents
    task_config_hash: str
    backend_versions: tuple[tuple[str, str], ...]
    executes_code: bool = False  # runs model-generated programs in evals.sandbox
    docs: sharding.DocRange | None = None  # a shard: documents [start, stop) of the task; None: the whole task
    cost_source: str = "guess"  # where the cost figures came from (evals.catalog.costs.TaskCost.source)
    batch_size: int = 1  # requests per forward pass (effective_batch_size)
    # evals.provenance.engine_digest: the code that evaluates it (with the sandbox's, for code units).
    code_digest: str = ""
    # The commit of the hub dataset the task reads (evals.catalog.task_data); None: local data, which
    # task_config_hash covers.
    dataset_revision: str | None = None

    @property
    def name(self) -> str:
        shard = f"[{self.docs[0]}:{self.docs[1]}]" if self.docs else ""
        return f"{self.variant.variant_id}/{self.subtask}{shard}"

    @property
    def is_shard(self) -> bool:
        return self.docs is not None

    @cached_property
    def cache_key(self) -> str:
        """Everything that can change the unit's scores, and nothing else."""
        key = {
            "code": self.code_digest,
            "weights": self.variant.weights_digest,
            "revision": self.variant.revision,
            "backend": self.variant.backend,
            "quantization": self.variant.quantization,
            "dtype": self.variant.dtype,
            "task": self.subtask,
            "task_config": self.task_config_hash,
            "num_fewshot": self.num_fewshot,
            # A shard's documents are its range whatever the run's limit: shards of runs with other limits share it.
            "limit": None if self.docs else self.limit,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "versions": dict(self.backend_versions),
        }
        if self.variant.chat_template:  # other prompts: the template (by digest) and lm-eval's options
            key["chat_template"] = {"sha256": self.variant.chat_template_sha256, **self.variant.chat_options()}
        if self.docs:
            key["docs"] = list(self.docs)
        if self.dataset_revision is not None:  # new upstream data is a new key (local data is in task_config)
            key["dataset_revision"] = self.dataset_revision
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Plan:
    submission_path: str
    suite: str
    units: tuple[WorkUnit, ...]
    variants: tuple[Variant, ...]
    include_paths: tuple[str, ...]
    needs_builtin_tasks: bool
    skipped_categories: tuple[str, ...] = field(default=())
    # One edge unit per variant (evals.edge.measurement) when the submission asks for the edge category.
    measure_edge: bool = False
    seed: int = 1234
    # The definitions of the planned tasks, as the run's contracts, scoring and site use them.
    tasks: tuple[TaskDefinition, ...] = ()
    batch_size: int = 1  # as asked; each unit's is its effective one
    suite_file: str | None = None  # the user's suite file the tasks came from, if any

    @property
    def total_cost(self) -> float:
        return sum(u.cost for u in self.units)

    def units_of(self, variant: Variant) -> list[WorkUnit]:
        return [u for u in self.units if u.variant == variant]

    def result_units(self, variant: Variant | None = None) -> list[WorkUnit]:
        """The units whose results the run reports: one per variant and lm-eval task, its shards merged."""
        wholes: dict[tuple[str, str], WorkUnit] = {}
        for u in self.units if variant is None else self.units_of(variant):
            key = (u.variant.variant_id, u.subtask)
            if key not in wholes:
                wholes[key] = replace(u, docs=None, cost=0.0)
            wholes[key] = replace(wholes[key], cost=wholes[key].cost + u.cost)
        return list(wholes.values())

    def shards_of(self, unit: WorkUnit) -> list[WorkUnit]:
        """The shards of a result unit, in document order (empty when it runs whole)."""
        shards = [u for u in self.units if u.is_shard and u.variant == unit.variant and u.subtask == unit.subtask]
        return sorted(shards, key=lambda u: u.docs or (0, 0))

    def expected_units(self) -> dict[str, list[str]]:
        """variant_id -> the catalog tasks planned for it, plus ``"edge"`` when its edge unit is planned.

        What the run's rows must cover: staging checks them against it (``contracts.checks.RunPlan``).
        """
        edge = [EDGE_UNIT] if self.measure_edge else []
        return {v.variant_id: sorted({u.task for u in self.units_of(v)}) + edge for v in self.variants}

    def table(self) -> str:
        lines = ["| # | unit | category | few-shot | limit | est. cost | from |", "|---|---|---|---|---|---|---|"]
        for i, u in enumerate(self.units, 1):
            shots = "-" if u.num_fewshot is None else str(u.num_fewshot)
            limit = "all" if u.limit is None else str(u.limit)
            lines.append(f"| {i} | {u.name} | {u.category} | {shots} | {limit} | {u.cost:,.0f} | {u.cost_source} |")
        if self.measure_edge:
            lines += [f"| edge | {v.variant_id}/edge | edge | - | - | - | - |" for v in self.variants]
        return "\n".join(lines)


def planned_tasks(submission: Submission, catalog: SuiteCatalog) -> list[tuple[str, TaskEntry]]:
    """The suite's tasks in the submission's categories; an error when there are none (and no edge unit)."""
    wanted = set(submission.model.categories)
    entries = catalog.entries(wanted)
    if not entries and "edge" not in wanted:
        raise CatalogError(
            f"suite {catalog.name!r} has no task in the submission's categories {sorted(wanted)}; "
            "choose another suite or add categories"
        )
    return entries


def index_tasks(submission: Submission, catalog: SuiteCatalog) -> TaskIndex:
    """The lm-eval index of the tasks a plan will run, each checked against what the run's contracts will demand
    (``evals.catalog.checks``), so a run that could never pass fails here; builds the offline task pack first
    when a task needs it."""
    from evals.catalog.pack import build_pack

    entries = planned_tasks(submission, catalog)
    if any(entry.executes_code for _, entry in entries):
        require_isolation()  # refuse here, before anything runs, where code would run weakly isolated
    include_paths = tuple(str(p) for p in catalog.catalog.tasks_dirs)
    project_paths = {str(p) for p in load_catalog().tasks_dirs}
    user_paths = tuple(p for p in include_paths if p not in project_paths)
    if any(entry.pack == "offline" for _, entry in entries):
        include_paths = (str(build_pack()),) + include_paths
    index = TaskIndex.for_names([e.lm_eval for _, e in entries], include_paths, user_paths)
    for name, entry in entries:
        check_planned_task(name, entry, index, catalog.catalog.defined_in(name))
    return index


def locate_data(submission: Submission, catalog: SuiteCatalog, index: TaskIndex) -> dict[str, TaskData]:
    """The hub datasets of the planned tasks, in the datasets cache at a known commit (``evals.catalog.task_data``)."""
    return locate_task_data(index, planned_tasks(submission, catalog))


def estimate_costs(
    submission: Submission,
    catalog: SuiteCatalog,
    index: TaskIndex,
    options: PlanOptions,
    task_data: Mapping[str, TaskData] | None = None,
) -> dict[str, TaskCost]:
    """The cost figures of every lm-eval task the plan will run (``evals.catalog.costs``), stored or built.

    A task with local data, or whose hub data is located (``task_data``), is costed from lm-eval's own
    requests on its real rows. lm-eval's task objects are loaded only when a task could be sharded or
    when its figures are not stored yet; otherwise a run whose limit leaves fewer documents than two
    shards need uses stored figures or, for local data, guesses over the real document count.
    """
    wanted = {
        (subtask, entry.num_fewshot)
        for _, entry in planned_tasks(submission, catalog)
        for subtask in index.leaf_tasks(entry.lm_eval)
    }
    could_shard = options.limit is None or options.limit >= 2 * sharding.MIN_SHARD_DOCS
    return costs.estimate(index, sorted(wanted, key=str), profile=could_shard, task_data=task_data or {})


def make_plan(
    submission: Submission,
    catalog: SuiteCatalog,
    variants: Sequence[Variant],
    index: TaskIndex,
    options: PlanOptions,
    task_costs: Mapping[str, TaskCost] | None = None,
    task_data: Mapping[str, TaskData] | None = None,
) -> Plan:
    """The work units of a submission; raises a clear error for anything unknown. Pure: it reads only its inputs.

    ``task_costs`` (:func:`estimate_costs`) sizes the units; a task without figures is costed
    by a guess and never sharded. ``task_data`` (:func:`locate_data`) gives each hub-backed
    task's dataset revision, which goes into its units' keys.
    """
    entries = planned_tasks(submission, catalog)
    data = task_data or {}
    wanted = set(submission.model.categories)
    measure_edge = "edge" in wanted
    units: list[WorkUnit] = []
    for variant in variants:
        wholes = [
            _unit(variant, name, entry, subtask, index, options, (task_costs or {}).get(subtask), data.get(subtask))
            for name, entry in entries
            for subtask in index.leaf_tasks(entry.lm_eval)
        ]
        total = sum(u.cost for u in wholes)
        for whole in wholes:
            units += _shards(whole, (task_costs or {}).get(whole.subtask), total, options)
    # Largest first, so the long units start early and the tail is short.
    units.sort(key=lambda u: (-u.cost, u.name))
    measured = {entry.category for _, entry in entries} | ({"edge"} if measure_edge else set())
    return Plan(
        submission_path=options.submission_path,
        suite=options.suite,
        units=tuple(units),
        variants=tuple(variants),
        include_paths=index.include_paths,
        needs_builtin_tasks=index.uses_builtin,
        skipped_categories=tuple(sorted(wanted - measured)),
        measure_edge=measure_edge,
        seed=options.seed,
        tasks=tuple(define_task(name, entry, catalog.catalog, index) for name, entry in entries),
        batch_size=options.batch_size,
        suite_file=str(catalog.catalog.suite_file) if catalog.catalog.suite_file else None,
    )


def _shards(whole: WorkUnit, cost: TaskCost | None, variant_cost: float, options: PlanOptions) -> list[WorkUnit]:
    """The unit itself, or its document-range shards when it would cost too large a share of its variant."""
    if cost is None or cost.source == "guess" or cost.n_docs is None:
        return [whole]  # an unknown document count cannot be split into ranges
    n_docs = cost.docs(whole.limit)
    count = sharding.shard_count(whole.cost, n_docs, variant_cost, options.granularity)
    if count < 2:
        return [whole]
    return [replace(whole, docs=r, cost=(r[1] - r[0]) * cost.per_doc) for r in sharding.shard_ranges(n_docs, count)]


def _unit(
    variant: Variant,
    name: str,
    entry: TaskEntry,
    subtask: str,
    index: TaskIndex,
    options: PlanOptions,
    cost: TaskCost | None,
    data: TaskData | None = None,
) -> WorkUnit:
    cfg = index.config(subtask)
    output_type = cfg.get("output_type", "multiple_choice")
    if cost is None:
        cost = costs.guess(output_type, index.size(subtask))
    versions = library_versions(variant.backend)
    return WorkUnit(
        variant=variant,
        task=name,
        subtask=subtask,
        category=entry.category,
        num_fewshot=entry.num_fewshot,
        limit=options.limit,
        seed=options.seed,
        output_type=output_type,
        cost=cost.docs(options.limit) * cost.per_doc,
        task_config_hash=index.config_hash(subtask),
        backend_versions=tuple(sorted(versions.items())),
        executes_code=entry.executes_code,
        cost_source=cost.source,
        batch_size=effective_batch_size(variant, options.batch_size),
        code_digest=engine_digest(entry.executes_code),
        dataset_revision=data.revision if data is not None else entry.revision,
    )
