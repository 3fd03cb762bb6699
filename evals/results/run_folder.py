"""A run's folder: its id, where it lives, and the files it holds.

A run is named once, when it starts, and the name is also its folder (as in
HELM, where a run's spec name is its output path)::

    <runs dir>/<run id>/              or the folder the user gave (--output-dir)
        submission.yaml               the submission's bytes, as evaluated
        plan.md, plan.json            the work units and their cache keys, the batch size
        tasks/definitions.json        every planned task's definition (evals.catalog.definitions)
        tasks/suite.yaml              the user's suite file, when the tasks came from one
        tasks/<lm-eval task>/         a user task's YAML (with those it includes), its code, its config_hash
        units/<variant>/<subtask>/    lm-eval's results and samples of each unit (evals.engine.execution.unit_folder);
                                      a sharded task's merged ones (its unit.json lists the shards)
        runs.parquet, scores.parquet, edge.parquet, retention.parquet, samples.parquet (every item, evals.results.samples)
        summary.md                    the run summary: the Prefect artifact and the PR comment
        schedule.json                 every unit and shard: status, worker, start, duration (evals.cluster.balance)
        contracts.json, contracts.md  the failed expectations, when the rows failed their contracts

The benchmark flow writes it; ChatOps reporting reads the summary back by the
same rule (:func:`run_dir`), and ``slmbench publish`` finds nothing here it
needs: the published rows come from the staging tables.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from contracts.tables import RETENTION, STAGED_TABLES
from evals import paths
from evals.catalog.definitions import copy_task_files
from evals.engine.execution import UnitReport
from evals.models.variants import slug
from evals.plan.units import Plan

# The run's frames, as parquet files in its folder: the staged tables' (contracts.tables.STAGED_TABLES),
# and retention, which the run summary shows and publishing derives again from the published scores.
STAGED_FRAMES = tuple(t.name for t in STAGED_TABLES)
FRAMES = (*STAGED_FRAMES, RETENTION.name)


@dataclass(frozen=True)
class RunInfo:
    """What identifies a run, beside its plan."""

    run_id: str
    run_dir: Path
    started_at: datetime
    submission_sha256: str  # of the submission's bytes as evaluated
    flow_run_id: str | None = None
    pr_number: int | None = None
    head_sha: str | None = None


@dataclass(frozen=True)
class RunFrames:
    """The run's rows as written to its folder (parquet), its summary, and the units that failed."""

    folder: Path
    summary: str
    failures: list[UnitReport] = field(default_factory=list)

    def read(self) -> dict[str, pl.DataFrame]:
        """The frames staging checks and writes (those the folder holds), in ``STAGED_TABLES``' order."""
        folder = RunFolder(self.folder)
        return {name: pl.read_parquet(folder.frame(name)) for name in STAGED_FRAMES if folder.frame(name).is_file()}


def new_run_id(model_name: str, now: datetime | None = None) -> str:
    """``<UTC time>-<model slug>-<salt>``: sortable by start, readable, unique."""
    now = now or datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S")
    salt = hashlib.sha256(f"{model_name}{now.isoformat()}".encode()).hexdigest()[:6]
    return f"{stamp}-{slug(model_name)}-{salt}"


def run_dir(run_id: str, output_dir: str | Path | None = None) -> Path:
    """The run's folder: the one the user gave, else ``<runs dir>/<run id>``."""
    return Path(output_dir) if output_dir else paths.runs_dir() / run_id


@dataclass(frozen=True)
class RunFolder:
    """The files of one run folder (see the module docstring)."""

    path: Path

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.md"

    @property
    def contracts_report(self) -> Path:
        """The JSON report of failed expectations (``contracts.md`` beside it is the same, for people)."""
        return self.path / "contracts.json"

    def frame(self, name: str) -> Path:
        return self.path / f"{name}.parquet"

    def summary(self) -> str | None:
        """The run summary, or None when the run wrote none (it failed before its results)."""
        return self.summary_path.read_text() if self.summary_path.is_file() else None

    def write_plan(self, plan: Plan, submission: bytes) -> None:
        """The plan (as a table and as JSON) and the submission's bytes: what the run evaluates."""
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "plan.md").write_text(plan.table() + "\n")
        units = [
            {
                "name": u.name,
                "cache_key": u.cache_key,
                "cost": u.cost,
                "cost_source": u.cost_source,
                "batch_size": u.batch_size,
            }
            for u in plan.units
        ]
        (self.path / "plan.json").write_text(
            json.dumps(
                {
                    "submission": plan.submission_path,
                    "suite": plan.suite,
                    "batch_size": plan.batch_size,
                    "units": units,
                },
                indent=1,
            )
        )
        (self.path / "submission.yaml").write_bytes(submission)
        self.write_task_definitions(plan)

    def write_task_definitions(self, plan: Plan) -> None:
        """What each planned task was, so a published score stays reproducible: definitions and user task files."""
        folder = self.path / "tasks"
        folder.mkdir(parents=True, exist_ok=True)
        records = [{**d.record(), "subtasks": dict(d.subtask_hashes)} for d in plan.tasks]
        (folder / "definitions.json").write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
        if plan.suite_file:
            (folder / "suite.yaml").write_bytes(Path(plan.suite_file).read_bytes())
        copy_task_files(plan.tasks, folder)

    def write_results(
        self,
        frames: Mapping[str, pl.DataFrame],
        summary: str,
        failures: list[UnitReport],
        schedule: Sequence[Mapping[str, object]] = (),
    ) -> RunFrames:
        """The run's frames as parquet, its summary and where each unit ran; returns where they are."""
        for name in FRAMES:
            if name in frames:
                frames[name].write_parquet(self.frame(name))
        self.summary_path.write_text(summary)
        (self.path / "schedule.json").write_text(json.dumps(list(schedule), indent=1))
        return RunFrames(self.path, summary, failures)


def start_run(
    plan: Plan,
    model_name: str,
    submission: bytes,
    *,
    output_dir: str | None = None,
    flow_run_id: str | None = None,
    pr_number: int | None = None,
    head_sha: str | None = None,
) -> RunInfo:
    """Name the run, make its folder and file what it will evaluate."""
    run_id = new_run_id(model_name)
    folder = RunFolder(run_dir(run_id, output_dir))
    folder.write_plan(plan, submission)
    return RunInfo(
        run_id,
        folder.path,
        datetime.now(UTC),
        submission_sha256=hashlib.sha256(submission).hexdigest(),
        flow_run_id=flow_run_id,
        pr_number=pr_number,
        head_sha=head_sha,
    )
