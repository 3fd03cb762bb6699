"""Sharding: a task run as document-range shards and merged equals the task run whole, for every task kind.

Real lm-eval, the real worker and the trained demo model (transformers, FP32,
batch size 1). Each kind runs once whole and once as shards over the same
documents; every metric and stderr must agree to 1e-9 and the merged per-sample
records must be the whole run's. The kinds: ``multiple_choice`` with
TruthfulQA-MC2's scoring and long prompts, ``generate_until`` with two filters,
``loglikelihood_rolling``, random few-shot examples (from the test split itself
and from a training split), and a group aggregated from its merged leaves.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from contracts.submission import load_submission
from evals.catalog.pack import build_pack
from evals.engine.cache import UnitCache, UnitOutcome
from evals.engine.execution import UnitReport, execute_unit, merge_unit
from evals.engine.worker import ModelWorker
from evals.models.variants import resolve_variants
from evals.plan.units import WorkUnit
from evals.scoring import ScoringSpec, TaskRule, task_scores
from tests.evals.engine.sharding_tasks import GROUP, GROUP_TASKS, ROLLING, write_tasks

ROOT = Path(__file__).resolve().parents[3]
TOLERANCE = 1e-9
# (task, documents, shards): each kind of task the issue names, split unevenly on purpose.
CASES = {
    "multiple_choice (mc2, long prompts)": ("slmb_truthful", 24, [(0, 7), (7, 16), (16, 24)]),
    "generate_until (two filters)": ("slmb_arith", 12, [(0, 5), (5, 12)]),
    "loglikelihood_rolling": (ROLLING, 12, [(0, 4), (4, 12)]),
    "few-shot from its test split": ("shard_facts", 20, [(0, 9), (9, 20)]),
    "few-shot from a training split": ("shard_story", 20, [(0, 6), (6, 20)]),
}


def _unit(variant: Any, subtask: str, limit: int) -> WorkUnit:
    return WorkUnit(
        variant=variant,
        task=subtask,
        subtask=subtask,
        category="reasoning",
        num_fewshot=None,  # the task's own
        limit=limit,
        seed=1234,
        output_type="",
        cost=0.0,
        task_config_hash=f"test-{subtask}",
        backend_versions=(),
    )


def _numbers(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k not in ("name", "alias")}


def max_gap(a: dict[str, Any], b: dict[str, Any]) -> float:
    """The largest difference between two lm-eval metric dicts (same keys; "N/A" only against "N/A")."""
    assert a.keys() == b.keys(), (a.keys(), b.keys())
    gap = 0.0
    for key, value in a.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert isinstance(b[key], int | float), (key, value, b[key])
            gap = max(gap, abs(float(value) - float(b[key])) if math.isfinite(value) else 0.0)
        else:
            assert value == b[key], (key, value, b[key])
    return gap


@pytest.fixture(scope="module")
def worker(demo_models, tmp_path_factory) -> ModelWorker:
    pack = build_pack()
    tasks = write_tasks(tmp_path_factory.mktemp("shard-tasks"), pack)
    variant = resolve_variants(load_submission(ROOT / "models" / "submissions" / "demo-trained.yaml"))[0]
    assert variant.backend == "transformers" and variant.quantization == "FP32"
    return ModelWorker(variant, (str(pack), str(tasks)), n_threads=1)


@pytest.fixture(scope="module")
def runs(worker: ModelWorker) -> dict[str, tuple[UnitOutcome, UnitOutcome]]:
    """Each case's (whole run, shards merged)."""
    out = {}
    for kind, (task, docs, ranges) in CASES.items():
        whole = _unit(worker.variant, task, docs)
        shards = [worker.run(replace(whole, docs=r)) for r in ranges]
        out[kind] = (worker.run(whole), worker.merge(whole, shards))
    return out


@pytest.mark.parametrize("kind", list(CASES))
def test_sharded_run_equals_the_whole_run(kind: str, runs) -> None:
    task = CASES[kind][0]
    whole, merged = runs[kind]
    gap = max_gap(_numbers(whole.results["results"][task]), _numbers(merged.results["results"][task]))
    print(f"\nparity | {kind} | {task} | max |difference| over every metric and stderr: {gap:.3g}")
    assert gap <= TOLERANCE
    assert merged.results["n-samples"][task] == whole.results["n-samples"][task]
    assert merged.samples == whole.samples  # the same records, in the same order, with their whole-task doc ids
    assert merged.results["n-shot"] == whole.results["n-shot"]


def test_group_from_merged_leaves_equals_lm_eval_group(worker: ModelWorker, runs) -> None:
    """lm-eval's own group result (unsharded) = its Group.aggregate over the merged leaves = our scoring's."""
    from lm_eval import simple_evaluate

    limit = CASES["few-shot from its test split"][1]
    assert all(CASES[k][1] == limit for k in ("few-shot from its test split", "few-shot from a training split"))
    reference = simple_evaluate(
        model=worker.lm, tasks=[GROUP], limit=limit, task_manager=worker.task_manager(), random_seed=1234,
        numpy_random_seed=1234, torch_random_seed=1234, fewshot_random_seed=1234,
    )  # fmt: skip
    expected = reference["results"][GROUP]
    leaves = {
        task: merged.results["results"][task]
        for kind, (task, _, _) in CASES.items()
        for _, merged in [runs[kind]]
        if task in GROUP_TASKS
    }
    group = worker.task_manager().load([GROUP])["groups"][GROUP]
    aggregated = group.aggregate(leaves)
    gap = max_gap(_numbers(expected), _numbers(aggregated))
    print(f"\nparity | group (lm-eval Group.aggregate over merged leaves) | {GROUP} | {gap:.3g}")
    assert gap <= TOLERANCE

    # The leaderboard's path: scores rows of the merged leaves, reassembled by evals.scoring.
    rows = [
        {
            "run_id": "r",
            "variant_id": "v",
            "task": GROUP,
            "metric": "acc",
            "filter": "none",
            "value": metrics["acc,none"],
            "stderr": metrics["acc_stderr,none"],
            "n_samples": metrics["sample_len"],
        }
        for metrics in leaves.values()
    ]
    spec = ScoringSpec(weights={"reasoning": 1.0}, tasks={GROUP: TaskRule("reasoning", "acc", "none", 0.25)}, edge={})
    scored = task_scores(pl.DataFrame(rows), spec).row(0, named=True)
    gap = max(abs(scored["value"] - expected["acc,none"]), abs(scored["stderr"] - expected["acc_stderr,none"]))
    print(f"parity | group (evals.scoring over merged leaves) | {GROUP} | {gap:.3g}")
    assert gap <= TOLERANCE


class CountingRunner:
    """The real worker, counting the units it is asked to evaluate."""

    def __init__(self, worker: ModelWorker) -> None:
        self.worker = worker
        self.ran: list[str] = []

    def run(self, unit: WorkUnit) -> UnitOutcome:
        self.ran.append(unit.name)
        return self.worker.run(unit)

    def merge(self, unit: WorkUnit, shards: list[UnitOutcome]) -> UnitOutcome:
        return self.worker.merge(unit, shards)


def test_a_resumed_task_reruns_only_its_missing_shard(worker: ModelWorker, runs, tmp_path: Path) -> None:
    task, docs, ranges = CASES["multiple_choice (mc2, long prompts)"]
    whole = _unit(worker.variant, task, docs)
    shards = [replace(whole, docs=r) for r in ranges]
    cache = UnitCache(tmp_path / "cache")
    runner = CountingRunner(worker)

    def run_all(run_dir: Path):
        reports = [execute_unit(s, runner, cache, run_dir) for s in shards]
        return reports, merge_unit(whole, shards, reports, runner, cache, run_dir)

    first, merged = run_all(tmp_path / "run-1")
    assert [r.status for r in first] == ["evaluated"] * 3 and merged.status == "evaluated"
    # A run that stopped after two shards: the third shard and the merge are missing.
    import shutil

    shutil.rmtree(cache.get(shards[1].cache_key))
    shutil.rmtree(cache.get(whole.cache_key))
    runner.ran.clear()
    again, remerged = run_all(tmp_path / "run-2")
    assert runner.ran == [shards[1].name]
    assert [r.status for r in again] == ["cached", "evaluated", "cached"]
    folder = Path(remerged.folder or "")
    assert folder == tmp_path / "run-2" / "units" / whole.variant.variant_id / task  # one unit's records
    assert (folder / "samples.jsonl").read_text() == (
        tmp_path / "run-1" / "units" / whole.variant.variant_id / task / "samples.jsonl"
    ).read_text()
    # With the merged task cached, no shard is needed at all.
    runner.ran.clear()
    third, _ = run_all(tmp_path / "run-3")
    assert runner.ran == [] and all(r.status == "cached" and r.folder is None for r in third)
    expected = runs["multiple_choice (mc2, long prompts)"][0].results["results"][task]
    from evals.engine.cache import read_results

    assert max_gap(_numbers(read_results(folder)["results"][task]), _numbers(expected)) <= TOLERANCE


def test_a_run_measures_the_figures_of_a_task_planning_could_only_guess(runs, tmp_path: Path) -> None:
    """For tasks whose data is not local: the requests a complete run logged, kept once (evals.catalog.costs)."""
    import json

    from evals.catalog.costs import REQUEST_OVERHEAD, CostStore, cost_key, record_measured, tokens
    from evals.catalog.pack.truthful import _PREAMBLE
    from evals.engine.cache import write_outcome

    task, docs, _ = CASES["multiple_choice (mc2, long prompts)"]
    whole, merged = runs["multiple_choice (mc2, long prompts)"]
    write_outcome(tmp_path / "unit", whole, {})
    store = CostStore(tmp_path)
    assert record_measured([(task, "hash", None, tmp_path / "unit")], store) == 1
    measured = store.get(cost_key("hash", None))
    lines = (build_pack() / "data" / "truthful.jsonl").read_text().splitlines()
    evaluated = [json.loads(line) for line in lines[:docs]]
    per_doc = [
        sum(
            REQUEST_OVERHEAD + tokens(f"{_PREAMBLE}\n\nq: {d['question']}\na:") + tokens(" " + c)
            for c in d["mc2_targets"]["choices"]
        )
        for d in evaluated
    ]
    assert measured is not None and measured.source == "measured" and measured.n_docs == len(lines)
    assert measured.requests_per_doc == pytest.approx(sum(len(d["mc2_targets"]["choices"]) for d in evaluated) / docs)
    assert measured.per_doc == pytest.approx(sum(per_doc) / docs)
    # Kept once: a later run does not move the shards an earlier plan made from it.
    write_outcome(tmp_path / "again", merged, {})
    assert record_measured([(task, "hash", None, tmp_path / "again")], store) == 0


def test_the_worker_describes_its_environment_once(worker: ModelWorker, runs) -> None:
    """lm-eval's environment report (pip list: 1-2 s) is computed by the first unit and copied into the others."""
    import lm_eval.evaluator as evaluator

    assert getattr(evaluator.add_env_info, "computed_once", False)
    reports = {outcome.results.get("pretty_env_info") for pair in runs.values() for outcome in pair}
    assert len(reports) == 1 and all(isinstance(r, str) and "PyTorch version" in r for r in reports)


def test_samples_of_a_sharded_task_come_once_each_from_its_merge(worker: ModelWorker, runs, tmp_path: Path) -> None:
    """The ``samples`` table reads a sharded task's merged records: every document once, with its own doc id.

    The shards' reports carry folders too (their cache entries); reading them as well would count each
    document twice.
    """
    from evals.plan.units import Plan
    from evals.results.frames import samples_frame

    task, docs, ranges = CASES["multiple_choice (mc2, long prompts)"]
    whole = _unit(worker.variant, task, docs)
    shards = [replace(whole, docs=r) for r in ranges]
    cache = UnitCache(tmp_path / "cache")
    reports = [execute_unit(s, worker, cache, tmp_path / "run") for s in shards]
    assert all(r.folder for r in reports)  # each shard's records are on disk as well
    reports.append(merge_unit(whole, shards, reports, worker, cache, tmp_path / "run"))
    plan = Plan("", "test", tuple(shards), (worker.variant,), (), False)

    rows = samples_frame("run-1", plan, reports)
    assert rows["doc_id"].to_list() == list(range(docs))  # all shards, in order, none twice
    assert set(rows["subtask"]) == {task} and rows["variant_id"].unique().to_list() == [worker.variant.variant_id]
    # The rows are the unsharded run's, document for document.
    from evals.engine.cache import write_outcome

    write_outcome(tmp_path / "whole", runs["multiple_choice (mc2, long prompts)"][0], {})
    whole_plan = Plan("", "test", (whole,), (worker.variant,), (), False)
    expected = samples_frame("run-1", whole_plan, [UnitReport(whole.name, "evaluated", str(tmp_path / "whole"), 0.0)])
    assert rows.equals(expected)
