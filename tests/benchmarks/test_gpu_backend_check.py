"""benchmarks/gpu_backend_check.py (``gpu_check.py --backend-only``): what it carries and what it never imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks import gpu_backend_check

ROOT = Path(__file__).resolve().parents[2]


def test_the_backend_path_imports_none_of_the_platform() -> None:
    """A fresh interpreter loads the check and the transformers backend: no Ray, Prefect, polars or deltalake."""
    code = (
        "import sys; sys.path.insert(0, '.'); import benchmarks.gpu_backend_check, evals.backends.transformers, "
        "evals.backends.prefix_scoring; print(sorted(m for m in ('ray', 'prefect', 'polars', 'deltalake') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_requirements_are_exact_pip_download_lines_for_the_gpu_machine() -> None:
    carried = gpu_backend_check.carried_distributions({"lm-eval", "gguf", "torch", "numpy", "pyarrow", "scipy"})
    assert {"lm-eval", "datasets", "evaluate", "gguf", "pydantic"} <= set(carried)
    assert not {"torch", "numpy", "pyarrow", "transformers", "scipy"} & set(carried)  # there already, or optional
    lines = gpu_backend_check.download_lines(carried)
    assert all(
        line.startswith(
            "python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "
            "--platform manylinux_2_28_x86_64"
        )
        and " -d .whl " in line
        for line in lines
    )
    assert any(line.endswith(f" lm-eval=={carried['lm-eval']}") for line in lines)
