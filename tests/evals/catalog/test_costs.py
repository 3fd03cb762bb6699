"""Cost model and shard layout: units sized by requests x tokens, large tasks split, keys that hold."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from contracts.submission import load_submission
from evals.catalog import costs
from evals.catalog.costs import TaskCost
from evals.catalog.pack import build_pack
from evals.catalog.suites import load_suite
from evals.engine import sharding
from evals.models.variants import Variant
from evals.plan.units import PlanOptions, estimate_costs, index_tasks, make_plan

ROOT = Path(__file__).resolve().parents[3]
VARIANT = Variant("m--FP32", "m", "FP32", "transformers", "/nowhere/model", "float32", "0" * 64, None)


@pytest.fixture(autouse=True)
def _own_cost_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLMBENCH_CACHE_DIR", str(tmp_path / "cache"))


def _dominant(limit: int | None = None, workers: int | None = None, task_costs: dict | None = None):
    submission = load_submission(ROOT / "models" / "submissions" / "demo-trained.yaml")
    catalog = load_suite("offline-dominant")
    index = index_tasks(submission, catalog)
    options = PlanOptions(suite="offline-dominant", limit=limit, workers=workers)
    if task_costs is None:
        task_costs = estimate_costs(submission, catalog, index, options)
    return make_plan(submission, catalog, [VARIANT], index, options, task_costs), task_costs


def _pack_docs(task: str) -> list[dict]:
    return [json.loads(line) for line in (build_pack() / "data" / f"{task}.jsonl").read_text().splitlines()]


def test_a_many_choice_task_costs_its_choices_times_its_long_prompt() -> None:
    """slmb_truthful, from lm-eval's own requests: every choice pays the whole prompt (transformers recomputes it)."""
    from evals.catalog.pack.truthful import _PREAMBLE

    _, found = _dominant()
    truthful = found["slmb_truthful"]
    docs = _pack_docs("truthful")
    picked = docs[:: len(docs) // costs.SAMPLE_DOCS][: costs.SAMPLE_DOCS]  # the docs the estimate samples
    per_doc = [
        sum(
            costs.REQUEST_OVERHEAD + costs.tokens(f"{_PREAMBLE}\n\nq: {d['question']}\na:") + costs.tokens(" " + c)
            for c in d["mc2_targets"]["choices"]
        )
        for d in picked
    ]
    assert truthful.source == "requests" and truthful.n_docs == len(docs)
    assert truthful.requests_per_doc == pytest.approx(sum(len(d["mc2_targets"]["choices"]) for d in picked) / 64)
    assert truthful.per_doc == pytest.approx(sum(per_doc) / len(per_doc))
    yesno = found["slmb_yesno"]
    assert yesno.requests_per_doc == 2.0  # no / yes
    assert truthful.per_doc > 5 * yesno.per_doc  # ~7 choices behind a ~100-token prompt vs 2 behind ~40


def test_generation_is_costed_by_max_gen_toks() -> None:
    submission = load_submission(ROOT / "models" / "submissions" / "demo-trained.yaml")
    catalog = load_suite("offline")
    index = index_tasks(submission, catalog)
    arith = estimate_costs(submission, catalog, index, PlanOptions(suite="offline"))["slmb_arith"]
    docs = _pack_docs("arith")
    picked = docs[:: len(docs) // costs.SAMPLE_DOCS][: costs.SAMPLE_DOCS]
    prompt = sum(costs.tokens(f"question: {d['question']}\nanswer:") for d in picked) / len(picked)
    assert arith.requests_per_doc == 1.0
    assert arith.per_doc == pytest.approx(
        costs.REQUEST_OVERHEAD + prompt + costs.DECODE_WEIGHT * 32
    )  # max_gen_toks: 32


def test_a_dominant_task_is_split_so_no_unit_costs_more_than_an_eighth() -> None:
    plan, found = _dominant()
    truthful = [u for u in plan.units if u.subtask == "slmb_truthful"]
    n = found["slmb_truthful"].n_docs
    assert len(truthful) == sharding.GRANULARITY
    assert [u.docs for u in sorted(truthful, key=lambda u: u.docs or (0, 0))] == sharding.shard_ranges(n, 8)
    assert [u.name for u in plan.units if u.subtask == "slmb_yesno"] == ["m--FP32/slmb_yesno"]  # small: whole
    total = plan.total_cost
    assert max(u.cost for u in plan.units) <= total / sharding.GRANULARITY * (1 + 8 / n)  # within a document
    # Largest first; the shards merge back into one unit per task.
    assert [u.cost for u in plan.units] == sorted((u.cost for u in plan.units), reverse=True)
    assert [u.name for u in plan.result_units()] == ["m--FP32/slmb_truthful", "m--FP32/slmb_yesno"]
    assert plan.shards_of(plan.result_units()[0]) == sorted(truthful, key=lambda u: u.docs or (0, 0))


def test_shard_keys_hold_across_worker_counts_and_limits() -> None:
    plan, found = _dominant()
    keys = [u.cache_key for u in plan.units]
    for workers in (1, 2, sharding.GRANULARITY):
        assert [u.cache_key for u in _dominant(workers=workers, task_costs=found)[0].units] == keys
    finer = _dominant(workers=16, task_costs=found)[0]  # more workers than the granularity: finer shards
    assert sum(u.subtask == "slmb_truthful" for u in finer.units) == 16
    shard = next(u for u in plan.units if u.is_shard)
    assert replace(shard, limit=100).cache_key == shard.cache_key  # a shard's documents are its range
    assert replace(shard, docs=(0, 1)).cache_key != shard.cache_key
    whole = plan.result_units()[0]
    assert whole.cache_key not in keys and replace(whole, limit=100).cache_key != whole.cache_key


def test_a_smoke_test_shards_nothing_and_loads_no_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """A --limit 5 run: real document counts, guessed costs, no lm-eval task object built."""

    def refuse(*args, **kwargs):
        raise AssertionError("a smoke test loaded an lm-eval task to cost it")

    monkeypatch.setattr(costs, "profile_local_task", refuse)
    plan, found = _dominant(limit=5)
    assert {c.source for c in found.values()} == {"guess"}
    assert found["slmb_truthful"].n_docs == len(_pack_docs("truthful"))
    assert not any(u.is_shard for u in plan.units)


def test_unknown_document_counts_are_never_split() -> None:
    guessed = {
        "slmb_truthful": costs.guess("multiple_choice", None),  # a hub task nobody measured yet
        "slmb_yesno": TaskCost(160, 1.0, 2.0, "requests"),
    }
    plan, _ = _dominant(task_costs=guessed)
    assert not any(u.is_shard for u in plan.units)
    assert plan.result_units()[0].cost == costs.DEFAULT_DOCS * guessed["slmb_truthful"].per_doc


def test_figures_are_stored_and_read_back_without_lm_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    _, first = _dominant()

    def refuse(*args, **kwargs):
        raise AssertionError("stored figures were built again")

    monkeypatch.setattr(costs, "profile_local_task", refuse)
    _, again = _dominant()
    assert again == first
