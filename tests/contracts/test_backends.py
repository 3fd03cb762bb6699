"""Every backend is declared once (contracts/backends.py): nothing else branches on a backend's name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from contracts.backends import BACKEND_NAMES, BACKENDS, backend_for_format
from contracts.submission import Quantization

ROOT = Path(__file__).resolve().parents[2]
# Where a backend's name may stand as code: its declaration, and the backends' own package (an LM knows itself).
ALLOWED = ("contracts/backends.py", "evals/backends/")


def _name_literals(path: Path) -> list[tuple[int, str]]:
    """Backend names used as values in comparisons, dict keys or membership tests (not in docstrings or messages)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.Dict):
            operands = [k for k in node.keys if k is not None]
        else:
            continue
        for operand in operands:
            items = operand.elts if isinstance(operand, ast.Tuple | ast.List | ast.Set) else [operand]
            found += [(node.lineno, i.value) for i in items if isinstance(i, ast.Constant) and i.value in BACKEND_NAMES]
    return found


def test_no_code_outside_the_declaration_branches_on_a_backend_name() -> None:
    offenders = {}
    for package in ("contracts", "evals", "tasks", "flows"):
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if not relative.startswith(ALLOWED) and (hits := _name_literals(path)):
                offenders[relative] = hits
    assert not offenders, f"read a trait from contracts.backends.BACKENDS instead: {offenders}"


def test_each_weight_format_runs_on_exactly_one_declared_backend() -> None:
    assert backend_for_format("safetensors").name == "transformers"
    assert backend_for_format("gguf").name == "llamacpp"
    assert len({b.weight_format for b in BACKENDS.values()}) == len(BACKENDS)
    assert Quantization(name="FP16", format="safetensors").backend == "transformers"


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_every_declared_backend_has_its_lm_class(name: str) -> None:
    from evals.backends import backend_class

    backend = BACKENDS[name]
    assert backend_class(name).__name__ == backend.lm_class.rpartition(":")[2]
    assert (backend.lm_eval_model is None) == (backend.lm_eval_why_not is not None)
