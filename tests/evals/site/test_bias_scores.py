"""A model page shows BBQ's bias scores beside its task scores (evals/site/model_pages.py)."""

from __future__ import annotations

import polars as pl

from evals.site.model_pages import _bias_table


def _row(run: str, variant: str, metric: str, value: float) -> dict[str, object]:
    return {"run_id": run, "variant_id": variant, "task": "bbq", "metric": metric, "value": value}


def test_bias_scores_are_signed_and_shown_for_the_pages_runs_only() -> None:
    scores = pl.DataFrame(
        [
            _row("r1", "m--FP32", "amb_bias_score", -0.125),
            _row("r1", "m--FP32", "disamb_bias_score", 0.25),
            _row("r1", "m--FP32", "accuracy_amb", 0.5),
            _row("r1", "m--FP32", "acc", 0.4),  # the score itself: in the task table, not here
            _row("r0", "m--FP32", "amb_bias_score", 0.9),  # an older run of the variant
        ]
    )
    runs = pl.DataFrame({"run_id": ["r1"], "variant_id": ["m--FP32"]})
    shown = _bias_table(scores, runs, ["m--FP32"], {"m--FP32": "FP32"})
    assert "−0.125" in shown or "-0.125" in shown
    assert "+0.250" in shown and "50.0" in shown and "+0.900" not in shown
    assert "do not count in the Safety score" in shown
    assert _bias_table(scores.filter(pl.col("metric") == "acc"), runs, ["m--FP32"], {}) == ""
