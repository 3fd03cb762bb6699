"""Scoring golden cases: the methodology's numbers, exactly."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import polars as pl
import pytest
from lm_eval.api.metrics import aggregate_subtask_metrics, pooled_sample_stderr

from contracts.tables import EDGE, RUNS, SCORES
from evals.scoring import (
    Z95,
    EdgeBound,
    ScoringSpec,
    aggregate,
    build_leaderboard,
    default_spec,
    load_edge_reference,
    task_scores,
)

SPEC = default_spec()
WEIGHTS = dict(SPEC.weights)


def test_original_design_example() -> None:
    # The design's worked example: Reasoning 65.0 x 0.30 = 19.5, Coding 40.0 x 0.20 = 8.0, ...
    scores = {"reasoning": 65.0, "coding": 40.0, "math": 50.0, "language": 70.0, "edge": 80.0, "safety": 90.0}
    contributions = {c: s * WEIGHTS[c] for c, s in scores.items()}
    assert contributions["reasoning"] == pytest.approx(19.5)
    assert contributions["coding"] == pytest.approx(8.0)
    result = aggregate(scores, WEIGHTS)
    assert result.value == pytest.approx(19.5 + 8.0 + 7.5 + 10.5 + 8.0 + 9.0)
    assert result.coverage == pytest.approx(1.0) and not result.partial


def test_missing_categories_renormalize_over_measured_weights() -> None:
    result = aggregate({"reasoning": 65.0, "coding": 40.0, "safety": None}, WEIGHTS)
    assert result.value == pytest.approx((19.5 + 8.0) / 0.5)
    assert result.coverage == pytest.approx(0.5)
    assert result.partial


def test_edge_score_uses_fixed_log_bounds() -> None:
    bounds = load_edge_reference()
    tps = bounds["tokens_per_s"]
    assert tps.score(tps.best) == 100.0 and tps.score(tps.worst) == 0.0
    assert tps.score(math.sqrt(tps.best * tps.worst)) == pytest.approx(50.0)  # the log midpoint
    assert tps.score(tps.best * 10) == 100.0  # clipped
    memory = bounds["peak_memory_gb"]
    assert memory.score(0.2) > memory.score(2.0)  # lower memory scores higher
    assert EdgeBound("ms", best=10.0, worst=1000.0).score(100.0) == pytest.approx(50.0)


def _runs(*rows: tuple[str, str, str]) -> pl.DataFrame:
    base = {name: None for name in RUNS.names}
    return pl.DataFrame(
        [
            base
            | {
                "run_id": run,
                "variant_id": variant,
                "model_name": model,
                "status": "published",
                "backend": "transformers",
                "precision": "FP32",
                "parameters": 1_000_000,
                "finished_at": datetime(2025, 1, 1, tzinfo=UTC),
            }
            for run, variant, model in rows
        ],
        schema=RUNS.schema,
    )


def _scores(run: str, variant: str, values: dict[str, float], stderr: float = 0.0) -> list[dict]:
    rows = []
    for task, value in values.items():
        rule = SPEC.tasks[task]
        rows.append(
            {
                "run_id": run,
                "variant_id": variant,
                "model_name": "m",
                "task": task,
                "subtask": task,
                "metric": rule.metric,
                "filter": rule.filter,
                "value": value,
                "stderr": stderr,
                "n_samples": 100,
                "category": rule.category,
                "num_fewshot": 0,
                "task_version": "1",
            }
        )
    return rows


def _edge(run: str, variant: str, means: dict[str, float]) -> list[dict]:
    return [
        {
            "run_id": run,
            "variant_id": variant,
            "metric": metric,
            "mean": mean,
            "sd": None,
            "repetitions": 1,
            "hardware_profile": "cpu",
            "unit": SPEC.edge[metric].unit,
        }
        for metric, mean in means.items()
    ]


def test_leaderboard_matches_the_example_end_to_end() -> None:
    # Two tasks per category averaging to the example's category scores.
    values = {
        "arc_challenge": 0.60,
        "hellaswag": 0.70,  # reasoning 65
        "humaneval": 0.30,
        "mbpp": 0.50,  # coding 40
        "gsm8k": 0.50,  # math 50
        "boolq": 0.70,  # language 70
    }
    # Edge 80: every metric at the point that scores 80 on its log scale.
    edge_means = {m: b.worst * (b.best / b.worst) ** 0.8 for m, b in SPEC.edge.items()}
    board = build_leaderboard(
        _runs(("r1", "v1", "m")),
        pl.DataFrame(_scores("r1", "v1", values), schema=SCORES.schema),
        pl.DataFrame(_edge("r1", "v1", edge_means), schema=EDGE.schema),
        SPEC,
        data_version=7,
    )
    row = board.row(0, named=True)
    assert row["score_reasoning"] == pytest.approx(65.0)
    assert row["score_coding"] == pytest.approx(40.0)
    assert row["score_edge"] == pytest.approx(80.0)
    assert row["score_safety"] is None
    measured = 0.30 + 0.20 + 0.15 + 0.15 + 0.10
    assert row["aggregate"] == pytest.approx((19.5 + 8.0 + 7.5 + 10.5 + 8.0) / measured)
    assert row["coverage"] == pytest.approx(measured) and row["partial"]
    assert row["data_version"] == 7 and row["rank"] == 1
    # Baseline-normalized: arc/hellaswag have baseline 0.25, boolq 0.5, the others 0.
    reasoning_norm = 100 * ((0.60 - 0.25) / 0.75 + (0.70 - 0.25) / 0.75) / 2
    language_norm = 100 * (0.70 - 0.5) / 0.5
    expected = (0.30 * reasoning_norm + 0.20 * 40.0 + 0.15 * 50.0 + 0.15 * language_norm + 0.10 * 80.0) / measured
    assert row["aggregate_normalized"] == pytest.approx(expected)
    # ... category by category, as the leaderboard's raw / normalized switch shows them (edge has no baseline)
    assert row["normalized_reasoning"] == pytest.approx(reasoning_norm)
    assert row["normalized_language"] == pytest.approx(language_norm)
    assert (row["normalized_coding"], row["normalized_edge"]) == (pytest.approx(40.0), pytest.approx(80.0))
    assert row["normalized_safety"] is None


def test_the_test_model_mark_reaches_the_leaderboard() -> None:
    runs = _runs(("r1", "v1", "fixture"), ("r2", "v2", "real")).with_columns(test_model=pl.Series([True, False]))
    scores = _scores("r1", "v1", {"boolq": 0.6}) + _scores("r2", "v2", {"boolq": 0.7})
    board = build_leaderboard(runs, pl.DataFrame(scores, schema=SCORES.schema), EDGE.empty(), SPEC, data_version=0)
    assert dict(board.select("model_name", "test_model").iter_rows()) == {"fixture": True, "real": False}


def test_normalized_scores_clip_at_zero() -> None:
    board = build_leaderboard(
        _runs(("r1", "v1", "m")),
        pl.DataFrame(_scores("r1", "v1", {"boolq": 0.30}), schema=SCORES.schema),
        EDGE.empty(),
        SPEC,
        data_version=0,
    )
    assert board["aggregate_normalized"][0] == 0.0
    assert board["aggregate"][0] == pytest.approx(30.0)


def test_groups_count_once_aggregated_like_lm_eval() -> None:
    sizes, values, stderrs = [100, 300, 50], [0.4, 0.6, 0.9], [0.05, 0.03, 0.04]
    rows = []
    for i, (n, v, se) in enumerate(zip(sizes, values, stderrs, strict=True)):
        row = _scores("r1", "v1", {"mmlu": v}, stderr=se)[0]
        rows.append(row | {"subtask": f"mmlu_part{i}", "n_samples": n})
    rows += _scores("r1", "v1", {"arc_challenge": 0.5}, stderr=0.02)
    tasks = task_scores(pl.DataFrame(rows, schema=SCORES.schema), SPEC)
    mmlu = tasks.filter(pl.col("task") == "mmlu").row(0, named=True)
    assert mmlu["value"] == pytest.approx(aggregate_subtask_metrics(values, sizes, weight_by_size=True))
    assert mmlu["stderr"] == pytest.approx(pooled_sample_stderr(stderrs, sizes))
    assert mmlu["n_samples"] == sum(sizes)
    assert tasks.height == 2  # mmlu counts once next to arc_challenge


def test_interval_and_ties_are_visible() -> None:
    values = {"arc_challenge": 0.5}
    scores = (
        _scores("r1", "a", values, stderr=0.05)
        + _scores("r2", "b", {"arc_challenge": 0.52}, stderr=0.05)
        + _scores("r3", "c", {"arc_challenge": 0.9}, stderr=0.01)
    )
    board = build_leaderboard(
        _runs(("r1", "a", "m1"), ("r2", "b", "m2"), ("r3", "c", "m3")),
        pl.DataFrame(scores, schema=SCORES.schema),
        EDGE.empty(),
        SPEC,
        data_version=1,
    )
    by_variant = {r["variant_id"]: r for r in board.iter_rows(named=True)}
    a = by_variant["a"]
    assert a["aggregate_ci_high"] - a["aggregate"] == pytest.approx(Z95 * 5.0)
    assert [by_variant[v]["rank"] for v in "cba"] == [1, 2, 3]
    # b and a overlap: the same band, below c, which is clearly ahead.
    assert [by_variant[v]["rank_band"] for v in "cba"] == [1, 2, 2]


def test_full_coverage_ranks_first_and_scores_ignore_other_models() -> None:
    full = {"arc_challenge": 0.4, "mbpp": 0.4, "gsm8k": 0.4, "boolq": 0.6}
    edge_means = {m: b.worst for m, b in SPEC.edge.items()}
    safety_spec = ScoringSpec(
        weights={k: v for k, v in WEIGHTS.items() if k != "safety"} | {"safety": WEIGHTS["safety"]},
        tasks=SPEC.tasks,
        edge=SPEC.edge,
    )
    rows_full = _scores("r1", "full", full)
    rows_partial = _scores("r2", "partial", {"arc_challenge": 0.99})
    runs = _runs(("r1", "full", "m1"), ("r2", "partial", "m2"))
    one = build_leaderboard(
        runs.filter(pl.col("run_id") == "r1"),
        pl.DataFrame(rows_full, schema=SCORES.schema),
        pl.DataFrame(_edge("r1", "full", edge_means), schema=EDGE.schema),
        safety_spec,
        0,
    )
    both = build_leaderboard(
        runs,
        pl.DataFrame(rows_full + rows_partial, schema=SCORES.schema),
        pl.DataFrame(_edge("r1", "full", edge_means), schema=EDGE.schema),
        safety_spec,
        0,
    )
    # No category is safety-scored here, so no row has full coverage: order by aggregate.
    assert both["variant_id"].to_list() == ["partial", "full"]
    assert one.filter(pl.col("variant_id") == "full")["aggregate"][0] == pytest.approx(
        both.filter(pl.col("variant_id") == "full")["aggregate"][0]
    )
    no_safety = ScoringSpec(
        weights={k: v for k, v in WEIGHTS.items() if k != "safety"}, tasks=SPEC.tasks, edge=SPEC.edge
    )
    ranked = build_leaderboard(
        runs,
        pl.DataFrame(rows_full + rows_partial, schema=SCORES.schema),
        pl.DataFrame(_edge("r1", "full", edge_means), schema=EDGE.schema),
        no_safety,
        0,
    )
    # Without a safety weight "full" covers everything and ranks above the higher partial row.
    assert ranked["variant_id"].to_list() == ["full", "partial"]
    assert ranked["partial"].to_list() == [False, True]


def test_edge_figures_from_another_hardware_profile_are_not_scored() -> None:
    from benchmarks.synthetic import run_frames

    frames = run_frames(run_id="r1", variants=("FP32", "Q8_0", "Q4_K_M"))
    edge = frames["edge"]
    assert edge.height > 0
    # c was measured on another machine: its figures must not enter the ranking
    other = edge.with_columns(
        pl.when(pl.col("variant_id") == "Q4_K_M")
        .then(pl.lit("cpu/other/8t"))
        .otherwise(pl.col("hardware_profile"))
        .alias("hardware_profile")
    )
    runs = frames["runs"].with_columns(pl.lit("published").alias("status"))
    board = build_leaderboard(runs, frames["scores"], other, default_spec(), data_version=0)
    by_variant = {r["variant_id"]: r for r in board.iter_rows(named=True)}
    assert by_variant["FP32"]["score_edge"] is not None and by_variant["Q8_0"]["score_edge"] is not None
    assert by_variant["Q4_K_M"]["score_edge"] is None and by_variant["Q4_K_M"]["partial"]


def test_each_run_is_scored_by_the_task_definitions_it_recorded() -> None:
    """A run's own definitions win over the catalog (a user's task the catalog never heard of, and a built-in task
    recorded with another primary metric); a run recorded without them falls back to the catalog."""
    import json

    from evals.catalog.definitions import BUILT_IN

    def definition(task: str, category: str, metric: str, baseline: float, source: str) -> dict:
        return {
            "task": task,
            "lm_eval": task,
            "category": category,
            "metric": metric,
            "filter": "none",
            "num_fewshot": 0,
            "baseline": baseline,
            "group": False,
            "executes_code": False,
            "config_hash": "0" * 64,
            "user": source != BUILT_IN,
            "source": source,
        }

    recorded = [
        definition("held_qa", "language", "acc", 0.5, "my_suite.yaml, my_tasks/held_qa.yaml"),
        definition("boolq", "language", "acc_norm", 0.5, BUILT_IN),  # the catalog says acc
    ]
    runs = _runs(("r1", "v1", "m1"), ("r2", "v2", "m2")).with_columns(
        pl.when(pl.col("run_id") == "r1").then(pl.lit(json.dumps(recorded))).alias("task_definitions")
    )
    row = _scores("r1", "v1", {"boolq": 0.0})[0]
    rows = [
        row | {"task": "held_qa", "subtask": "held_qa", "value": 0.80},
        row | {"metric": "acc", "value": 0.10},
        row | {"metric": "acc_norm", "value": 0.60},
        *_scores("r2", "v2", {"boolq": 0.40}),  # recorded before definitions: acc, as the catalog says
    ]
    tasks = task_scores(pl.DataFrame(rows, schema=SCORES.schema), SPEC, runs)
    got = {(r["run_id"], r["task"]): (r["metric"], r["value"], r["category"]) for r in tasks.iter_rows(named=True)}
    assert got == {
        ("r1", "held_qa"): ("acc", 0.80, "language"),
        ("r1", "boolq"): ("acc_norm", 0.60, "language"),
        ("r2", "boolq"): ("acc", 0.40, "language"),
    }
    board = build_leaderboard(runs, pl.DataFrame(rows, schema=SCORES.schema), EDGE.empty(), SPEC, data_version=0)
    scores = dict(zip(board["variant_id"], board["score_language"], strict=True))
    assert scores == {"v1": pytest.approx(70.0), "v2": pytest.approx(40.0)}


def _items(
    run: str, variant: str, task: str, right: list[bool], clusters: list[str | None] | None = None
) -> pl.DataFrame:
    """The samples columns paired scoring reads (evals.warehouse.storage.ITEM_COLUMNS), one row per item."""
    n = len(right)
    return pl.DataFrame(
        {
            "run_id": [run] * n,
            "variant_id": [variant] * n,
            "task": [task] * n,
            "subtask": [task] * n,
            "filter": [SPEC.tasks[task].filter] * n,
            "doc_id": list(range(n)),
            "correct": right,
            "value": [float(r) for r in right],
            "cluster": clusters or [None] * n,
        },
        schema={
            "run_id": pl.String,
            "variant_id": pl.String,
            "task": pl.String,
            "subtask": pl.String,
            "filter": pl.String,
            "doc_id": pl.Int64,
            "correct": pl.Boolean,
            "value": pl.Float64,
            "cluster": pl.String,
        },
    )


def _paired_case(clusters: list[str | None] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two variants on the same 2,000 ARC items: b is a, wrong on 50 more; 60.0 against 57.5."""
    a = [i % 5 < 3 for i in range(2000)]
    b = [right and not (i % 5 == 0 and i < 250) for i, right in enumerate(a)]
    values = {"a": sum(a) / 2000, "b": sum(b) / 2000}
    stderr = {v: math.sqrt(p * (1 - p) / 1999) for v, p in values.items()}
    scores = _scores("r1", "a", {"arc_challenge": values["a"]}, stderr["a"]) + _scores(
        "r1", "b", {"arc_challenge": values["b"]}, stderr["b"]
    )
    samples = pl.concat(
        [_items("r1", "a", "arc_challenge", a, clusters), _items("r1", "b", "arc_challenge", b, clusters)]
    )
    return pl.DataFrame(scores, schema=SCORES.schema), samples


def test_a_paired_test_separates_rows_whose_intervals_overlap() -> None:
    scores, samples = _paired_case()
    runs = _runs(("r1", "a", "m"), ("r1", "b", "m"))
    board = build_leaderboard(runs, scores, EDGE.empty(), SPEC, data_version=1, samples=samples)
    by_variant = {r["variant_id"]: r for r in board.iter_rows(named=True)}
    a, b = by_variant["a"], by_variant["b"]
    assert (a["aggregate"], b["aggregate"]) == pytest.approx((60.0, 57.5))
    assert a["aggregate_ci_low"] < b["aggregate_ci_high"]  # the independent intervals overlap ...
    assert a["rank_band"] == b["rank_band"] == 1  # ... so the old rule ties them
    assert (a["rank_lo"], a["rank_hi"], b["rank_lo"], b["rank_hi"]) == (1, 1, 2, 2)  # the paired test does not
    # the item-level error is lm-eval's s / sqrt(n) when no item shares a cluster
    assert a["aggregate_se"] == pytest.approx(100 * math.sqrt(0.6 * 0.4 / 1999))
    # without items nothing is paired: the same rows tie
    plain = build_leaderboard(runs, scores, EDGE.empty(), SPEC, data_version=1)
    assert set(plain["rank_lo"].to_list()) == {1} and set(plain["rank_hi"].to_list()) == {2}


def test_clustered_items_widen_the_interval() -> None:
    # passages of ten items, each passage wholly right or wrong: far less information than 2,000 lone items
    right = [(i // 10) % 5 < 3 for i in range(2000)]
    scores = pl.DataFrame(_scores("r1", "a", {"arc_challenge": 0.6}, 0.011), schema=SCORES.schema)
    runs = _runs(("r1", "a", "m"))

    def se(clusters: list[str | None] | None) -> float:
        samples = _items("r1", "a", "arc_challenge", right, clusters)
        return build_leaderboard(runs, scores, EDGE.empty(), SPEC, data_version=1, samples=samples)["aggregate_se"][0]

    naive, clustered = se(None), se([f"passage {i // 10}" for i in range(2000)])
    assert naive == pytest.approx(100 * math.sqrt(0.24 / 1999))
    # 200 passages of 0 or 1: sd 0.49 over sqrt(200), with the G / (G - 1) factor
    assert clustered == pytest.approx(100 * math.sqrt(200 / 199 * 0.24 / 200))
    assert clustered > 3 * naive
