"""Run every benchmark, one process each: ``python -m benchmarks`` (or ``make bench``).

Each prints its own figures; run one alone with ``python -m benchmarks.<name>``.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "engine_scaling",
    "scheduling",
    "startup",
    "publish_scale",
    "site_build",
    "webhook_load",
    "webhook_slow_clients",
    "flow_run_creates",
    "edge_repeatability",
    "sandbox_overhead",
    "engine_digest",
)


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== benchmarks.{name} ===", flush=True)
        if subprocess.run([sys.executable, "-m", f"benchmarks.{name}"]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
