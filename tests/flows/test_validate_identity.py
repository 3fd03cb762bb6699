"""``slmbench validate`` (and so the PR check, ``validate --pull-request``) refuses a published name under another
identity, naming the holder (issue 20, §1); the project's own demo submissions still pass."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from benchmarks.synthetic import run_frames
from flows.cli import main
from tests.evals.warehouse.steps import publish, stage

ROOT = Path(__file__).resolve().parents[2]
TAKEOVER = """\
model:
  name: "SLMB-Demo-Trained"
  local_path: "fixture://demo-untrained"
  parameters: "1.7M"
  submitted_by: "attacker"
  test_model: true
  quantizations:
    - {name: FP32, format: safetensors}
"""
REGISTRY = {
    "models": [{"name": "SLMB-Demo-Trained", "submitted_by": "slmbench", "sources": '["fixture:demo-trained"]'}]
}


def _validate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["validate", *argv])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_pull_request_reusing_a_published_name_is_refused_naming_the_holder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps(REGISTRY))
    attack = tmp_path / "takeover.yaml"
    attack.write_text(TAKEOVER)
    code, out = _validate(capsys, "--pull-request", "--registry", str(registry), str(attack))
    assert code == 1 and "FAIL" in out
    assert "model.name: 'SLMB-Demo-Trained' is published already as 'SLMB-Demo-Trained' by another model" in out
    assert "fixture demo-trained, submitted by slmbench" in out and "submitted by attacker" in out
    # the project's own submissions of that model, and a new name, pass
    demo = [str(ROOT / "models" / "submissions" / f) for f in ("demo-trained.yaml", "demo-trained-chat.yaml")]
    mine = tmp_path / "mine.yaml"
    mine.write_text(TAKEOVER.replace("SLMB-Demo-Trained", "Attackers-Own-Model"))
    code, out = _validate(capsys, "--pull-request", "--registry", str(registry), *demo, str(mine))
    assert code == 0, out


def test_validate_reads_the_holders_from_the_warehouse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = str(tmp_path / "wh")
    frames = run_frames(run_id="trained", model_name="SLMB-Demo-Trained")
    runs = frames["runs"].with_columns(submitted_by=pl.lit("slmbench"), local_path=pl.lit("fixture://demo-trained"))
    stage(uri, {**frames, "runs": runs}, tmp_path)
    publish(uri, "trained")
    attack = tmp_path / "takeover.yaml"
    attack.write_text(TAKEOVER.replace('"SLMB-Demo-Trained"', '"slmb demo trained"'))  # another case, the same slug
    code, out = _validate(capsys, "--warehouse", uri, str(attack))
    assert code == 1 and "published already as 'SLMB-Demo-Trained'" in out
