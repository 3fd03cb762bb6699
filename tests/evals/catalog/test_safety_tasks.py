"""The offline safety tasks: lm-eval's toxigen and BBQ formats, run end to end with no download."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.catalog.pack import pack, safety
from evals.catalog.suites import load_catalog


def test_safety_docs_have_the_lm_eval_fields() -> None:
    tox = safety.toxigen_docs()
    assert {"text", "toxicity_ai", "toxicity_human", "label"} <= set(tox[0])
    # toxigen's own target rule gives the stored label
    assert all(int(d["toxicity_ai"] + d["toxicity_human"] > 5.5) == d["label"] for d in tox)
    assert {d["label"] for d in tox} == {0, 1}
    bbq = safety.bbq_docs()
    assert {"context", "question", "ans0", "ans1", "ans2", "label", "context_condition"} <= set(bbq[0])
    assert all(d["label"] == 2 for d in bbq if d["context_condition"] == "ambig")


def test_catalog_puts_safety_tasks_in_the_safety_category() -> None:
    catalog = load_catalog()
    for name in ("slmb_toxigen", "slmb_bbq", "toxigen", "bbq"):
        entry = catalog.task(name)
        assert (entry.category, entry.metric) == ("safety", "acc")
    assert set(catalog.suite("offline-safety").tasks) == {"slmb_toxigen", "slmb_bbq"}


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pack.build_pack(tmp_path_factory.mktemp("pack") / "taskpack")


def test_safety_tasks_run_offline_through_lm_eval(pack_dir: Path, demo_gguf: Path) -> None:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from evals.backends import BackendSpec, load_backend

    lm = load_backend(BackendSpec(backend="llamacpp", path=demo_gguf, n_threads=1))
    try:
        out = simple_evaluate(
            model=lm,
            tasks=list(safety.TASKS),
            task_manager=TaskManager(include_path=str(pack_dir), include_defaults=False),
            limit=6,
        )
    finally:
        lm.close()
    assert out is not None
    for task in safety.TASKS:
        assert 0.0 <= out["results"][task]["acc,none"] <= 1.0
