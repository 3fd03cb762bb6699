"""Quantization retention: a quantized variant's scores as a percentage of its unquantized sibling's."""

from __future__ import annotations

import polars as pl
import pytest

from contracts.tables import RETENTION
from evals.results.retention import OVERALL, retention
from evals.scoring import default_spec

# (task, metric, filter): one task each in reasoning, language and math
TASKS = {
    "slmb_facts": ("acc", "none"),
    "slmb_yesno": ("acc", "none"),
    "slmb_arith": ("exact_match", "strict-match"),
}


def runs(*variants: tuple[str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"run_id": "r1", "variant_id": v, "model_name": "demo", "backend": b, "precision": p} for v, b, p in variants]
    )


def scores(values: dict[str, dict[str, float]]) -> pl.DataFrame:
    rows = []
    for variant, by_task in values.items():
        for task, value in by_task.items():
            metric, filt = TASKS[task]
            rows.append(
                {
                    "run_id": "r1",
                    "variant_id": variant,
                    "task": task,
                    "subtask": task,
                    "metric": metric,
                    "filter": filt,
                    "value": value,
                    "stderr": 0.01,
                    "n_samples": 100,
                }
            )
    return pl.DataFrame(rows)


def by_category(frame: pl.DataFrame, variant: str) -> dict[str, float | None]:
    rows = frame.filter(pl.col("variant_id") == variant)
    return dict(zip(rows["category"], rows["retention_pct"], strict=True))


def test_retention_per_category_and_overall() -> None:
    frame = retention(
        runs(("fp32", "llamacpp", "FP32"), ("q8", "llamacpp", "Q8_0"), ("q4", "llamacpp", "Q4_K_M")),
        scores(
            {
                "fp32": {"slmb_facts": 0.80, "slmb_yesno": 0.60, "slmb_arith": 0.50},
                "q8": {"slmb_facts": 0.80, "slmb_yesno": 0.60, "slmb_arith": 0.50},
                "q4": {"slmb_facts": 0.40, "slmb_yesno": 0.60, "slmb_arith": 0.25},
            }
        ),
        default_spec(),
    )
    assert frame.schema == RETENTION.schema
    assert set(frame["reference_variant_id"]) == {"fp32"}
    assert by_category(frame, "q8") == {"language": 100.0, "math": 100.0, "reasoning": 100.0, OVERALL: 100.0}
    q4 = by_category(frame, "q4")
    assert (q4["reasoning"], q4["language"], q4["math"]) == pytest.approx((50.0, 100.0, 50.0))
    # overall: weights 0.30 reasoning, 0.15 language, 0.15 math over the measured 0.60
    quantized = (0.30 * 40 + 0.15 * 60 + 0.15 * 25) / 0.60
    reference = (0.30 * 80 + 0.15 * 60 + 0.15 * 50) / 0.60
    assert q4[OVERALL] == pytest.approx(100 * quantized / reference)
    assert "fp32" not in frame["variant_id"].to_list()  # the reference has no row of its own


def test_reference_prefers_same_backend_then_fp32() -> None:
    frame = retention(
        runs(
            ("hf-bf16", "transformers", "BF16"),
            ("gguf-f32", "llamacpp", "FP32"),
            ("hf-fp32", "transformers", "FP32"),
            ("q4", "llamacpp", "Q4_K_M"),
        ),
        scores({v: {"slmb_facts": 0.5} for v in ("hf-bf16", "gguf-f32", "hf-fp32", "q4")}),
        default_spec(),
    )
    assert set(frame["reference_variant_id"]) == {"gguf-f32"}


def test_zero_reference_is_not_measured_and_no_reference_no_rows() -> None:
    frame = retention(
        runs(("fp32", "llamacpp", "FP32"), ("q4", "llamacpp", "Q4_K_M")),
        scores({"fp32": {"slmb_arith": 0.0}, "q4": {"slmb_arith": 0.1}}),
        default_spec(),
    )
    assert by_category(frame, "q4") == {"math": None, OVERALL: None}
    alone = retention(runs(("q4", "llamacpp", "Q4_K_M")), scores({"q4": {"slmb_facts": 0.5}}), default_spec())
    assert alone.is_empty() and alone.schema == RETENTION.schema


def test_a_chat_template_variant_is_compared_with_one_that_saw_the_same_prompts() -> None:
    frame = runs(
        ("fp32", "transformers", "FP32"),
        ("fp32-chat", "transformers", "FP32"),
        ("q8-chat", "llamacpp", "Q8_0"),
        ("q4", "llamacpp", "Q4_K_M"),
    ).with_columns(pl.Series("chat_template", [False, True, True, None]))  # None: a row from before the column
    values = {"slmb_facts": 0.8, "slmb_yesno": 0.6}
    kept = retention(frame, scores({v: values for v in ("fp32", "fp32-chat", "q8-chat", "q4")}), default_spec())
    pairs = kept.filter(pl.col("category") == OVERALL).select("variant_id", "reference_variant_id").rows()
    assert sorted(pairs) == [("q4", "fp32"), ("q8-chat", "fp32-chat")]


def _item_rows(variant: str, task: str, right: list[bool]) -> list[dict]:
    metric, filt = TASKS[task]
    return [
        {
            "run_id": "r1",
            "variant_id": variant,
            "task": task,
            "subtask": task,
            "filter": filt,
            "doc_id": i,
            "correct": r,
            "value": float(r),
            "cluster": None,
        }
        for i, r in enumerate(right)
    ]


def test_a_loss_on_the_same_items_has_a_paired_interval() -> None:
    # 400 yes/no items: q4 loses 24 that fp32 got right (60% -> 54%); q8 differs on 2 items each way
    fp32 = [i % 5 < 3 for i in range(400)]
    q4 = [r and not (i % 5 == 0 and i < 120) for i, r in enumerate(fp32)]
    q8 = list(fp32)
    q8[0], q8[4] = False, True
    samples = pl.DataFrame(
        _item_rows("fp32", "slmb_yesno", fp32) + _item_rows("q4", "slmb_yesno", q4) + _item_rows("q8", "slmb_yesno", q8)
    )
    values = {v: {"slmb_yesno": sum(x) / 400} for v, x in (("fp32", fp32), ("q4", q4), ("q8", q8))}
    variants = runs(("fp32", "llamacpp", "FP32"), ("q8", "llamacpp", "Q8_0"), ("q4", "llamacpp", "Q4_K_M"))
    frame = retention(variants, scores(values), default_spec(), samples)
    overall = {r["variant_id"]: r for r in frame.filter(pl.col("category") == OVERALL).iter_rows(named=True)}
    q4_row, q8_row = overall["q4"], overall["q8"]
    assert q4_row["difference"] == pytest.approx(-6.0)
    # paired: sd of the differences over sqrt(400), in points (0.06 x 0.94 / 399 variance per item)
    se = 100 * (0.06 * 0.94 * 400 / 399 / 400) ** 0.5
    assert (q4_row["difference_ci_low"], q4_row["difference_ci_high"]) == pytest.approx(
        (-6.0 - 1.96 * se, -6.0 + 1.96 * se), abs=1e-3
    )
    assert q4_row["p_value"] < 1e-6  # a real loss
    assert q8_row["difference"] == 0.0 and q8_row["p_value"] == pytest.approx(1.0)  # noise, not a loss
    # without items the two stderrs count as independent: a wider interval
    plain = retention(variants, scores(values), default_spec())
    wide = plain.filter((pl.col("category") == OVERALL) & (pl.col("variant_id") == "q4")).row(0, named=True)
    assert (
        wide["difference_ci_high"] - wide["difference_ci_low"]
        > q4_row["difference_ci_high"] - q4_row["difference_ci_low"]
    )
