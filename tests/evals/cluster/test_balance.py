"""Worker balance from the units' own timings: idle share per worker and the idle tail."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from evals.cluster.balance import balance, describe


def _unit(worker: str | None, start: float | None, duration: float) -> SimpleNamespace:
    return SimpleNamespace(worker=worker, started_at=start, duration_s=duration)


def test_idle_shares_and_tail_over_the_unit_window() -> None:
    # w1 works 0-10 and 10-20; w2 starts late (2-8) and runs out of units at 8: idle from 8 to 20.
    measured = balance([_unit("w1", 100.0, 10.0), _unit("w1", 110.0, 10.0), _unit("w2", 102.0, 6.0)])
    assert measured is not None
    assert measured.window_s == pytest.approx(20.0)
    assert [(w.worker, w.units) for w in measured.workers] == [("w1", 2), ("w2", 1)]
    assert [w.idle_share for w in measured.workers] == pytest.approx([0.0, 0.7])
    assert measured.tail_s == pytest.approx(12.0) and measured.tail_share == pytest.approx(0.6)
    assert describe(measured) == "2 workers over 20.0 s: idle 0%, 70%; idle tail 12.0 s (60%)"


def test_cached_units_ran_on_no_worker_and_count_for_nothing() -> None:
    assert balance([_unit(None, None, 0.0), _unit(None, None, 0.1)]) is None
    alone = balance([_unit("w1", 5.0, 3.0), _unit(None, None, 0.0)])
    assert alone is not None and alone.workers[0].idle_share == 0.0 and alone.tail_s == 0.0
