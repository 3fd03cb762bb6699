"""The submissions queue: events appended to ``staging/queue``, and each submission's state derived from them.

A submission moves through these states::

    validated -> queued -> running -> failed | staged -> published

- **validated**: a pull request that adds the file passed its check (the ChatOps receiver);
- **queued**: a benchmark flow run was created and waits for a slot (the receiver; at site
  build time also Prefect's own scheduled runs, when Prefect is reachable);
- **running**: the benchmark flow started; progress events count its finished units;
- **failed**: before staging (an event from the flow's failure hook, or Prefect's state), or
  in staging (the ``runs`` row says failed: units or contracts, with the reason);
- **staged**: its rows passed their contracts and wait to be published (``staging/runs``);
- **published**: in the published tables (``published/runs``).

Only the first three and failures before staging need events: the runs tables already say
the rest. An **attempt** is one benchmark flow run (one run id where no flow run is known);
its state is the furthest it reached. A **submission** is its file (``submission_path``):
its state is that of its latest attempt, so a failed run stays listed as failed until the same
file is run again; a file with no attempt yet is ``validated``.

Writing an event is one append of one small row (one Delta commit of a few KB): atomic and
cheap, and never a reason for a benchmark to fail: :func:`record` logs any error and returns.
No GX suite runs on events: it would cost seconds in the webhook receiver, and
:class:`QueueEvent` checks the few rules its columns have when it is made.
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
import time
import uuid
from dataclasses import asdict, field, make_dataclass
from datetime import UTC, datetime

import polars as pl

from contracts.tables import GIT_SHA, QUEUE, QUEUE_STATES, RUNS
from evals.warehouse.storage import STAGING, append, read_table, version_before

log = logging.getLogger(__name__)

# How far each state is along the way; an attempt is in the furthest state it reached.
PROGRESS = {"validated": 0, "queued": 1, "running": 2, "failed": 3, "staged": 4, "published": 5}
STATES = tuple(PROGRESS)


def _check_event(event: object) -> None:
    problems = [p for c in QUEUE.columns if (p := c.problem(getattr(event, c.name))) is not None]
    if problems:
        raise ValueError("queue event: " + "; ".join(problems))
    object.__setattr__(event, "submission_path", submission_key(event.submission_path))  # type: ignore[attr-defined]


_PYTHON_TYPES = {pl.Utf8: str, pl.Int64: int}
# Made on the queue table's own columns (contracts.tables.QUEUE), so a column is declared once:
# ``QueueEvent(state, submission_path, **the others)``; ``at`` and ``event_id`` default to now and a uuid4.
QueueEvent = make_dataclass(
    "QueueEvent",
    [("state", str), ("submission_path", str)]
    + [
        (c.name, _PYTHON_TYPES.get(type(c.dtype), object) | None, field(default=None))
        for c in QUEUE.columns
        if c.name not in ("state", "submission_path", "at", "event_id")
    ]
    + [
        ("at", datetime, field(default_factory=lambda: datetime.now(UTC))),
        ("event_id", str, field(default_factory=lambda: uuid.uuid4().hex)),
    ],
    frozen=True,
    namespace={"__post_init__": _check_event, "__doc__": "One row of the queue table (``contracts.tables.QUEUE``)."},
)


def submission_key(path: str) -> str:
    """A submission file's name as the queue groups it: ``./models/x.yaml`` and ``models/x.yaml`` are one."""
    return re.sub(r"^(\./)+", "", path.strip())


def record(uri: str, *events: QueueEvent) -> bool:
    """Append ``events`` to the queue in one commit; False (and a warning) when they could not be written.

    Never an exception: the queue describes runs, and a run must not fail because its
    description could not be written.
    """
    if not events:
        return True
    try:
        frame = pl.DataFrame([asdict(e) for e in events], schema=QUEUE.schema)
        append(uri, STAGING, QUEUE, frame, step=f"queue {', '.join(sorted({e.state for e in events}))}")
    except Exception as exc:  # any failure is logged, never raised (see the docstring)
        what = ", ".join(f"{e.state} of {e.submission_path}" for e in events)
        log.warning("could not record %s in the queue of %s: %s", what, uri, exc)
        return False
    return True


class QueueWriter:
    """Records events from one thread of its own, in batches: for a process that records many at once.

    The webhook receiver answers GitHub without waiting for a Delta commit (``put`` only hands
    the event over), and its threads' events reach the table in as few commits as they arrive,
    so they never conflict with one another. ``flush`` waits until what was put is written; it
    also runs at exit.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._pending: list[QueueEvent] = []
        self._writing = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        atexit.register(self.flush)

    def put(self, event: QueueEvent) -> None:
        with self._changed:
            self._pending.append(event)
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_forever, name="queue-writer", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every event put so far is written (or failed, with a warning); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while self._pending or self._writing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def _write_forever(self) -> None:
        while True:
            with self._changed:
                while not self._pending:
                    self._changed.wait()
                batch, self._pending, self._writing = self._pending, [], True
            record(self.uri, *batch)
            with self._changed:
                self._writing = False
                self._changed.notify_all()


def read_queue(uri: str, until: datetime | None = None) -> tuple[pl.DataFrame, pl.DataFrame, int | None, int | None]:
    """The queue events and the staging runs as they stood before ``until`` (now when None).

    Returns (events, staged runs, queue version, staging runs version); versions are None for a
    table that did not exist yet.
    """
    queue_version = version_before(uri, STAGING, QUEUE.name, until)
    runs_version = version_before(uri, STAGING, RUNS.name, until)
    events = read_table(uri, QUEUE.name, STAGING, version=queue_version) if queue_version is not None else None
    staged = read_table(uri, RUNS.name, STAGING, version=runs_version) if runs_version is not None else None
    return (
        QUEUE.empty() if events is None else events,
        RUNS.empty() if staged is None else staged,
        queue_version,
        runs_version,
    )


# The columns of an attempt and of a submission's entry.
_FIELDS = {
    "submission_path": pl.String,
    "model_name": pl.String,
    "flow_run_id": pl.String,
    "run_id": pl.String,
    "pr_number": pl.Int64,
    "head_sha": pl.String,
    "units_done": pl.Int64,
    "units_total": pl.Int64,
    "run_dir": pl.String,
}


def attempts(
    events: pl.DataFrame, staged: pl.DataFrame, published: pl.DataFrame, live: pl.DataFrame | None = None
) -> pl.DataFrame:
    """One row per attempt (flow run, else run id): the furthest state it reached and what is known of it.

    ``live``: events in the queue table's shape read from Prefect (its scheduled, running and
    failed flow runs), or None. Columns: attempt, state, detail, started_at, updated_at and
    the queue's identifying fields (submission_path, model_name, run_id, units_done, ...).
    """
    parts = [_event_rows(events), _run_rows(staged, source=1), _run_rows(published, source=2)]
    if live is not None:
        parts.append(_event_rows(live))
    rows = pl.concat(parts, how="vertical_relaxed")
    # A row that knows its run id but not its flow run joins the flow run another row names.
    flow_runs = rows.filter(pl.col("flow_run_id").is_not_null() & pl.col("run_id").is_not_null())
    flow_runs = flow_runs.group_by("run_id").agg(pl.col("flow_run_id").first().alias("known_flow_run"))
    rows = rows.join(flow_runs, on="run_id", how="left").with_columns(
        pl.coalesce("flow_run_id", "known_flow_run", "run_id").alias("attempt")
    )
    rows = rows.drop("known_flow_run").filter(pl.col("attempt").is_not_null())
    # The furthest state first; at one state the warehouse's word over an event's; then the latest.
    rows = rows.sort(["progress", "source", "at"], descending=True, nulls_last=True)
    return (
        rows.group_by("attempt", maintain_order=True)
        .agg(
            pl.col("state").first(),
            pl.col("detail").first(),
            pl.col("started_at").min(),
            pl.col("at").max().alias("updated_at"),
            *[pl.col(name).drop_nulls().first() for name in _FIELDS],
        )
        .sort("started_at", "attempt", nulls_last=True)
    )


def submission_states(
    events: pl.DataFrame, staged: pl.DataFrame, published: pl.DataFrame, live: pl.DataFrame | None = None
) -> pl.DataFrame:
    """One row per submission file: the state of its latest attempt (validated when it has none).

    Columns: those of :func:`attempts` plus ``earlier`` (how many attempts came before the
    latest) and ``earlier_failed`` (the attempts among them that failed, oldest first).
    """
    tried = attempts(events, staged, published, live)
    before_last = pl.int_range(pl.len()) < pl.len() - 1
    latest = tried.group_by("submission_path", maintain_order=True).agg(
        pl.all().last(),
        (pl.len() - 1).alias("earlier"),
        pl.col("attempt").filter(before_last & (pl.col("state") == "failed")).alias("earlier_failed"),
    )
    validated = (
        events.filter(pl.col("state") == "validated")
        .with_columns(_key("submission_path"))
        .join(latest.select("submission_path"), on="submission_path", how="anti")
        .sort("at")
        .group_by("submission_path", maintain_order=True)
        .last()
        .select(
            pl.lit(None, pl.String).alias("attempt"),
            "state",
            "detail",
            pl.col("at").alias("started_at"),
            pl.col("at").alias("updated_at"),
            *[pl.col(name).cast(dtype) for name, dtype in _FIELDS.items()],
            pl.lit(0, pl.UInt32).alias("earlier"),
            pl.lit(None, pl.List(pl.String)).alias("earlier_failed"),
        )
    )
    both = pl.concat([latest.select(validated.columns), validated], how="vertical_relaxed")
    return both.with_columns(pl.col("state").replace_strict(PROGRESS, return_dtype=pl.Int64).alias("progress"))


def _key(name: str) -> pl.Expr:
    """:func:`submission_key` over a column."""
    return pl.col(name).str.strip_chars().str.replace(r"^(\./)+", "")


def _event_rows(events: pl.DataFrame) -> pl.DataFrame:
    return events.select(
        "state",
        pl.col("state").replace_strict(PROGRESS, return_dtype=pl.Int64).alias("progress"),
        pl.lit(0).alias("source"),
        "at",
        pl.col("at").alias("started_at"),
        "detail",
        _key("submission_path"),
        *[pl.col(name).cast(dtype) for name, dtype in _FIELDS.items() if name != "submission_path"],
    )


def _run_rows(runs: pl.DataFrame, source: int) -> pl.DataFrame:
    """A runs table's rows as attempts: one per run, its status its state (variants share one status)."""
    per_run = runs.group_by("run_id", maintain_order=True).agg(
        pl.col("status").first().alias("state"),
        pl.col("flow_run_id").first(),
        pl.col("submission_path").first(),
        pl.col("model_name").first(),
        pl.col("pr_number").first(),
        pl.col("head_sha").first(),
        pl.col("started_at").min(),
        pl.col("finished_at").max().alias("at"),
        pl.col("error").drop_nulls().first().alias("detail"),
        pl.col("n_units_succeeded").sum().alias("units_done"),
        pl.col("n_units_planned").sum().alias("units_total"),
    )
    return per_run.select(
        "state",
        pl.col("state").replace_strict(PROGRESS, return_dtype=pl.Int64).alias("progress"),
        pl.lit(source).alias("source"),
        "at",
        "started_at",
        "detail",
        _key("submission_path"),
        *[
            (pl.col(name) if name in per_run.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in _FIELDS.items()
            if name != "submission_path"
        ],
    )
