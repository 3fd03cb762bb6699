"""Run every benchmark, one process each: ``python -m benchmarks`` (or ``make bench``).

Each prints its own figures; run one alone with ``python -m benchmarks.<name>``.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    ("engine_scaling",),
    ("scheduling",),
    ("prefix_scoring",),
    ("startup",),
    ("publish_scale",),
    ("site_build",),
    ("webhook_load",),
    ("webhook_load", "--backend", "postgres"),
    ("webhook_slow_clients",),
    ("flow_run_creates",),
    ("edge_repeatability",),
    ("sandbox_overhead",),
    ("engine_digest",),
    ("paired_comparisons",),
    ("gpu_check", "--dry-run"),  # without a GPU: every step on the CPU (benchmarks/gpu_check.py)
)


def main() -> int:
    failed = []
    for name, *args in BENCHMARKS:
        label = " ".join([f"benchmarks.{name}", *args])
        print(f"\n=== {label} ===", flush=True)
        if subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *args]).returncode != 0:
            failed.append(label)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
