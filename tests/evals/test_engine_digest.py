"""The unit cache key covers the engine's own code: an edit that can change a score misses the cache.

Digests are computed over a copy of the engine's sources, edited there, never over the checkout.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from evals.catalog.index import TaskIndex
from evals.catalog.suites import load_suite
from evals.engine.cache import UnitCache, UnitOutcome
from evals.engine.execution import unit_meta
from evals.models.variants import Variant
from evals.plan.units import PlanOptions, WorkUnit, make_plan
from evals.provenance import REPO_ROOT, engine_digest, engine_sources, sandbox_sources, source_digest

SOURCES = engine_sources() + sandbox_sources()


@pytest.fixture()
def engine_copy(tmp_path: Path) -> Path:
    for relative in SOURCES:
        source, target = REPO_ROOT / relative, tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    return tmp_path


@pytest.fixture()
def units() -> list[WorkUnit]:
    """Real units of the offline suite: a code unit (slmb_code) and the others."""
    from contracts.submission import parse_submission
    from evals.plan.units import index_tasks

    submission = parse_submission(
        'model:\n  name: "m"\n  local_path: "/nowhere/m.gguf"\n  parameters: "1K"\n  test_model: true\n'
        "  quantizations:\n    - {name: FP32, format: gguf}\n  categories: [coding, language]\n"
    )
    catalog = load_suite("offline")
    index: TaskIndex = index_tasks(submission, catalog)
    variant = Variant("m--FP32", "m", "FP32", "llamacpp", "/nowhere/m.gguf", None, "0" * 64, None)
    return list(make_plan(submission, catalog, [variant], index, PlanOptions(limit=4)).units)


def _engine(root: Path) -> str:
    """The engine digest of the code under ``root``, its sources found from there (as the checkout's are)."""
    return source_digest(root, engine_sources(root))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def test_the_copy_has_the_checkouts_digest_and_units_carry_it(engine_copy: Path, units: list[WorkUnit]) -> None:
    assert _engine(engine_copy) == engine_digest()
    assert {u.code_digest for u in units if not u.executes_code} == {engine_digest()}
    assert {u.code_digest for u in units if u.executes_code} == {engine_digest(executes_code=True)}


def test_editing_a_backend_source_file_invalidates_the_cached_entry(
    engine_copy: Path, units: list[WorkUnit], tmp_path: Path
) -> None:
    unit = next(u for u in units if not u.executes_code)
    cache = UnitCache(tmp_path / "cache")
    cache.put(unit.cache_key, UnitOutcome({"results": {}}, [], 0.1), unit_meta(unit))
    assert cache.get(unit.cache_key) is not None

    # One line of llama.cpp's scoring changes: the unit's key changes, so the cached entry is not served.
    _edit(engine_copy / "evals/backends/llamacpp.py", "DEFAULT_MAX_GEN_TOKS = 256", "DEFAULT_MAX_GEN_TOKS = 255")
    edited = dataclasses.replace(unit, code_digest=_engine(engine_copy))
    assert edited.code_digest != unit.code_digest
    assert cache.get(edited.cache_key) is None


@pytest.mark.parametrize(
    "relative",
    [
        "evals/engine/worker.py",
        "evals/engine/execution.py",
        "evals/catalog/overrides/utils.py",
        "evals/catalog/pack/items.py",
    ],
)
def test_every_part_of_the_engine_counts(engine_copy: Path, relative: str) -> None:
    before = _engine(engine_copy)
    with (engine_copy / relative).open("a") as code:
        code.write("\nSOMETHING_NEW = 1\n")
    assert _engine(engine_copy) != before


def test_comments_docstrings_and_formatting_do_not_count(engine_copy: Path) -> None:
    """The digest reads the syntax tree: a reworded docstring or comment keeps hours of cached units."""
    before = _engine(engine_copy)
    path = engine_copy / "evals/backends/transformers.py"
    _edit(path, '"""The transformers backend:', '"""Reworded: the transformers backend:')
    _edit(path, "# Suffixes of weight files", "#   Suffixes  of weight files (reworded)")
    _edit(path, "PICKLE_SUFFIXES = (", "PICKLE_SUFFIXES    =    (")
    assert _engine(engine_copy) == before
    (engine_copy / "evals/backends/new_backend.py").write_text("X = 1\n")  # a new file is new code
    assert _engine(engine_copy) != before


def test_editing_the_shard_merge_invalidates_the_cached_entry(
    engine_copy: Path, units: list[WorkUnit], tmp_path: Path
) -> None:
    """Merged shard outcomes are cached under the whole task's key: the merge's code is part of it."""
    unit = next(u for u in units if not u.executes_code)
    cache = UnitCache(tmp_path / "cache")
    cache.put(unit.cache_key, UnitOutcome({"results": {}}, [], 0.1), unit_meta(unit))
    _edit(engine_copy / "evals/engine/sharding.py", "MIN_SHARD_DOCS = ", "MIN_SHARD_DOCS = 1 + ")
    edited = dataclasses.replace(unit, code_digest=_engine(engine_copy))
    assert edited.code_digest != unit.code_digest
    assert cache.get(edited.cache_key) is None


@pytest.mark.parametrize("relative", ["evals/engine/sharding.py", "evals/models/gguf_files.py"])
def test_code_the_engine_imports_is_part_of_the_digest(engine_copy: Path, relative: str) -> None:
    """Files no list named: sharding replays few-shot draws and merges shards, gguf_files sets n_ctx."""
    assert relative in engine_sources()
    before = _engine(engine_copy)
    with (engine_copy / relative).open("a") as code:
        code.write("\nSOMETHING_NEW = 1\n")
    assert _engine(engine_copy) != before


def test_the_closure_holds_every_repo_module_a_worker_loads() -> None:
    """The closure is read from syntax trees; the modules a real worker process imports must all be in it."""
    import json
    import subprocess
    import sys

    program = (
        "import json, sys\n"
        "import evals.engine.worker, evals.engine.execution, evals.backends.transformers, evals.backends.llamacpp\n"
        "print(json.dumps(sorted(m.__file__ for m in list(sys.modules.values()) if getattr(m, '__file__', None))))\n"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=REPO_ROOT
        ).stdout
    )
    files = [Path(f) for f in loaded if Path(f).is_absolute()]  # some torch modules name a bare file
    ours = {f.relative_to(REPO_ROOT).as_posix() for f in files if f.is_relative_to(REPO_ROOT / "evals")}
    ours |= {f.relative_to(REPO_ROOT).as_posix() for f in files if f.is_relative_to(REPO_ROOT / "contracts")}
    # The sandbox is loaded (planning imports it) but decides only code units: their key adds its digest.
    missing = ours - set(engine_sources()) - set(sandbox_sources())
    assert "evals/engine/worker.py" in ours and not missing, sorted(missing)


def test_the_sandbox_counts_for_code_units_only(engine_copy: Path) -> None:
    """Which programs pass is decided in evals/sandbox/launcher.py: an edit there reruns code units, not the others."""
    engine = _engine(engine_copy)
    with_sandbox = source_digest(engine_copy, engine_sources(engine_copy) + sandbox_sources(engine_copy))
    with (engine_copy / "evals/sandbox/launcher.py").open("a") as code:
        code.write("\nPASS_TOKEN_LENGTH = 33\n")
    assert _engine(engine_copy) == engine
    assert source_digest(engine_copy, engine_sources(engine_copy) + sandbox_sources(engine_copy)) != with_sandbox


def test_batch_size_is_part_of_the_key(units: list[WorkUnit]) -> None:
    unit = units[0]
    assert dataclasses.replace(unit, batch_size=8).cache_key != unit.cache_key
