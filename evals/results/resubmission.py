"""For a re-submitted model: is each variant's change from its last published version significant?

The run summary (built when the run's frames are collected, before staging)
reads the published tables: for every variant of this run that the
leaderboard already has (same model name and variant id), the new aggregate
is compared with the published one by ``evals.scoring`` rule 7, over the
quality categories (edge left out, as retention does: a speed change is not a
quality change). Where both runs answered the same items of a task (same
documents, as when the task's config did not change), the task's difference
is paired; otherwise its two errors count as independent. A z-test at 5%.
"""

from __future__ import annotations

import polars as pl

from evals.comparisons import Z95, z_test
from evals.scoring import EDGE_CATEGORY, ScoringSpec, board_pairs, category_scores, latest_runs, task_scores
from evals.warehouse.storage import PUBLISHED, current_version, item_values, read_table

_KEYS = ["run_id", "variant_id"]


def resubmission_lines(
    uri: str | None, runs: pl.DataFrame, scores: pl.DataFrame, samples: pl.DataFrame, spec: ScoringSpec
) -> list[str]:
    """Summary lines, one per variant published before; none when the warehouse has no earlier version."""
    if not uri or current_version(uri, PUBLISHED, "runs") is None or runs.is_empty():
        return []
    published = latest_runs(read_table(uri, "runs"))
    before = published.join(runs.select("model_name", "variant_id"), on=["model_name", "variant_id"], how="semi")
    before = before.filter(~pl.col("run_id").is_in(runs["run_id"].unique().to_list()))
    if before.is_empty():
        return []
    old_scores = read_table(uri, "scores").join(before.select(_KEYS), on=_KEYS, how="semi")
    old_items = item_values(uri, before["run_id"].unique().to_list()).join(before.select(_KEYS), on=_KEYS, how="semi")
    both_runs = pl.concat([before, runs.with_columns(pl.lit("published").alias("status"))], how="diagonal_relaxed")
    all_scores = pl.concat([old_scores, scores], how="diagonal_relaxed")
    items = pl.concat([old_items, samples.select(old_items.columns)], how="vertical_relaxed")
    tasks = task_scores(all_scores, spec, both_runs).filter(pl.col("category") != EDGE_CATEGORY)
    no_edge = pl.DataFrame(schema={k: pl.String for k in _KEYS} | {"metric": pl.String, "mean": pl.Float64})
    no_edge = no_edge.with_columns(pl.lit(0.0).alias("score"), pl.lit(0.0).alias("score_se"))
    cats = category_scores(tasks, no_edge, spec).filter(pl.col("category") != EDGE_CATEGORY)
    weights = pl.DataFrame({"category": list(spec.weights), "weight": list(spec.weights.values())})
    rows = (
        cats.join(weights, on="category")
        .group_by(_KEYS)
        .agg(((pl.col("weight") * pl.col("score")).sum() / pl.col("weight").sum()).alias("aggregate"))
        .with_columns(pl.lit(0.0).alias("_edge_variance"))
        .sort(_KEYS)
    )
    board, _ = board_pairs(rows, tasks, no_edge.select(_KEYS), spec, items, both_runs)
    index = {k: i for i, k in enumerate(board.keys)}
    value = dict(zip(board.keys, rows["aggregate"].to_list(), strict=True))
    lines = []
    for old in before.iter_rows(named=True):
        new_run = runs.filter(pl.col("variant_id") == old["variant_id"])["run_id"][0]
        a, b = (new_run, old["variant_id"]), (old["run_id"], old["variant_id"])
        if a not in index or b not in index:
            continue
        diff = value[a] - value[b]
        se = float(board.difference_se[index[a], index[b]])
        p = float(z_test(diff, se))
        verdict = "a significant change" if p < 0.05 else "not a significant change"
        lines.append(
            f"- `{old['variant_id']}`: {value[a]:.1f} now, {value[b]:.1f} in the published run `{old['run_id']}` "
            f"(edge left out): {diff:+.1f} points (95% {diff - Z95 * se:+.1f} to {diff + Z95 * se:+.1f}), "
            f"p = {p:.2g}: **{verdict}**."
        )
    return (
        ["", "Change from the last published version (paired on the items both runs answered):", "", *lines]
        if lines
        else []
    )
