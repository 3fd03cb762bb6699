"""A unit past its wall-clock limit fails with its reason, its worker is replaced, and the next unit runs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from contracts.errors import UserError
from contracts.submission import load_submission
from evals.cluster.pool import PoolOptions, WorkerPool, is_transient
from evals.engine.time_limits import MINIMUM_S, UnitTimedOut, UnitTimeLimit
from evals.plan.prepare import plan_submission
from evals.plan.units import PlanOptions

ROOT = Path(__file__).resolve().parents[3]


def test_the_limit_grows_with_the_cost_and_its_scale_comes_from_the_environment() -> None:
    default = UnitTimeLimit.from_env({})
    assert default.seconds(0) == MINIMUM_S and default.seconds(4000) == MINIMUM_S + 1000
    assert UnitTimeLimit.from_env({"SLMBENCH_UNIT_TIME_SCALE": "2"}).seconds(4000) == 2 * (MINIMUM_S + 1000)
    for bad in ("0", "-1", "nan", "soon"):
        with pytest.raises(UserError, match="SLMBENCH_UNIT_TIME_SCALE must be a positive number"):
            UnitTimeLimit.from_env({"SLMBENCH_UNIT_TIME_SCALE": bad})
    assert not is_transient(UnitTimedOut("x"))  # a unit that ran out of time is not retried


def test_a_unit_past_its_limit_fails_saying_why_and_the_next_unit_runs_on_a_new_worker(ray_local, demo_models) -> None:
    path = ROOT / "models" / "submissions" / "demo-untrained.yaml"
    plan = plan_submission(
        load_submission(path), PlanOptions(suite="offline-quick", limit=4, submission_path=str(path))
    )
    variant = plan.variants[0]
    first, second = [u for u in plan.units if u.variant == variant][:2]
    # scale 1e-4: a unit of cost 0 may run 0.06 s (loading the model takes longer); one of cost 1e9, 7 hours
    limit = UnitTimeLimit(scale=1e-4)
    pool = WorkerPool(
        variant,
        plan.include_paths,
        plan.needs_builtin_tasks,
        PoolOptions(workers=1, threads_per_worker=1),
        1234,
        time_limit=limit,
    )
    try:
        with pytest.raises(UnitTimedOut) as info:
            pool.run(replace(first, cost=0.0))
        assert str(info.value) == limit.reason(first.name, 0.0)
        assert "ran past its time limit of 0 s" in str(info.value) and "its worker was replaced" in str(info.value)
        (replacement,) = pool._actors
        outcome = pool.run(replace(second, cost=1e9))  # the pool goes on, on the new worker
        assert outcome.results["results"] and pool._actors == [replacement]
    finally:
        pool.shutdown()
