"""What a worker process loads: a llama.cpp worker runs without torch, and takes the driver's environment report.

Each case runs in a fresh interpreter: this test process has long imported torch. Not
loading torch matters beyond start-up time: a worker's peak memory is an edge figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = """
import json, sys
from contracts.submission import load_submission
from evals.plan.prepare import plan_submission
from evals.plan.units import PlanOptions
from evals.engine.worker import ModelWorker

path = "models/submissions/demo-trained.yaml"
plan = plan_submission(load_submission(path), PlanOptions(suite="offline", limit=2, submission_path=path))
unit = next(u for u in plan.units if u.variant.variant_id.endswith(sys.argv[1]) and u.subtask == "slmb_yesno")
worker = ModelWorker(unit.variant, plan.include_paths, n_threads=1, environment={"pretty_env_info": "the driver's"})
outcome = worker.run(unit)
print(json.dumps({
    "torch": "torch" in sys.modules,
    "transformers": "transformers" in sys.modules,
    "env": outcome.results.get("pretty_env_info"),
    "acc": outcome.results["results"]["slmb_yesno"]["acc,none"],
}))
"""


def _worker_process(quant: str, cache: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, quant],
        cwd=ROOT,
        env={**os.environ, "SLMBENCH_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.usefixtures("demo_models")
def test_a_llama_cpp_worker_never_imports_torch_and_uses_the_drivers_report(tmp_path: Path) -> None:
    gguf = _worker_process("Q8_0", tmp_path)
    assert gguf["torch"] is False and gguf["transformers"] is False
    assert gguf["env"] == "the driver's"
    assert 0.0 <= gguf["acc"] <= 1.0
    hf = _worker_process("FP32", tmp_path)  # the transformers backend needs torch, and still takes the report
    assert hf["torch"] is True and hf["env"] == "the driver's"
