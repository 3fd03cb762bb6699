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
"""

from __future__ import annotations

import polars as pl

from contracts.quantizations import FLOAT_PRECISIONS
from contracts.tables import RETENTION
from evals.scoring import EDGE_CATEGORY, ScoringSpec, category_scores, task_scores

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


def retention(runs: pl.DataFrame, scores: pl.DataFrame, spec: ScoringSpec) -> pl.DataFrame:
    """Retention rows (``RETENTION``) for every quantized variant in ``runs`` that has a reference.

    ``runs`` and ``scores`` are frames of the ``runs`` and ``scores`` tables
    (staged or published); a quantized variant with no unquantized sibling in
    its run has no rows.
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
    cats = category_scores(task_scores(scores, spec, runs), empty_edge, spec).filter(
        pl.col("category") != EDGE_CATEGORY
    )
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
    return RETENTION.conform(rows.select(RETENTION.names))
