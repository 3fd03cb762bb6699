"""The tasks a run was planned with, as it used them: what travels with the run into its tables.

A built-in catalog may change after a run, and a user's suite file never
reaches the machine that publishes; so each run records the definition of
every task it planned (category, primary metric and filter, few-shot,
baseline, config hash, and for a user's task where it came from). Staging and
publishing check the run's rows against these definitions, scoring scores
them by these rules, and the site lists them: nothing downstream consults a
catalog for a run that recorded its own.

In the tables: ``runs.task_definitions`` (a JSON list, one object per task,
:data:`RECORD_DTYPE`), and ``scores.task_config_hash`` per subtask.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from hashlib import sha256
from pathlib import Path

import polars as pl

from contracts.checks import CatalogDomains
from evals.catalog.index import TaskIndex
from evals.catalog.suites import Catalog, TaskEntry

BUILT_IN = "built-in"

# One task's record in runs.task_definitions, as polars decodes it.
RECORD_DTYPE = pl.List(
    pl.Struct(
        {
            "task": pl.String,
            "lm_eval": pl.String,
            "category": pl.String,
            "metric": pl.String,
            "filter": pl.String,
            "num_fewshot": pl.Int64,
            "baseline": pl.Float64,
            "group": pl.Boolean,
            "executes_code": pl.Boolean,
            "config_hash": pl.String,
            "user": pl.Boolean,
            "source": pl.String,
        }
    )
)


@dataclass(frozen=True)
class TaskDefinition:
    """One planned task: its catalog entry, the config hash of what lm-eval will run, and its source."""

    task: str  # catalog key
    lm_eval: str
    category: str
    metric: str
    filter: str
    num_fewshot: int | None
    baseline: float
    group: bool
    executes_code: bool
    config_hash: str  # of the task's subtasks' config hashes (one subtask: its own)
    user: bool  # defined by the user: a suite file's entry, or an lm-eval YAML in a user's task folder
    source: str  # "built-in", or the user's suite file and task files
    subtask_hashes: tuple[tuple[str, str], ...] = ()  # (lm-eval task, config hash)
    item_category: str | None = None  # the document field that is each item's category (the samples table)
    cluster: str | None = None  # the document field items share a cluster by (the samples table's ``cluster``)
    # The user's task files (YAML with its includes, the code beside it) a run folder keeps a copy of.
    files: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), compare=False)

    def record(self) -> dict[str, object]:
        """The JSON object of ``runs.task_definitions``."""
        data = asdict(self)
        return {f.name: data[f.name] for f in RECORD_DTYPE.inner.fields}  # type: ignore[union-attr]

    @property
    def primary(self) -> tuple[str, str]:
        return self.metric, self.filter


def define_task(name: str, entry: TaskEntry, catalog: Catalog, index: TaskIndex) -> TaskDefinition:
    """The definition of one planned task, from its catalog entry and its lm-eval configs."""
    subtasks = index.leaf_tasks(entry.lm_eval)
    hashes = tuple((sub, index.config_hash(sub)) for sub in subtasks)
    whole = hashes[0][1] if len(hashes) == 1 else sha256(json.dumps(hashes).encode()).hexdigest()
    user_files = {sub: index.source_files(sub) for sub in subtasks if index.user_root(sub) is not None}
    where = [catalog.defined_in(name)] if name in catalog.user_tasks else []
    for sub, paths in user_files.items():
        root = index.user_root(sub)
        yaml = paths[0]
        where.append(f"{root.name}/{yaml.relative_to(root).as_posix()}" if root else yaml.name)
    return TaskDefinition(
        task=name,
        lm_eval=entry.lm_eval,
        category=entry.category,
        metric=entry.metric,
        filter=entry.filter,
        num_fewshot=entry.num_fewshot,
        baseline=entry.baseline,
        group=entry.group,
        executes_code=entry.executes_code,
        config_hash=whole,
        user=bool(where),
        source=", ".join(where) if where else BUILT_IN,
        subtask_hashes=hashes,
        item_category=entry.item_category,
        cluster=entry.cluster,
        files=tuple((sub, tuple(str(p) for p in paths)) for sub, paths in user_files.items()),
    )


def definitions_json(definitions: Iterable[TaskDefinition]) -> str:
    return json.dumps([d.record() for d in definitions], sort_keys=True)


def definitions_frame(runs: pl.DataFrame) -> pl.DataFrame:
    """One row per run and recorded task definition (runs recorded without definitions have none)."""
    if "task_definitions" not in runs.columns:
        runs = runs.with_columns(pl.lit(None, pl.String).alias("task_definitions"))
    recorded = runs.filter(pl.col("task_definitions").is_not_null()).unique("run_id", keep="first")
    return (
        recorded.select("run_id", pl.col("task_definitions").str.json_decode(RECORD_DTYPE).alias("definition"))
        .explode("definition")
        .unnest("definition")
    )


def recorded_domains(runs: pl.DataFrame, categories: Iterable[str]) -> CatalogDomains | None:
    """The contracts' catalog facts from the definitions the run's rows recorded (None: it recorded none)."""
    frame = definitions_frame(runs)
    if frame.is_empty():
        return None
    rows = frame.select("task", "category", "metric", "filter").unique().iter_rows()
    task_category: dict[str, str] = {}
    primary: dict[str, tuple[str, str]] = {}
    for task, category, metric, filter_name in rows:
        task_category[task] = category
        primary[task] = (metric, filter_name)
    return CatalogDomains(categories=tuple(categories), task_category=task_category, primary=primary)


def copy_task_files(definitions: Iterable[TaskDefinition], folder: Path) -> None:
    """Each user task's YAML (and those it includes) and the code beside it, under ``folder/<lm-eval task>/``.

    Not its data: the config hash (``TaskIndex.config_hash``) already covers the data's bytes.
    """
    for definition in definitions:
        for subtask, paths in definition.files:
            target = folder / subtask
            target.mkdir(parents=True, exist_ok=True)
            for path in map(Path, paths):
                (target / path.name).write_bytes(path.read_bytes())
            hashes = dict(definition.subtask_hashes)
            (target / "config_hash").write_text(hashes[subtask] + "\n")
