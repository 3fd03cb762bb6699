"""From the ``samples`` table to paired statistics: item matrices, aggregate errors and every pair's error.

``evals.scoring`` rules 6-8 state the method; ``evals.comparisons`` holds the
arithmetic. Here the tables become its inputs:

- :func:`item_matrices`: per task, the variants that answered the same items
  (the same documents of the task's scored filter, every one with a numeric
  value) as one (variants x items) matrix with the items' cluster codes;
- :func:`task_coefficients`: how much one point of each task moves a row's
  aggregate (its category's weight over the measured weight, shared by the
  category's tasks), so an aggregate difference is a sum over tasks;
- :func:`paired_board`: every row's aggregate standard error and the (V x V)
  standard errors of every pair's aggregate difference, one matrix product
  per item matrix, no loop over pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from evals.comparisons import cluster_codes, mean_covariances

Key = tuple[str, str]  # (run_id, variant_id)


@dataclass(frozen=True)
class ItemMatrix:
    """The variants of one task that answered the same items, and their per-item values."""

    task: str
    variants: tuple[Key, ...]
    subtasks: tuple[str, ...]  # per item, with doc_ids: which document it is
    doc_ids: np.ndarray
    values: np.ndarray  # (variants x items), the primary metric per item
    codes: np.ndarray  # cluster code per item (0..G-1)
    binary: bool  # every value is 0 or 1

    @property
    def n_clusters(self) -> int:
        return int(self.codes.max()) + 1 if self.codes.size else 0


def scored_items(samples: pl.DataFrame, rules: pl.DataFrame) -> pl.DataFrame:
    """The rows of each task's scored filter with a numeric value: run_id, variant_id, task, subtask, doc_id,
    value, cluster. ``rules``: :func:`evals.scoring.task_rules` (run_id, task, filter)."""
    value = (
        pl.coalesce(pl.col("value"), pl.col("correct").cast(pl.Float64))
        if "value" in samples.columns
        else (pl.col("correct").cast(pl.Float64))
    )
    cluster = pl.col("cluster") if "cluster" in samples.columns else pl.lit(None, dtype=pl.String)
    on = ["run_id", "task", "filter"] if "run_id" in rules.columns else ["task", "filter"]
    return (
        samples.join(rules.select(on).unique(), on=on, how="semi")
        .select("run_id", "variant_id", "task", "subtask", "doc_id", value.alias("value"), cluster.alias("cluster"))
        .filter(pl.col("value").is_not_null() & pl.col("value").is_finite())
    )


def item_matrices(items: pl.DataFrame) -> list[ItemMatrix]:
    """One matrix per task and item set (``items``: :func:`scored_items`); a variant alone in its set has one row."""
    if items.is_empty():
        return []
    keyed = items.with_columns(pl.struct("subtask", "doc_id").hash(seed=7).alias("_item"))
    sets = keyed.group_by("run_id", "variant_id", "task").agg(
        pl.len().alias("_n"), pl.col("_item").sort().hash(seed=11).alias("_set")
    )
    out = []
    # items of one cluster side by side (the cluster sums then need no reordered copy), the same order for all
    grouped = keyed.join(sets, on=["run_id", "variant_id", "task"]).sort(
        "task", "_set", "run_id", "variant_id", "cluster", "subtask", "doc_id", nulls_last=True
    )
    for (task, _), part in grouped.group_by("task", "_set", maintain_order=True):
        n = int(part["_n"][0])
        variants = part.select("run_id", "variant_id").unique(maintain_order=True)
        values = part["value"].to_numpy().reshape(variants.height, n)
        first = part.head(n)
        out.append(
            ItemMatrix(
                task=str(task),
                variants=tuple(variants.iter_rows()),
                subtasks=tuple(first["subtask"].to_list()),
                doc_ids=first["doc_id"].to_numpy(),
                values=values,
                codes=cluster_codes(first["cluster"].to_list(), n),
                binary=bool(np.all((values == 0) | (values == 1))),
            )
        )
    return out


def task_coefficients(tasks: pl.DataFrame, weights: Mapping[str, float], edge_measured: pl.DataFrame) -> pl.DataFrame:
    """Per run, variant and task: ``coefficient``, the aggregate points one unit of the task's score is worth.

    ``tasks``: :func:`evals.scoring.task_scores` (categories other than edge); ``edge_measured``: the
    (run_id, variant_id) rows whose edge category was scored (their edge weight counts as measured).
    """
    weight = pl.DataFrame({"category": list(weights), "weight": list(weights.values())})
    per_category = tasks.join(weight, on="category", how="inner").with_columns(
        pl.len().over("run_id", "variant_id", "category").alias("_n")
    )
    measured = per_category.select("run_id", "variant_id", "category", "weight").unique()
    edge = edge_measured.select("run_id", "variant_id").unique()
    edge_weight = weights.get("edge", 0.0)
    totals = (
        measured.group_by("run_id", "variant_id")
        .agg(pl.col("weight").sum().alias("_w"))
        .join(edge.with_columns(pl.lit(edge_weight).alias("_e")), on=["run_id", "variant_id"], how="left")
        .with_columns((pl.col("_w") + pl.col("_e").fill_null(0.0)).alias("_measured"))
    )
    return per_category.join(totals, on=["run_id", "variant_id"]).select(
        "run_id",
        "variant_id",
        "task",
        (100.0 * pl.col("weight") / pl.col("_measured") / pl.col("_n")).alias("coefficient"),
    )


@dataclass(frozen=True)
class PairedBoard:
    """Each row's aggregate error and every pair's, rows in the order given."""

    keys: tuple[Key, ...]
    se: np.ndarray  # aggregate standard error per row
    difference_se: np.ndarray  # (V x V) standard error of aggregate_i - aggregate_j; 0 on the diagonal


def paired_board(
    keys: Sequence[Key],
    coefficients: pl.DataFrame,
    stderrs: pl.DataFrame,
    matrices: Sequence[ItemMatrix],
    extra_variance: np.ndarray | None = None,
) -> PairedBoard:
    """The paired errors of ``keys``' aggregates.

    ``coefficients``: :func:`task_coefficients`; ``stderrs``: run_id, variant_id, task, stderr (lm-eval's,
    used where no items were kept, as independent); ``extra_variance``: per row, variance entering the
    aggregate independently of any other row (the edge category's).

    ``Var(A_i - A_j) = u_i + u_j - 2 sum_t c_it c_jt Cov_t(i, j)`` with ``u_i = sum_t c_it^2 Var_t(i)`` plus
    the independent part; ``Cov_t`` is non-zero only for rows of one item matrix.
    """
    index = {k: i for i, k in enumerate(keys)}
    v = len(keys)
    tasks = sorted(set(coefficients["task"].to_list()))
    column = {t: j for j, t in enumerate(tasks)}
    coef = np.zeros((v, len(tasks)))
    var = np.zeros((v, len(tasks)))
    for run_id, variant_id, task, c in coefficients.select("run_id", "variant_id", "task", "coefficient").iter_rows():
        if (run_id, variant_id) in index:
            coef[index[(run_id, variant_id)], column[task]] = c
    for run_id, variant_id, task, se in stderrs.select("run_id", "variant_id", "task", "stderr").iter_rows():
        if (run_id, variant_id) in index and task in column and se is not None and np.isfinite(se):
            var[index[(run_id, variant_id)], column[task]] = se**2
    cross = np.zeros((v, v))
    for m in matrices:
        if m.task not in column:
            continue
        rows = np.array([index.get(k, -1) for k in m.variants])
        keep = rows >= 0
        if not keep.any():
            continue
        rows, values = (rows, m.values) if keep.all() else (rows[keep], m.values[keep])  # no copy when all are rows
        cov = np.nan_to_num(mean_covariances(values, m.codes), nan=0.0)
        t = column[m.task]
        var[rows, t] = np.diag(cov)
        c = coef[rows, t]
        cross[np.ix_(rows, rows)] += np.outer(c, c) * cov
    own = (coef**2 * var).sum(axis=1)
    np.fill_diagonal(cross, own)  # a row's own cross term is its variance: the diagonal of the result is 0
    independent = np.zeros(v) if extra_variance is None else np.asarray(extra_variance, dtype=np.float64)
    u = own + independent
    diff_var = u[:, None] + u[None, :] - 2.0 * cross
    np.fill_diagonal(diff_var, 0.0)
    return PairedBoard(tuple(keys), np.sqrt(u), np.sqrt(np.clip(diff_var, 0.0, None)))
