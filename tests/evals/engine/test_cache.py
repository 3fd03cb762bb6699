"""A cached unit is served only as it was written, and a score only with the items it came from (issue 20, §3).

The issue's case, on a real unit (the demo model's Q8_0 GGUF on slmb_yesno, two documents, evaluated
by a real worker): one cached unit's ``acc`` set to another value in ``results.json``. Before, the
entry was served and the run's summary and contracts passed; now the entry is recomputed, and an edit
that also forges the entry's digest is refused at staging, because its score no longer is its items'.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from benchmarks.synthetic import run_frames
from contracts.submission import load_submission
from contracts.tables import SAMPLES, SCORES
from evals.engine.cache import META, RESULTS, UnitCache, entry_problem
from evals.engine.execution import execute_unit
from evals.engine.worker import ModelWorker
from evals.plan.prepare import plan_submission
from evals.plan.units import PlanOptions, WorkUnit
from evals.results.frames import unit_score_rows
from evals.results.samples import SampleRule, read_samples, unit_sample_rows
from evals.warehouse import staging

ROOT = Path(__file__).resolve().parents[3]
SUBMISSION = "models/submissions/demo-trained.yaml"
ACC = "acc,none"


@pytest.fixture(scope="module")
def unit_and_worker(demo_models) -> tuple[WorkUnit, ModelWorker]:
    plan = plan_submission(
        load_submission(ROOT / SUBMISSION), PlanOptions(suite="offline", limit=2, submission_path=SUBMISSION)
    )
    unit = next(u for u in plan.units if u.variant.variant_id.endswith("--Q8_0") and u.subtask == "slmb_yesno")
    return unit, ModelWorker(unit.variant, plan.include_paths, n_threads=1)


def _edit_acc(entry: Path) -> float:
    """Set the unit's acc to a value its items do not give; returns it."""
    results = json.loads((entry / RESULTS).read_text())
    forged = 0.0 if results["results"]["slmb_yesno"][ACC] == 1.0 else 1.0
    results["results"]["slmb_yesno"][ACC] = forged
    (entry / RESULTS).write_text(json.dumps(results, indent=1, sort_keys=True))
    return forged


def test_an_edited_acc_in_a_cached_results_json_is_recomputed_not_served(unit_and_worker, tmp_path: Path) -> None:
    unit, worker = unit_and_worker
    cache = UnitCache(tmp_path / "cache")
    first = execute_unit(unit, worker, cache, tmp_path / "run-1")
    assert first.status == "evaluated"
    measured = json.loads(Path(first.folder, RESULTS).read_text())["results"]["slmb_yesno"][ACC]
    entry = cache.get(unit.cache_key)
    assert entry is not None and entry_problem(entry) is None
    assert execute_unit(unit, worker, cache, tmp_path / "run-2").status == "cached"  # untouched: served

    forged = _edit_acc(entry)
    assert "results.json that is not the one stored" in str(entry_problem(entry))
    again = execute_unit(unit, worker, cache, tmp_path / "run-3")
    assert again.status == "evaluated"  # before the fix: "cached", with the forged acc
    served = json.loads(Path(again.folder, RESULTS).read_text())["results"]["slmb_yesno"][ACC]
    assert served == measured != forged
    assert entry_problem(cache.get(unit.cache_key)) is None
    assert any(p.name.startswith(".corrupt-") for p in entry.parent.iterdir())  # the edited entry kept aside


def test_an_entry_without_digests_is_not_served(unit_and_worker, tmp_path: Path) -> None:
    unit, worker = unit_and_worker
    cache = UnitCache(tmp_path / "cache")
    execute_unit(unit, worker, cache, tmp_path / "run-1")
    entry = cache.get(unit.cache_key)
    meta = json.loads((entry / META).read_text())
    del meta["sha256"]
    (entry / META).write_text(json.dumps(meta))
    assert cache.get(unit.cache_key) is None


def test_a_score_edited_with_its_digest_forged_too_is_refused_at_staging(unit_and_worker, tmp_path: Path) -> None:
    """Whoever can write the cache can write a matching digest: the contracts then tie the score to its items."""
    unit, worker = unit_and_worker
    cache = UnitCache(tmp_path / "cache")
    folder = Path(execute_unit(unit, worker, cache, tmp_path / "run").folder)
    variant = unit.variant.variant_id
    frames = run_frames(
        run_id="r", model_name=unit.variant.model_name, variants=(variant,), tasks=("slmb_yesno",), edge=False
    )

    def staged_with(results: dict) -> staging.StageResult:
        rule = SampleRule("acc")
        items = unit_sample_rows("r", variant, unit.task, unit.subtask, results, read_samples(folder), rule)
        scores = SCORES.conform(pl.DataFrame(unit_score_rows("r", unit, results), schema=SCORES.schema))
        real = {**frames, "scores": scores, "samples": SAMPLES.conform(pl.DataFrame(items, schema=SAMPLES.schema))}
        uri = str(tmp_path / f"wh-{len(list(tmp_path.glob('wh-*')))}")
        return staging.stage_run(uri, real, {variant: ["slmb_yesno"]}, report_dir=tmp_path / "reports")

    results = json.loads((folder / RESULTS).read_text())
    assert staged_with(results).status == "staged"  # the real unit: its score is its items'
    n_items = results["n-samples"]["slmb_yesno"]["effective"]
    results["results"]["slmb_yesno"][ACC] = 0.0 if results["results"]["slmb_yesno"][ACC] == 1.0 else 1.0
    refused = staged_with(results)
    assert refused.status == "failed"
    summary = refused.report.summary()
    assert "value equals the aggregate of its items" in summary
    assert "but they give" in summary and f"over its {n_items} items" in summary
    results["n-samples"]["slmb_yesno"]["effective"] = n_items + 3  # a count that is not the run's documents
    assert "n_samples says 5 documents, its staged items are 2" in staged_with(results).report.summary()
