"""The offline task pack: deterministic, loadable by lm-eval, disjoint from its training corpus."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from evals.catalog.pack import build_pack, corpus, items, pack, world

if TYPE_CHECKING:
    from evals.models.fixtures import DemoModel

OFFLINE_ENV = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_build_is_deterministic(tmp_path: Path) -> None:
    first = _snapshot(build_pack(tmp_path / "a"))
    assert _snapshot(build_pack(tmp_path / "a", force=True)) == first
    other = _snapshot(build_pack(tmp_path / "b"))
    assert other.keys() == first.keys()
    for rel, data in first.items():
        # only the absolute data paths inside the YAMLs (and so the digest) depend on the folder
        if rel.endswith(".yaml"):
            data = data.replace(str(tmp_path / "a").encode(), str(tmp_path / "b").encode())
        if rel != pack.MANIFEST:
            assert other[rel] == data, rel


def test_build_reuses_a_current_pack_and_repairs_an_edited_one(tmp_path: Path) -> None:
    dest = build_pack(tmp_path / "pack")
    manifest = dest / pack.MANIFEST
    stamp = manifest.stat().st_mtime_ns
    assert build_pack(dest) == dest and manifest.stat().st_mtime_ns == stamp
    (dest / "data" / "facts.jsonl").write_text("{}\n")
    build_pack(dest)
    assert manifest.stat().st_mtime_ns != stamp
    assert (dest / "data" / "facts.jsonl").read_bytes() == pack.render(dest)["data/facts.jsonl"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary folders left behind"


def test_default_destination_is_the_taskpack_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLMBENCH_HOME", str(tmp_path / "home"))
    assert build_pack() == (tmp_path / "home" / "taskpack").resolve()
    assert json.loads((tmp_path / "home" / "taskpack" / pack.MANIFEST).read_text())["tasks"] == list(pack.TASKS)


def test_every_task_loads_through_lm_eval(tmp_path: Path) -> None:
    from lm_eval.tasks import TaskManager

    dest = build_pack(tmp_path / "pack")
    manager = TaskManager(include_path=str(dest), include_defaults=False)  # indexing lm-eval's own tasks takes 10-60 s
    assert set(pack.TASKS) <= set(manager.all_tasks) and pack.TAG in manager.all_tasks
    tasks = manager.load_task_or_group(list(pack.TASKS))
    expected = items.eval_docs()
    for name in pack.TASKS:
        short = name.removeprefix("slmb_")
        task = tasks[name]
        docs = list(task.test_docs())
        assert len(docs) == len(expected[short]), name
        # the prompt lm-eval renders is the one the corpus trains on
        assert [task.doc_to_text(d) for d in docs] == [items.prompt_of(short, d) for d in expected[short]], name
    code_task = tasks["slmb_code"]
    doc = next(iter(code_task.test_docs()))
    assert code_task.process_results(doc, [doc["canonical_solution"]]) == {"pass@1": 1.0, "sandbox": "passed"}
    wrong = code_task.process_results(doc, ["\n    return None"])
    assert wrong["pass@1"] == 0.0 and wrong["sandbox"].startswith("failed: exit status 1 before the tests finished")
    assert "AssertionError" in wrong["sandbox"]
    looping = code_task.process_results(doc, ["\n    while True:\n        pass"])
    assert looping["pass@1"] == 0.0 and looping["sandbox"].startswith("timed out: ")
    # the verdicts aggregate to counts (lm-eval's results), never to a score
    assert code_task.aggregation()["sandbox"]([wrong["sandbox"], "passed", looping["sandbox"], "passed"]) == (
        "2 passed, 1 failed, 1 timed out"
    )


def test_eval_items_are_well_formed() -> None:
    docs = items.eval_docs()
    assert {k: len(v) for k, v in docs.items()} == {"facts": 162, "story": 160, "yesno": 160, "arith": 160, "code": 40}
    for task in ("facts", "story"):
        for doc in docs[task]:
            assert len(set(doc["choices"])) == 4 and 0 <= doc["label"] < 4
    assert sum(d["label"] for d in docs["yesno"]) == len(docs["yesno"]) // 2  # "always yes" scores exactly 0.5
    for doc in docs["arith"]:
        assert re.search(r"#### (\-?[0-9]+)", doc["answer"]).group(1) == doc["result"]
    for task, task_docs in docs.items():
        text = "".join(items.prompt_of(task, d) + json.dumps(d) for d in task_docs)
        assert text.isascii() and text == text.lower() or task == "code", task  # code tests compare 'ABC'


def test_reference_solutions_pass_in_the_sandbox_and_wrong_ones_fail() -> None:
    from evals.catalog.pack.pack_utils import program_for
    from evals.sandbox import run_python

    for doc in items.eval_docs()["code"]:
        assert run_python(program_for(doc, doc["canonical_solution"])).passed, doc["prompt"]
    doc = items.eval_docs()["code"][0]
    assert not run_python(program_for(doc, "\n    return 0")).passed


def test_slmb_code_scores_a_completion_that_exits_early_as_zero() -> None:
    """The pack's own metric (process_results, as lm-eval calls it): 0 on every code item, 1 before the fix."""
    from evals.catalog.pack.pack_utils import process_results

    docs = items.eval_docs()["code"]
    for doc in docs:
        assert process_results(doc, ["\n    import sys\n    sys.exit(0)"])["pass@1"] == 0.0, doc["prompt"]
    for doc in docs[:5]:
        for completion in ("\n    raise SystemExit", "\n    import os\n    os._exit(0)", "\n    exit()"):
            assert process_results(doc, [completion])["pass@1"] == 0.0, (doc["prompt"], completion)


def test_training_texts_are_deterministic_short_and_disjoint_from_eval() -> None:
    texts = corpus.training_texts(seed=0, n=3000)
    assert texts == corpus.training_texts(seed=0, n=3000)
    assert texts != corpus.training_texts(seed=1, n=3000)
    assert all(len(t) < corpus.MAX_CHARS and t.isascii() for t in texts)
    prompts = [items.prompt_of(task, d) for task, docs in items.eval_docs().items() for d in docs]
    leaked = [p for p in prompts if any(p in t for t in texts)]
    assert not leaked, leaked[:3]
    # every task's format is taught
    markers = ["\nanswer: yes", "\nanswer: no", " #### ", '"""\n    return ', ", so "]
    assert all(any(m in t for t in texts) for m in markers)
    assert any(t.startswith("question: ") and "####" not in t and "\n" in t for t in texts)  # a fact question


def test_corpus_teaches_every_fact_and_scenario() -> None:
    text = "\n".join(corpus.training_texts(seed=0, n=6000))
    for rel in world.RELATIONS:
        for subject, value in rel.facts:
            assert subject in text and value in text
    assert all(ending.split(" {")[0].split(".")[0] in text for _, ending in world.SCENARIOS)


def test_lm_eval_cli_runs_every_task_on_the_trained_demo_model(
    tmp_path: Path, demo_models: dict[str, DemoModel]
) -> None:
    """The real path: the lm_eval console script, our pack, the project's trained tiny Llama."""
    from evals.models.fixtures import TRAINED

    dest = build_pack(tmp_path / "pack")
    script = Path(sys.executable).parent / "lm_eval"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "lm_eval"]
    out = tmp_path / "out"
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": ""}
    # cwd outside the checkout: the pack's utils.py must find evals.sandbox on its own
    run = subprocess.run(
        [
            *command,
            "--model",
            "hf",
            "--model_args",
            f"pretrained={demo_models[TRAINED].hf_dir},dtype=float32",
            "--device",
            "cpu",
            "--batch_size",
            "8",
            "--include_path",
            str(dest),
            "--tasks",
            ",".join(pack.TASKS),
            "--limit",
            "5",
            "--output_path",
            str(out),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"]
    expected = {
        "slmb_facts": ["acc,none", "acc_norm,none"],
        "slmb_story": ["acc,none", "acc_norm,none"],
        "slmb_yesno": ["acc,none"],
        "slmb_arith": ["exact_match,strict-match", "exact_match,flexible-extract"],
        "slmb_code": ["pass@1,none"],
    }
    for task, keys in expected.items():
        for key in keys:
            assert 0.0 <= results[task][key] <= 1.0, (task, key, results[task])


def test_a_packs_config_hash_does_not_depend_on_the_checkout_it_was_built_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pack's utils.py names its checkout (to import the sandbox); the same task in another checkout hashes alike."""
    import shutil

    from evals.catalog import index
    from evals.catalog.index import TaskIndex
    from evals.provenance import REPO_ROOT

    here = build_pack(tmp_path / "here")
    assert str(REPO_ROOT) in (here / "utils.py").read_text()
    there = tmp_path / "there"
    shutil.copytree(here, there)
    for path in there.rglob("*"):  # the same pack as a checkout at /elsewhere/slmbench would build it
        if path.is_file():
            text = path.read_text().replace(str(here), str(there)).replace(str(REPO_ROOT), "/elsewhere/slmbench")
            path.write_text(text)
    hashed_here = TaskIndex.for_names(["slmb_yesno"], [str(here)]).config_hash("slmb_yesno")
    monkeypatch.setattr(index, "_CHECKOUT", b"/elsewhere/slmbench")
    assert TaskIndex.for_names(["slmb_yesno"], [str(there)]).config_hash("slmb_yesno") == hashed_here
