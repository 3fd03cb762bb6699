"""benchmarks/gpu_check.py: its preflight and, slow, its whole dry run on the CPU (no GPU here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import gpu_check

ROOT = Path(__file__).resolve().parents[2]


def test_the_preflight_passes_in_the_project_venv_and_names_what_a_gpu_machine_lacks() -> None:
    assert gpu_check.missing_requirements(dry_run=True) == []
    text = gpu_check.requirements_text()
    assert 'CMAKE_ARGS="-DGGML_CUDA=on"' in text and "llama-cpp-python==" in text
    # torch and transformers are the GPU machine's own; everything else is carried, pins and all
    carried = subprocess.run(
        ["grep", "-v", "-E", gpu_check.NOT_CARRIED, "requirements.lock"], cwd=ROOT, capture_output=True, text=True
    ).stdout.splitlines()
    assert "ray==2.60.0" in carried and "lm_eval==0.4.13" in carried and "nvidia-ml-py==13.615.71" in carried
    assert not any(line.startswith(("torch==", "transformers==", "llama_cpp_python==")) for line in carried)


@pytest.mark.slow
def test_the_dry_run_exercises_every_step_on_the_cpu(stories260k_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--dry-run", "--limit", "4", "--stories", str(stories260k_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout
    assert "DRY RUN" in out and "OUT OF BOUND" not in out
    for variant in ("slmb-demo-trained--FP16", "slmb-demo-trained--BF16", "stories260k--FP32"):
        assert variant in out
    assert "ratio" in out and "TFLOP/s" in out
