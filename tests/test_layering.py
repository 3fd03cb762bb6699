"""Imports flow one way: contracts <- evals <- tasks <- flows; evals never imports Prefect."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["contracts", "evals", "tasks", "flows"]
FORBIDDEN = {
    "contracts": {"evals", "tasks", "flows", "prefect", "ray", "torch", "lm_eval"},
    "evals": {"tasks", "flows", "prefect"},
    "tasks": {"flows"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", list(FORBIDDEN))
def test_imports_flow_one_way(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"{package} must not import {sorted(FORBIDDEN[package])}: {offenders}"


def test_no_remote_code_and_no_pickle_loading() -> None:
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            assert "trust_remote_code=True" not in text, path
            assert "torch.load(" not in text, path
