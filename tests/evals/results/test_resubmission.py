"""A re-submitted model's run summary says whether each variant moved significantly from its published version."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from benchmarks.synthetic import publish_bulk, run_frames
from evals.results.resubmission import resubmission_lines
from evals.scoring import default_spec


def _frames(run_id: str, level: float, day: int) -> dict[str, pl.DataFrame]:
    frames = run_frames(
        run_id=run_id,
        model_name="again",
        variants=("again--FP32",),
        level=level,
        samples=300,
        finished_at=datetime(2025, 1, day, tzinfo=UTC),
    )
    return frames | {"runs": frames["runs"].with_columns(pl.lit("published").alias("status"))}


def test_the_summary_says_whether_a_resubmitted_variant_changed(tmp_path: Path) -> None:
    uri = str(tmp_path / "warehouse")
    spec = default_spec()
    publish_bulk(uri, _frames("first", 0.6, 1))
    # the same items answered the same way: no change at all
    same = _frames("second", 0.6, 2)
    lines = resubmission_lines(uri, same["runs"], same["scores"], same["samples"], spec)
    assert len(lines) == 4 and "`again--FP32`" in lines[3] and "+0.0 points" in lines[3]
    assert "**not a significant change**" in lines[3] and "published run `first`" in lines[3]
    # a much weaker model under the same name: wrong on a superset of the items
    worse = _frames("third", 0.3, 3)
    lines = resubmission_lines(uri, worse["runs"], worse["scores"], worse["samples"], spec)
    assert "**a significant change**" in lines[3]
    # the change is the two aggregates' difference (the synthetic scores are their items' means)
    now, before, change = (float(x) for x in re.findall(r"(-?\d+\.\d) (?:now|in the published|points)", lines[3]))
    assert change == pytest.approx(now - before, abs=0.11) and change < -25
    # a model never published before, or no warehouse: nothing to say
    new = run_frames(run_id="fourth", model_name="brand-new", variants=("brand-new--FP32",), samples=10)
    assert resubmission_lines(uri, new["runs"], new["scores"], new["samples"], spec) == []
    assert resubmission_lines(None, same["runs"], same["scores"], same["samples"], spec) == []
