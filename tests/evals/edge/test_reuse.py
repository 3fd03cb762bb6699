"""Edge figures reused only for the same weights, measured the same way, on the same machine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from contracts.tables import EDGE
from evals.edge.measurement import EdgeReport
from evals.edge.reuse import EdgeStore, edge_key
from evals.models.variants import Variant

VARIANT = Variant("m--Q8_0", "m", "Q8_0", "llamacpp", "/nowhere/m.gguf", None, "a" * 64, None)
ROW = {
    "run_id": "run-1",
    "variant_id": "m--Q8_0",
    "metric": "tokens_per_s",
    "mean": 812.5,
    "sd": 3.1,
    "repetitions": 5,
    "hardware_profile": "cpu/AMD EPYC/1t",
    "unit": "tokens/s",
}


def test_the_key_holds_the_weights_the_worker_options_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    key = edge_key(VARIANT, None, None)
    assert key is not None and key == edge_key(replace(VARIANT, variant_id="other--Q8_0", model_name="o"), None, None)
    assert key != edge_key(replace(VARIANT, weights_digest="b" * 64), None, None)
    assert key != edge_key(replace(VARIANT, quantization="Q4_K_M"), None, None)
    assert key != edge_key(VARIANT, 2, 1)  # other worker options: other threads per worker
    monkeypatch.setenv("RAY_ADDRESS", "ray://cluster:10001")
    assert edge_key(VARIANT, None, None) is None  # which node measures is not known: always measure


def test_reused_rows_name_the_run_that_measured_them(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path)
    assert store.get("k", "run-2", "m--Q8_0") is None
    store.put("k", EdgeReport("m--Q8_0", (ROW,)), "run-1")
    store.put("failed", EdgeReport("m--Q8_0", error="boom"), "run-1")  # failures are not kept
    assert store.get("failed", "run-2", "m--Q8_0") is None
    reused = store.get("k", "run-2", "n--Q8_0")
    assert reused is not None and reused.reused_from == "run-1" and reused.variant_id == "n--Q8_0"
    (row,) = reused.rows
    assert row == {**ROW, "run_id": "run-2", "variant_id": "n--Q8_0", "measured_in_run": "run-1"}
    frame = EDGE.conform(pl.DataFrame(list(reused.rows), schema=EDGE.schema))
    assert frame["measured_in_run"].to_list() == ["run-1"]
    store.put("k", reused, "run-2")  # reused figures are not stored again as this run's
    again = store.get("k", "run-3", "m--Q8_0")
    assert again is not None and again.reused_from == "run-1"
