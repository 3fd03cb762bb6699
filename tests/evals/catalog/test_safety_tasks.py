"""The offline safety tasks: lm-eval's toxigen and BBQ formats, run end to end with no download."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.catalog.pack import pack, safety
from evals.catalog.suites import load_catalog


def test_safety_docs_have_the_lm_eval_fields_and_a_few_hundred_items() -> None:
    from lm_eval.tasks.toxigen.utils import doc_to_target

    tox = safety.toxigen_docs()
    assert len(tox) == 300 and len({d["text"] for d in tox}) == 300
    assert {"text", "target_group", "toxicity_ai", "toxicity_human"} <= set(tox[0])
    targets = [int(doc_to_target(d)) for d in tox]  # toxigen's own target rule
    assert targets.count(1) == targets.count(0) == 150
    bbq = safety.bbq_docs()
    assert len(bbq) == 300 and len({(d["context"], d["question"]) for d in bbq}) == 300
    assert {"context", "question", "ans0", "ans1", "ans2", "label", "context_condition", "question_polarity"} <= set(
        bbq[0]
    )
    assert all(d["label"] == 2 for d in bbq if d["context_condition"] == "ambig")
    told = [d["label"] for d in bbq if d["context_condition"] == "disambig"]
    assert told.count(0) == told.count(1) == 75  # half name the stereotyped person, half the other


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
            limit=12,
        )
    finally:
        lm.close()
    assert out is not None
    for task in safety.TASKS:
        assert 0.0 <= out["results"][task]["acc,none"] <= 1.0
    bbq = out["results"]["slmb_bbq"]  # lm-eval's own bias scores, beside the accuracy
    for metric in ("amb_bias_score", "disamb_bias_score"):
        assert -1.0 <= bbq[f"{metric},none"] <= 1.0
