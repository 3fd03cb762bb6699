"""The planning steps, chained once: submission + options -> a plan whose inputs were all found first.

Each step is a function of its own (``evals.plan.units``, ``evals.catalog``,
``evals.models.variants``); :class:`PlanSteps` names them, and
:func:`prepare_plan` runs them in their one order. Callers without Prefect (the
CLI, tests) take the plain steps; the benchmark flow passes its Prefect tasks
(``tasks.benchmark.BENCHMARK_STEPS``), which wrap the same functions and add
retries where a hub can hiccup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from contracts.submission import Submission
from evals.catalog.costs import TaskCost
from evals.catalog.index import TaskIndex
from evals.catalog.suites import SuiteCatalog, load_suite
from evals.catalog.task_data import TaskData
from evals.models.variants import Variant, resolve_variants
from evals.plan.units import Plan, PlanOptions, estimate_costs, index_tasks, locate_data, make_plan


def load_suite_of(options: PlanOptions) -> SuiteCatalog:
    """The suite (and its catalog) the options name, with their dataset revision pins."""
    return load_suite(options.suite, options.tasks_dirs, dict(options.dataset_revisions))


@dataclass(frozen=True)
class PlanSteps:
    """The callables of each planning step; the defaults are the plain functions."""

    load_suite: Callable[[PlanOptions], SuiteCatalog] = load_suite_of
    locate_weights: Callable[[Submission], list[Variant]] = resolve_variants
    index_tasks: Callable[[Submission, SuiteCatalog], TaskIndex] = index_tasks
    locate_data: Callable[[Submission, SuiteCatalog, TaskIndex], Mapping[str, TaskData]] = locate_data
    estimate_costs: Callable[..., Mapping[str, TaskCost]] = estimate_costs
    make_plan: Callable[..., Plan] = make_plan


def prepare_plan(submission: Submission, options: PlanOptions, steps: PlanSteps | None = None) -> Plan:
    """Every planning step in order; a bad input fails in the first step that can see it.

    The order, and why:
      1. the suite: a bad suite name or file fails in milliseconds;
      2. the weights, located (built, for a demo fixture; downloaded, for a hub model) and hashed: bad
         weights fail before the task pack builds or any dataset downloads;
      3. the task index (lm-eval's configs, the offline pack built when a task needs it), each task's config
         checked against its catalog entry and the contracts: a task that could never pass fails before
         its data is fetched;
      4. the task data: each hub dataset fetched into the datasets cache at a known commit (its revision),
         its splits checked; it must come after the index, which says which datasets the tasks read;
      5. the costs, from lm-eval's requests on the located rows (no hub dataset is a guess);
      6. the units: pure, from everything above.
    """
    s = steps or PlanSteps()
    catalog = s.load_suite(options)
    variants = s.locate_weights(submission)
    index = s.index_tasks(submission, catalog)
    task_data = dict(s.locate_data(submission, catalog, index))
    task_costs = dict(s.estimate_costs(submission, catalog, index, options, task_data))
    return s.make_plan(submission, catalog, variants, index, options, task_costs, task_data)


def plan_submission(submission: Submission, options: PlanOptions) -> Plan:
    """:func:`prepare_plan` with the plain steps, for callers without Prefect."""
    return prepare_plan(submission, options)
