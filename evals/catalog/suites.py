"""The task catalog: categories, weights, tasks and suites, read from YAML.

``catalog.yaml`` beside this file is the built-in catalog. A user suite file
(``--suite my_suite.yaml``) adds tasks and suites of its own; its tasks may
live in extra lm-eval task folders (``--tasks-dir``) so an air-gapped cluster
can run the real benchmarks from a local copy of their data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.errors import UserError
from contracts.names import did_you_mean, name_key, name_problem
from contracts.tables import PROPORTION_METRICS, is_bias_metric

CATALOG_PATH = Path(__file__).with_name("catalog.yaml")
# Measured by each variant's edge unit (evals.edge.measurement), never by a task.
EDGE_CATEGORY = "edge"


class CatalogError(UserError):
    """The catalog or a user suite file is wrong, or names something unknown."""


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: float = Field(gt=0, le=1)
    title: str


class TaskEntry(BaseModel):
    """One benchmark task as the leaderboard counts it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lm_eval: str = Field(description="lm-eval task or group name")
    category: str
    metric: str = Field(description="primary metric, as lm-eval names it")
    filter: str = "none"
    num_fewshot: int | None = Field(default=None, ge=0)
    baseline: float = Field(ge=0, le=1, description="random-guess score in [0, 1]")
    group: bool = False
    pack: Literal["offline"] | None = None
    executes_code: bool = Field(default=False, description="runs model-generated programs in evals.sandbox")
    revision: str | None = Field(
        default=None,
        min_length=1,
        description="the dataset commit (or tag) to load; empty: what the hub resolves now, recorded with every "
        "score (evals.catalog.task_data)",
    )
    item_category: str | None = Field(
        default=None,
        description="a document field naming each item's category in the per-sample browser (a split group's "
        "items are grouped by subtask)",
    )
    cluster: str | None = Field(
        default=None,
        description="a document field that items share when they ask about one passage or source (BoolQ's "
        "passage): their standard errors are clustered on it (evals.comparisons)",
    )

    @property
    def result_key(self) -> str:
        """The key of the primary metric in lm-eval's results dict."""
        return f"{self.metric},{self.filter}"


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    tasks: tuple[str, ...] = Field(min_length=1)


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    categories: dict[str, Category]
    tasks: dict[str, TaskEntry]
    suites: dict[str, Suite]
    tasks_dirs: tuple[Path, ...] = ()
    # The tasks a user's suite file added, and that file: recorded with every run that plans them.
    user_tasks: tuple[str, ...] = ()
    suite_file: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        total = sum(c.weight for c in self.categories.values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"category weights add up to {total}, not 1")
        for name, task in self.tasks.items():
            if task.category not in self.categories:
                raise ValueError(
                    f"task {name}: unknown category {task.category!r}{did_you_mean(task.category, self.categories)}"
                )
            if task.category == EDGE_CATEGORY:
                raise ValueError(
                    f"task {name}: category {EDGE_CATEGORY!r} is measured by each variant's edge unit, not by a "
                    "task (its score would never count); choose another category"
                )
            # The leaderboard averages task scores in [0, 1] where higher is better (evals.scoring).
            if is_bias_metric(task.metric):
                raise ValueError(
                    f"task {name}: metric {task.metric!r} is a bias score: signed, in [-1, 1], best at 0, so neither "
                    "higher nor lower is better and the leaderboard cannot average it; count the task by its accuracy "
                    "(acc), and model pages show its bias scores beside it"
                )
            if task.metric not in PROPORTION_METRICS:
                raise ValueError(
                    f"task {name}: metric {task.metric!r} is not a proportion in [0, 1] the leaderboard can average; "
                    f"choose one of {', '.join(PROPORTION_METRICS)}"
                )
        for name, suite in self.suites.items():
            for task in suite.tasks:
                if task not in self.tasks:
                    raise ValueError(f"suite {name}: unknown task {task!r}{did_you_mean(task, self.tasks)}")
        return self

    def task(self, name: str) -> TaskEntry:
        try:
            return self.tasks[name]
        except KeyError:
            raise CatalogError(f"unknown task {name!r}{did_you_mean(name, self.tasks)}") from None

    def suite(self, name: str) -> Suite:
        try:
            return self.suites[name]
        except KeyError:
            known = ", ".join(sorted(self.suites))
            raise CatalogError(
                f"unknown suite {name!r}{did_you_mean(name, self.suites)}; known suites: {known} "
                "(or give the path of a suite YAML file)"
            ) from None

    def defined_in(self, name: str) -> str:
        """Where a task's catalog entry comes from: the user's suite file, or the built-in catalog."""
        if name in self.user_tasks and self.suite_file is not None:
            return self.suite_file.name
        return "built-in catalog"

    def weight(self, category: str) -> float:
        return self.categories[category].weight

    def with_user_file(self, path: Path, tasks_dirs: tuple[Path, ...] = ()) -> Catalog:
        """This catalog plus the tasks and suites of a user's YAML file."""
        data = _read_yaml(path)
        unknown = set(data) - {"tasks", "suites", "tasks_dirs", "revisions"}
        if unknown:
            raise CatalogError(
                f"{path}: unknown key(s) {sorted(unknown)}; a suite file has tasks, suites, tasks_dirs and revisions"
            )
        # Absolute: a Ray worker on another node, or in another folder, reads them too.
        dirs = tuple((path.parent / d).resolve() for d in data.get("tasks_dirs", ())) + tasks_dirs
        user_tasks = data.get("tasks") or {}
        if not isinstance(user_tasks, dict):
            raise CatalogError(f"{path}: tasks: expected a mapping of task names to their entries")
        for task in user_tasks:
            if problem := name_problem(str(task)):
                raise CatalogError(f"{path}: tasks: {str(task)!r} {problem}")
        # Compared as model names are (NFKC, case folded): SLMB_YESNO beside slmb_yesno would read as one task.
        builtin = {name_key(t): t for t in self.tasks}
        taken = [(str(t), builtin[name_key(str(t))]) for t in user_tasks if name_key(str(t)) in builtin]
        if taken:
            shown = ", ".join(repr(mine) if mine == theirs else f"{mine!r} (as {theirs!r})" for mine, theirs in taken)
            raise CatalogError(
                f"{path}: tasks: {shown} "
                f"{'names a built-in task' if len(taken) == 1 else 'name built-in tasks'}; published scores "
                "are keyed by task name (compared ignoring case and Unicode width), so a task of your own under "
                "that name would mix with the built-in one's on the leaderboard. Rename yours (e.g. 'my_"
                + taken[0][1]
                + "'), or drop its entry to run the built-in task (list it in your suite as it is)"
            )
        mine: dict[str, str] = {}
        for task in map(str, user_tasks):
            if (other := mine.setdefault(name_key(task), task)) != task:
                raise CatalogError(
                    f"{path}: tasks: {other!r} and {task!r} are one name (compared ignoring case and Unicode "
                    "width); rename one of them"
                )
        tasks = {**{k: v.model_dump() for k, v in self.tasks.items()}, **user_tasks}
        for task, revision in _revisions(path, data.get("revisions"), tasks).items():
            tasks[task] = {**tasks[task], "revision": revision}
        merged = {
            "categories": {k: v.model_dump() for k, v in self.categories.items()},
            "tasks": tasks,
            "suites": {**{k: v.model_dump() for k, v in self.suites.items()}, **(data.get("suites") or {})},
            "tasks_dirs": self.tasks_dirs + dirs,
            "user_tasks": self.user_tasks + tuple(user_tasks),
            "suite_file": path,
        }
        return _validated(merged, str(path))

    def with_revisions(self, pins: dict[str, str], where: str = "--dataset-revision") -> Catalog:
        """This catalog with the dataset commits of some tasks pinned (``revision``)."""
        if not pins:
            return self
        for task in pins:
            if task not in self.tasks:
                raise CatalogError(f"{where}: unknown task {task!r}{did_you_mean(task, self.tasks)}")
        tasks = {k: v.model_copy(update={"revision": pins[k]}) if k in pins else v for k, v in self.tasks.items()}
        return self.model_copy(update={"tasks": tasks})

    def with_tasks_dirs(self, dirs: tuple[Path, ...]) -> Catalog:
        return self.model_copy(update={"tasks_dirs": self.tasks_dirs + tuple(Path(d).resolve() for d in dirs)})


def _revisions(path: Path, pins: object, tasks: dict[str, object]) -> dict[str, str]:
    """A suite file's ``revisions:``: the dataset commit each named task loads (built-in tasks included)."""
    if pins is None:
        return {}
    if not isinstance(pins, dict) or not all(isinstance(v, str) and v for v in pins.values()):
        raise CatalogError(f"{path}: revisions: expected a mapping of task names to dataset commits (strings)")
    for task in pins:
        if task not in tasks:
            raise CatalogError(f"{path}: revisions: unknown task {task!r}{did_you_mean(str(task), tasks)}")
    return {str(k): str(v) for k, v in pins.items()}


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path}: no such suite file") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping")
    return data


def _validated(data: dict, source: str) -> Catalog:
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        raise CatalogError(f"{source}: " + "; ".join(lines)) from None


@cache
def load_catalog() -> Catalog:
    """The built-in catalog (its ``tasks_dirs`` lie beside it)."""
    data = _read_yaml(CATALOG_PATH)
    data["tasks_dirs"] = [CATALOG_PATH.parent / d for d in data.get("tasks_dirs", ())]
    return _validated(data, str(CATALOG_PATH))


def resolve_suite(suite: str, tasks_dirs: tuple[Path, ...] = ()) -> tuple[Catalog, Suite]:
    """A suite by name, or from a user YAML file (``path.yaml`` or ``path.yaml:name``)."""
    catalog = load_catalog().with_tasks_dirs(tasks_dirs)
    path_part, _, name = suite.rpartition(":") if re.search(r"\.ya?ml:[^/]+$", suite) else (suite, "", "")
    if not path_part.endswith((".yaml", ".yml")):
        return catalog, catalog.suite(suite)
    path = Path(path_part)
    catalog = catalog.with_user_file(path)
    names = list((_read_yaml(path).get("suites") or {}).keys())
    chosen = name or (names[0] if len(names) == 1 else "")
    if not chosen:
        raise CatalogError(f"{path}: defines suites {names}; choose one with {path}:NAME")
    return catalog, catalog.suite(chosen)


@dataclass(frozen=True)
class SuiteCatalog:
    """The suite a run asked for (``offline``, or ``my_suite.yaml[:name]``) and the catalog it was found in."""

    name: str  # as asked for: recorded with every run
    suite: Suite
    catalog: Catalog

    def entries(self, categories: set[str]) -> list[tuple[str, TaskEntry]]:
        """The suite's tasks in these categories, in suite order."""
        return [
            (name, self.catalog.task(name))
            for name in self.suite.tasks
            if self.catalog.task(name).category in categories
        ]


def load_suite(suite: str, tasks_dirs: tuple[Path, ...] = (), revisions: dict[str, str] | None = None) -> SuiteCatalog:
    """A suite by name or file (see :func:`resolve_suite`), with its catalog; ``revisions`` pins tasks' dataset commits."""
    catalog, chosen = resolve_suite(suite, tasks_dirs)
    return SuiteCatalog(suite, chosen, catalog.with_revisions(revisions or {}))
