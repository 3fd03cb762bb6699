"""Quantization retention: how much of the unquantized score a quantized variant keeps.

For each quantized (GGUF) variant of a model in a run, the reference is the
unquantized variant of the same model in the same run (same tasks, limit and
seed, so the comparison is like for like) with the same prompts (both with the
chat template, or both without): the same backend first (so only the weights
differ), then FP32 before BF16 before FP16. Per category, and
for the aggregate (``category == "overall"``, the catalog weights
renormalized over the categories both variants measured):

    retention_pct = 100 x quantized score / reference score

Category scores are ``evals.scoring``'s (mean task score x 100); the edge
category is left out: it measures speed, not the quality quantization trades
away. A reference score of 0 leaves the ratio null (not measured), never 0
or infinite. Rows follow ``contracts.tables.RETENTION``.

Is a loss real or noise? Both variants answered the same items, so each row
also carries ``difference = score - reference_score`` with its paired 95%
interval and p-value (``evals.scoring`` rule 7: per task the clustered
variance of the per-item differences; a category is the mean of its tasks, the
overall row weighs the categories as above; a z-test). A task whose items were
not kept for both enters with its two stderrs as independent; with no kept
items at all the interval is null.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from contracts.quantizations import FLOAT_PRECISIONS
from contracts.tables import RETENTION
from evals.comparisons import Z95, mean_covariances, z_test
from evals.paired import item_matrices, scored_items
from evals.scoring import EDGE_CATEGORY, ScoringSpec, category_scores, task_rules, task_scores

OVERALL = "overall"
# reference preference among unquantized precisions, best first
_REFERENCE_ORDER = ("FP32", "BF16", "FP16")


def _references(runs: pl.DataFrame) -> pl.DataFrame:
    """One row per quantized variant: its reference variant, or none when the run has no unquantized variant."""
    # A run from before runs.chat_template existed (or a frame without it) applied no template.
    chat = pl.col("chat_template").fill_null(False) if "chat_template" in runs.columns else pl.lit(False)
    chat = chat.alias("chat_template")
    variants = runs.select("run_id", "variant_id", "model_name", "backend", "precision", chat).unique()
    quantized = variants.filter(~pl.col("precision").is_in(list(FLOAT_PRECISIONS)))
    unquantized = variants.filter(pl.col("precision").is_in(list(FLOAT_PRECISIONS))).select(
        "run_id",
        "model_name",
        "chat_template",
        pl.col("variant_id").alias("reference_variant_id"),
        pl.col("backend").alias("reference_backend"),
        pl.col("precision").alias("reference_precision"),
    )
    pairs = quantized.join(unquantized, on=["run_id", "model_name", "chat_template"], how="inner").with_columns(
        (pl.col("reference_backend") != pl.col("backend")).alias("_other_backend"),
        pl.col("reference_precision")
        .replace_strict({p: i for i, p in enumerate(_REFERENCE_ORDER)}, return_dtype=pl.Int64)
        .alias("_order"),
    )
    return (
        pairs.sort(["_other_backend", "_order", "reference_variant_id"])
        .group_by(["run_id", "variant_id"], maintain_order=True)
        .first()
        .select("run_id", "variant_id", "model_name", "precision", "reference_variant_id", "reference_precision")
    )


def _overall(cats: pl.DataFrame, weights: dict[str, float]) -> pl.DataFrame:
    """The weighted aggregate over the categories both sides measured."""
    w = pl.DataFrame({"category": list(weights), "weight": list(weights.values())})
    return (
        cats.join(w, on="category", how="inner")
        .group_by("run_id", "variant_id")
        .agg(
            ((pl.col("weight") * pl.col("score")).sum() / pl.col("weight").sum()).alias("score"),
            ((pl.col("weight") * pl.col("reference_score")).sum() / pl.col("weight").sum()).alias("reference_score"),
        )
        .with_columns(pl.lit(OVERALL).alias("category"))
    )


def _task_difference_variances(
    pairs: pl.DataFrame, tasks: pl.DataFrame, samples: pl.DataFrame | None, spec: ScoringSpec, runs: pl.DataFrame
) -> pl.DataFrame:
    """Per pair and task both measured: the variance of (quantized - reference) task score, proportions."""
    stderr = {(r, v, t): se for r, v, t, se in tasks.select("run_id", "variant_id", "task", "stderr").iter_rows()}
    paired: dict[tuple[str, str, str, str], float] = {}
    if samples is not None and not samples.is_empty():
        wanted = pl.concat(
            [
                pairs.select("run_id", "variant_id"),
                pairs.select("run_id", pl.col("reference_variant_id").alias("variant_id")),
            ]
        )
        items = scored_items(samples.join(wanted, on=["run_id", "variant_id"], how="semi"), task_rules(spec, runs))
        for m in item_matrices(items):
            row = {k: i for i, k in enumerate(m.variants)}
            for run_id, variant, reference in pairs.select("run_id", "variant_id", "reference_variant_id").iter_rows():
                a, b = row.get((run_id, variant)), row.get((run_id, reference))
                if a is not None and b is not None:
                    d = m.values[a] - m.values[b]
                    paired[(run_id, variant, reference, m.task)] = float(mean_covariances(d[None, :], m.codes)[0, 0])
    rows = []
    for run_id, variant, reference in pairs.select("run_id", "variant_id", "reference_variant_id").iter_rows():
        for (r, v, task), se in stderr.items():
            if r != run_id or v != variant or (run_id, reference, task) not in stderr:
                continue
            var = paired.get((run_id, variant, reference, task))
            if var is None:
                ses = (se, stderr[(run_id, reference, task)])
                var = None if any(x is None for x in ses) else ses[0] ** 2 + ses[1] ** 2
            rows.append({"run_id": run_id, "variant_id": variant, "task": task, "difference_variance": var})
    return pl.DataFrame(
        rows,
        schema={"run_id": pl.String, "variant_id": pl.String, "task": pl.String, "difference_variance": pl.Float64},
    )


def _difference_intervals(variances: pl.DataFrame, tasks: pl.DataFrame, weights: dict[str, float]) -> pl.DataFrame:
    """run_id, variant_id, category (and 'overall'), difference_se in points."""
    per_task = variances.join(
        tasks.select("run_id", "variant_id", "task", "category"), on=["run_id", "variant_id", "task"]
    )
    cats = per_task.group_by("run_id", "variant_id", "category").agg(
        ((100.0 / pl.len()) ** 2 * pl.col("difference_variance").sum()).alias("variance"),
        pl.col("difference_variance").is_null().any().alias("_unknown"),
    )
    cats = cats.with_columns(pl.when(pl.col("_unknown")).then(None).otherwise(pl.col("variance")).alias("variance"))
    w = pl.DataFrame({"category": list(weights), "weight": list(weights.values())})
    overall = (
        cats.join(w, on="category", how="inner")
        .group_by("run_id", "variant_id")
        .agg(
            (((pl.col("weight") ** 2) * pl.col("variance")).sum() / pl.col("weight").sum() ** 2).alias("variance"),
            pl.col("variance").is_null().any().alias("_unknown"),
        )
        .with_columns(pl.when(pl.col("_unknown")).then(None).otherwise(pl.col("variance")).alias("variance"))
        .with_columns(pl.lit(OVERALL).alias("category"))
    )
    both = pl.concat(
        [
            cats.select("run_id", "variant_id", "category", "variance"),
            overall.select("run_id", "variant_id", "category", "variance"),
        ]
    )
    return both.select("run_id", "variant_id", "category", pl.col("variance").sqrt().alias("difference_se"))


def retention(
    runs: pl.DataFrame, scores: pl.DataFrame, spec: ScoringSpec, samples: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Retention rows (``RETENTION``) for every quantized variant in ``runs`` that has a reference.

    ``runs``, ``scores`` and ``samples`` are frames of those tables (staged or published); a quantized
    variant with no unquantized sibling in its run has no rows. Without ``samples`` (or with none kept for a
    task) the difference's error takes the two stderrs as independent.
    """
    pairs = _references(runs)
    if pairs.is_empty():
        return RETENTION.empty()
    empty_edge = pl.DataFrame(
        schema={
            "run_id": pl.Utf8,
            "variant_id": pl.Utf8,
            "metric": pl.Utf8,
            "mean": pl.Float64,
            "score": pl.Float64,
            "score_se": pl.Float64,
        }
    )
    tasks = task_scores(scores, spec, runs).filter(pl.col("category") != EDGE_CATEGORY)
    cats = category_scores(tasks, empty_edge, spec).filter(pl.col("category") != EDGE_CATEGORY)
    cats = cats.select("run_id", "variant_id", "category", "score")
    ref = cats.rename({"variant_id": "reference_variant_id", "score": "reference_score"})
    both = pairs.join(cats, on=["run_id", "variant_id"], how="inner").join(
        ref, on=["run_id", "reference_variant_id", "category"], how="inner"
    )
    keys = pairs.select(
        "run_id", "variant_id", "model_name", "precision", "reference_variant_id", "reference_precision"
    )
    overall = _overall(both.select("run_id", "variant_id", "category", "score", "reference_score"), dict(spec.weights))
    rows = pl.concat(
        [
            both.select("run_id", "variant_id", "category", "score", "reference_score"),
            overall.select("run_id", "variant_id", "category", "score", "reference_score"),
        ]
    ).join(keys, on=["run_id", "variant_id"], how="inner")
    rows = rows.with_columns(
        pl.when(pl.col("reference_score") > 0)
        .then(100.0 * pl.col("score") / pl.col("reference_score"))
        .otherwise(None)
        .alias("retention_pct")
    ).sort("run_id", "variant_id", "category")
    # both sides measured the task: the pair's own tasks, so a category's mean is over the same tasks
    shared = tasks.join(
        pairs.select("run_id", "variant_id", "reference_variant_id"), on=["run_id", "variant_id"], how="inner"
    ).join(
        tasks.select("run_id", pl.col("variant_id").alias("reference_variant_id"), "task"),
        on=["run_id", "reference_variant_id", "task"],
        how="semi",
    )
    variances = _task_difference_variances(pairs, tasks, samples, spec, runs)
    errors = _difference_intervals(variances, shared, dict(spec.weights))
    rows = rows.join(errors, on=["run_id", "variant_id", "category"], how="left")
    se = pl.col("difference_se")
    rows = rows.with_columns((pl.col("score") - pl.col("reference_score")).alias("difference")).with_columns(
        pl.when(se.is_not_null()).then(pl.col("difference")).otherwise(None).alias("difference"),
        (pl.col("difference") - Z95 * se).alias("difference_ci_low"),
        (pl.col("difference") + Z95 * se).alias("difference_ci_high"),
    )
    p = rows.select(pl.col("difference").fill_null(0.0), se.fill_null(1.0))
    rows = rows.with_columns(
        pl.Series("p_value", np.asarray(z_test(p["difference"].to_numpy(), p["difference_se"].to_numpy())))
    ).with_columns(pl.when(se.is_not_null()).then(pl.col("p_value")).otherwise(None).alias("p_value"))
    return RETENTION.conform(rows.select(RETENTION.names))
