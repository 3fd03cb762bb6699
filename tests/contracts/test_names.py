"""One "did you mean" for every layer."""

from __future__ import annotations

from contracts.names import did_you_mean


def test_the_closest_name_or_nothing() -> None:
    assert did_you_mean("codng", ["reasoning", "coding", "math"]) == " (did you mean 'coding'?)"
    assert did_you_mean("vision", ["reasoning", "coding", "math"]) == ""
    assert did_you_mean("/test-benchmrk", ("/test-benchmark", "/push-results")) == " (did you mean '/test-benchmark'?)"
