"""The GX suites reject each kind of bad frame, and name what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from benchmarks.synthetic import plan_of, run_frames
from contracts.expectations import ValidationReport, validate
from contracts.tables import EDGE, RUNS, SCORES, SchemaError, Table, leaderboard
from evals.catalog.suites import load_catalog
from evals.warehouse.staging import catalog_domains

FRAMES = run_frames(variants=("FP32", "Q8_0"))
PLAN = plan_of(FRAMES)
DOMAINS = catalog_domains(load_catalog())


def check(table: Table, frame: pl.DataFrame) -> ValidationReport:
    return validate(table, frame, DOMAINS, PLAN)


def test_valid_run_frames_pass() -> None:
    for table in (RUNS, SCORES, EDGE):
        report = check(table, FRAMES[table.name])
        assert report.success, report.summary()


def _set_first(column: str, value: object) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def spoil(frame: pl.DataFrame) -> pl.DataFrame:
        first = pl.int_range(pl.len()) == 0
        return frame.with_columns(pl.when(first).then(pl.lit(value)).otherwise(pl.col(column)).alias(column))

    return spoil


BAD_SCORES = {
    "nan value": (_set_first("value", float("nan")), "value is NaN"),
    "nan stderr": (_set_first("stderr", float("nan")), "stderr is NaN"),
    "accuracy above 1": (_set_first("value", 1.5), "value where metric is a proportion"),
    "negative stderr": (_set_first("stderr", -0.1), "stderr"),
    "duplicate key": (lambda f: pl.concat([f, f.head(1)]), "run_id, variant_id, task, subtask, metric, filter"),
    "missing task": (
        lambda f: f.filter(pl.col("task") != "slmb_code"),
        "planned unit (variant/task) with its primary metric",
    ),
    "wrong type": (lambda f: f.with_columns(pl.col("n_samples").cast(pl.String)), "n_samples"),
    "unknown category": (_set_first("category", "cooking"), "category"),
    "task in the wrong category": (_set_first("category", "math"), "task/category pair"),
    "unknown task": (_set_first("task", "slmb_factz"), "task"),
    "missing column": (lambda f: f.drop("stderr"), "stderr"),
    "null value": (_set_first("value", None), "value"),
}


@pytest.mark.parametrize("case", list(BAD_SCORES))
def test_bad_scores_are_rejected(case: str) -> None:
    spoil, column = BAD_SCORES[case]
    report = check(SCORES, spoil(FRAMES["scores"]))
    assert not report.success
    assert column in {f.column for f in report.failures}, report.summary()


def test_bad_runs_and_edge_are_rejected() -> None:
    runs = check(RUNS, FRAMES["runs"].with_columns(backend=pl.lit("onnx")))
    assert {f.column for f in runs.failures} == {"backend"}
    missing_variant = check(RUNS, FRAMES["runs"].head(1))
    assert {f.expectation for f in missing_variant.failures} >= {"expect_table_row_count_to_equal"}
    zero_throughput = check(EDGE, FRAMES["edge"].with_columns(mean=pl.lit(0.0)))
    assert {f.column for f in zero_throughput.failures} == {"mean"}
    missing_metric = check(EDGE, FRAMES["edge"].filter(pl.col("metric") != "latency_ms"))
    assert not missing_metric.success


def test_report_lists_every_failure_in_markdown_and_json() -> None:
    bad = FRAMES["scores"].with_columns(value=pl.lit(float("nan")), category=pl.lit("cooking"))
    report = check(SCORES, bad)
    assert len(report.failures) >= 3
    markdown = report.to_markdown()
    assert "value is NaN" in markdown and "cooking" in markdown
    assert report.to_dict()["success"] is False


def test_leaderboard_contract() -> None:
    table = leaderboard(list(load_catalog().categories))
    row = {name: None for name in table.names} | {
        "model_name": "m",
        "variant_id": "m--FP32",
        "run_id": "r",
        "backend": "transformers",
        "precision": "FP32",
        "score_reasoning": 50.0,
        "aggregate": 50.0,
        "aggregate_normalized": 30.0,
        "aggregate_ci_low": 45.0,
        "aggregate_ci_high": 55.0,
        "coverage": 0.3,
        "partial": True,
        "rank": 1,
        "rank_band": 1,
        "data_version": 3,
    }
    good = pl.DataFrame([row], schema=table.schema)
    assert validate(table, good).success
    bad = good.with_columns(aggregate=pl.lit(120.0))
    assert {f.column for f in validate(table, bad).failures} == {"aggregate"}


def test_conform_names_missing_columns() -> None:
    with pytest.raises(SchemaError, match="missing columns \\['stderr'\\]"):
        SCORES.conform(FRAMES["scores"].drop("stderr"))


def _bias_rows(value: float) -> pl.DataFrame:
    """The first score row again as a BBQ bias score (a second metric of the same unit)."""
    first = FRAMES["scores"].head(1)
    return pl.concat(
        [FRAMES["scores"], first.with_columns(metric=pl.lit("disamb_bias_score_Age"), value=pl.lit(value))]
    )


def test_a_bias_score_is_signed_within_minus_one_and_one() -> None:
    assert check(SCORES, _bias_rows(-0.4)).success  # below 0 is a bias score's right, unlike a proportion's
    report = check(SCORES, _bias_rows(-1.5))
    assert not report.success
    assert {f.column for f in report.failures} == {"bias score in [-1, 1]"}, report.summary()


def test_the_catalog_refuses_a_bias_score_as_a_primary_metric(tmp_path: Path) -> None:
    from evals.catalog.suites import CatalogError, load_suite

    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "tasks:\n  my_bbq: {lm_eval: bbq, category: safety, metric: amb_bias_score, baseline: 0}\n"
        "suites:\n  mine: {tasks: [my_bbq]}\n"
    )
    with pytest.raises(CatalogError, match=r"my_bbq: metric 'amb_bias_score' is a bias score: signed, in \[-1, 1\]"):
        load_suite(str(suite))
