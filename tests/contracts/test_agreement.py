"""Each primary score is the aggregate of its items: a mean of numbers, lm-eval's own aggregation otherwise."""

from __future__ import annotations

import json

import polars as pl

from contracts.agreement import item_agreement
from contracts.tables import SAMPLES, SCORES
from evals.warehouse.staging import corpus_aggregate

PRIMARY = {"t": ("f1", "none")}


def _frames(value: float, pairs: list[list[int]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    score = {"run_id": "r", "variant_id": "v", "model_name": "m", "task": "t", "subtask": "t", "metric": "f1"}
    score |= {"filter": "none", "value": value, "n_samples": len(pairs), "category": "language", "num_fewshot": 0}
    items = [
        {"run_id": "r", "variant_id": "v", "task": "t", "subtask": "t", "filter": "none", "doc_id": i}
        | {"output_type": "generate_until", "prompt": "p", "target": "1", "metrics": json.dumps({"f1": pair})}
        for i, pair in enumerate(pairs)
    ]
    return pl.DataFrame([score], schema=SCORES.schema), pl.DataFrame(items, schema=SAMPLES.schema)


def test_a_corpus_level_score_is_recomputed_with_lm_evals_own_aggregation() -> None:
    pairs = [[1, 1], [0, 1], [1, 0], [0, 0]]  # (reference, prediction): sklearn's f1 is 0.5, the mean is no f1
    assert item_agreement(*_frames(0.5, pairs), PRIMARY, corpus_aggregate=corpus_aggregate).success
    refused = item_agreement(*_frames(0.9, pairs), PRIMARY, corpus_aggregate=corpus_aggregate)
    assert "the score is 0.9, but they give 0.5 over its 4 items" in refused.summary()
    assert not item_agreement(*_frames(0.5, pairs), PRIMARY).success  # no aggregation given: not recomputable
