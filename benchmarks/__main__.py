"""Run every benchmark: ``python -m benchmarks``."""

from __future__ import annotations

from benchmarks import publish_scale

if __name__ == "__main__":
    raise SystemExit(publish_scale.main())
