"""What a run records about its variants, and what publishing makes of it (fast; the flow itself runs in
``tests/flows/test_model_variants.py``).

The runs rows come from a real plan of the example submission, whose weights are the demo
fixtures; the published tables come from synthetic rows (``benchmarks.synthetic``) through the
real leaderboard and registry code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from benchmarks.synthetic import publish_bulk, run_frames
from contracts.submission import load_submission
from contracts.tables import RUNS
from evals.plan.prepare import plan_submission
from evals.plan.units import PlanOptions
from evals.results.frames import runs_frame
from evals.results.run_folder import RunInfo
from evals.warehouse.storage import read_table

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "models" / "submissions" / "demo-trained-chat.yaml"


def test_runs_rows_record_each_variants_tensor_types_and_template_setting(demo_models, tmp_path: Path) -> None:
    submission = load_submission(EXAMPLE)
    plan = plan_submission(submission, PlanOptions(suite="offline-quick", limit=2, submission_path=str(EXAMPLE)))
    info = RunInfo("run-1", tmp_path, datetime.now(UTC), submission_sha256="0" * 64)
    rows = {r["variant_id"]: r for r in runs_frame(info, plan, submission, [], "staged", None).iter_rows(named=True)}
    plain, chat = rows["slmb-demo-trained--FP32"], rows["slmb-demo-trained--FP32--chat"]
    q4, q5 = rows["slmb-demo-trained--Q4_1"], rows["slmb-demo-trained--Q5_1--chat"]
    assert (plain["precision"], plain["tensor_types"], plain["chat_template"]) == ("FP32", None, False)
    assert (chat["precision"], chat["chat_template"], chat["fewshot_as_multiturn"]) == ("FP32", True, True)
    assert chat["chat_template_sha256"] == q5["chat_template_sha256"]  # the HF folder's and the GGUF's: one template
    assert (q4["precision"], q4["chat_template"], q4["chat_template_sha256"]) == ("Q4_1", False, None)
    assert {t: s["tensors"] for t, s in json.loads(q4["tensor_types"]).items()} == {"Q4_1": 15, "Q6_K": 1, "F32": 5}
    assert q5["system_instruction"] == "Answer with the right word."
    assert set(rows) == set(RUNS.conform(pl.DataFrame(list(rows.values())))["variant_id"])


def test_with_and_without_the_template_are_two_leaderboard_rows_and_the_registry_maps_gguf_mixes(
    tmp_path: Path,
) -> None:
    uri = str(tmp_path / "wh")
    frames = run_frames(variants=["m--FP32", "m--FP32--chat", "m--Q4_1", "m--Q4_1--chat"], edge=False)
    publish_bulk(uri, {**frames, "runs": frames["runs"].with_columns(status=pl.lit("published"))})
    board = read_table(uri, "leaderboard").sort("variant_id")
    assert board.select("variant_id", "precision", "chat_template").rows() == [
        ("m--FP32", "FP32", False),
        ("m--FP32--chat", "FP32", True),
        ("m--Q4_1", "Q4_1", False),
        ("m--Q4_1--chat", "Q4_1", True),
    ]
    mixes = json.loads(read_table(uri, "models")["gguf_tensor_types"][0])
    assert mixes == {v: {"Q4_1": {"tensors": 1, "elements": 1}} for v in ("m--Q4_1", "m--Q4_1--chat")}
