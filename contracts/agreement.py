"""Every score tied to its items: each task's primary metric recomputed from the staged samples.

The ``samples`` table holds every item a score came from, with lm-eval's
per-sample metric values (``samples.metrics``). A run's scores are only as good
as the folders and workers they were read from (a cache entry, a Ray worker's
answer), so before a run is staged, and again before it is published, each
primary score row (a planned task's primary metric and filter, per subtask of a
split group) must be what its items give:

- the value equals lm-eval's aggregation of the items' per-sample values, within
  ``TOLERANCE``: their mean, when the values are numbers (every metric the
  leaderboard averages: acc, acc_norm, exact_match, pass@k, mc1, mc2, ...);
  lm-eval's own aggregation of the metric otherwise (``f1`` over
  (reference, prediction) pairs). A group's score is the size-weighted mean of
  its subtasks (``evals.scoring``), each checked here;
- the item count equals the row's ``n_samples`` (and, for a run with a limit,
  is at most the limit).

A run staged before items were kept has none, and its scores cannot be tied to
them: it is left as it was. A run with items must have them for every primary
score row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from contracts.expectations import Failure, ValidationReport

# lm-eval sums in float64 and writes results with full precision; a shard merge re-aggregates the same values.
TOLERANCE = 1e-6
EXPECTATION = "value equals the aggregate of its items"
COUNT_EXPECTATION = "n_samples equals its items"


# lm-eval's aggregation of a metric over per-sample values that are not numbers (given by the engine:
# ``contracts`` does not import lm-eval); None: the values cannot be aggregated.
CorpusAggregate = Callable[[str, list[Any]], float | None]


def item_agreement(
    scores: pl.DataFrame,
    samples: pl.DataFrame,
    primary: Mapping[str, tuple[str, str]],
    limit: int | None = None,
    corpus_aggregate: CorpusAggregate | None = None,
) -> ValidationReport:
    """Check each primary score row against its items; a report listing every disagreement."""
    report = ValidationReport(checked=["scores/samples"])
    if samples.is_empty() or scores.is_empty():
        return report
    items: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for variant, task, subtask, filter_, metrics in samples.select(
        "variant_id", "task", "subtask", "filter", "metrics"
    ).iter_rows():
        items.setdefault((variant, task, subtask, filter_), []).append(_metrics(metrics))
    for row in scores.iter_rows(named=True):
        if primary.get(row["task"]) != (row["metric"], row["filter"]):
            continue
        report.expectations += 2
        where = f"{row['variant_id']}/{row['subtask']} {row['metric']},{row['filter']}"
        found = items.get((row["variant_id"], row["task"], row["subtask"], row["filter"]), [])
        if len(found) != row["n_samples"] or (limit is not None and len(found) > limit):
            bound = f" (the run's limit is {limit})" if limit is not None else ""
            report.failures.append(
                Failure(
                    "scores",
                    COUNT_EXPECTATION,
                    "n_samples",
                    f"{where}: n_samples says {row['n_samples']} documents, its staged items are {len(found)}{bound}",
                )
            )
            if not found:
                continue
        recomputed = aggregate(row["metric"], [m.get(row["metric"]) for m in found], corpus_aggregate)
        if recomputed is None or not math.isclose(row["value"], recomputed, rel_tol=0.0, abs_tol=TOLERANCE):
            said = "cannot be recomputed from them" if recomputed is None else f"they give {recomputed:.6g}"
            report.failures.append(
                Failure(
                    "scores",
                    EXPECTATION,
                    "value",
                    f"{where}: the score is {row['value']:.6g}, but {said} over its {len(found)} items",
                )
            )
    return report


def aggregate(metric: str, values: list[Any], corpus_aggregate: CorpusAggregate | None = None) -> float | None:
    """lm-eval's aggregation of per-sample values: the mean of numbers, else the metric's own (None: no value)."""
    if not values or any(v is None for v in values):
        return None
    if all(isinstance(v, int | float) for v in values):  # bool included: a right/wrong item is 1 or 0
        return math.fsum(float(v) for v in values) / len(values)
    return corpus_aggregate(metric, values) if corpus_aggregate is not None else None


def _metrics(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
