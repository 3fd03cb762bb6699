"""A sharded task through the real flow: Prefect, Ray actors, the cache, and lm-eval's CLI as the reference.

Slow (``make test-slow``): the engine-level parity and resume tests in
tests/evals/engine/test_sharding.py run by default.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from contracts.submission import load_submission
from evals.cluster.pool import ensure_ray
from evals.engine.cache import UnitCache
from evals.plan.prepare import plan_submission
from evals.plan.units import PlanOptions
from flows.benchmark import benchmark_submission

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 96  # slmb_truthful's first 96 documents: 3 shards of 32


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ensure_ray()
    yield
    ray.shutdown()


def _fp32_submission(folder: Path) -> Path:
    text = (ROOT / "models" / "submissions" / "demo-trained.yaml").read_text()
    head, _, _ = text.partition("  quantizations:")
    path = folder / "demo-trained-fp32.yaml"
    path.write_text(
        head + '  quantizations:\n    - name: "FP32"\n      format: "safetensors"\n'
        '  categories: ["reasoning", "language"]\n'
    )
    return path


def test_a_resumed_sharded_run_repeats_only_its_missing_shard_and_equals_lm_eval(
    ray_local, demo_models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    submission = _fp32_submission(tmp_path)
    options = {"suite": "offline-dominant", "limit": LIMIT, "workers": 2, "threads_per_worker": 1}

    def run(name: str) -> Path:
        benchmark_submission(
            submission_path=str(submission),
            output_dir=str(tmp_path / name),
            warehouse=str(tmp_path / "warehouse"),
            **options,
        )
        return tmp_path / name

    first = run("first")
    plan = plan_submission(
        load_submission(submission),
        PlanOptions(suite="offline-dominant", limit=LIMIT, workers=2, submission_path=str(submission)),
    )
    shards = [u for u in plan.units if u.is_shard]
    assert [u.docs for u in shards if u.subtask == "slmb_truthful"] and len(shards) >= 2
    # A run that stopped early: one shard and the merged task were never stored.
    cache = UnitCache()
    whole = plan.result_units()[0]
    assert whole.subtask == "slmb_truthful"
    shutil.rmtree(cache.get(shards[1].cache_key))
    shutil.rmtree(cache.get(whole.cache_key))
    capsys.readouterr()
    second = run("second")
    out = capsys.readouterr().out
    evaluated = [line for line in out.splitlines() if line.startswith("[") and " evaluated " in line]
    assert len(evaluated) == 2 and shards[1].name in evaluated[0] and "[merge] evaluated" in evaluated[1], out

    cols = ["variant_id", "task", "metric", "filter", "value", "stderr", "n_samples"]
    scores = [pl.read_parquet(folder / "scores.parquet").select(cols).sort(cols) for folder in (first, second)]
    assert scores[0].equals(scores[1])
    assert scores[0].filter(pl.col("task") == "slmb_truthful").height == 1  # one row per metric, as unsharded
    unit = Path("units") / whole.variant.variant_id / "slmb_truthful"
    assert (first / unit / "samples.jsonl").read_text() == (second / unit / "samples.jsonl").read_text()

    # The reference: lm-eval's CLI on the same documents, unsharded.
    from evals.catalog.pack import build_pack
    from evals.site.reproduce import lm_eval_command

    cmd = lm_eval_command(
        demo_models["demo-trained"].hf_dir,
        ["slmb_truthful"],
        output_path=tmp_path / "cli",
        include_paths=[build_pack()],
        limit=LIMIT,
    )
    subprocess.run(cmd, check=True, capture_output=True, timeout=1200, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    cli = json.loads(next((tmp_path / "cli").rglob("results_*.json")).read_text())["results"]["slmb_truthful"]
    row = scores[0].filter(pl.col("task") == "slmb_truthful").row(0, named=True)
    assert abs(row["value"] - cli["acc,none"]) <= 1e-9 and abs(row["stderr"] - cli["acc_stderr,none"]) <= 1e-9
