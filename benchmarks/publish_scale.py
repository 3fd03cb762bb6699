"""Publish plus leaderboard recompute at 1,000 and 10,000 synthetic models x 20 tasks.

    python -m benchmarks.publish_scale [--sizes 1000 10000] [--dir /tmp/slmbench-bench]

For each size: published tables holding N models (one variant each) with 20
task rows per model (15 catalog tasks plus mmlu split into 5 subtasks, so
group aggregation is exercised) and 3 edge metrics are written in bulk (setup,
not timed). Then, in a fresh process, one more staged run is published with
the same steps as the ``publish_results`` flow (contracts on the staged run,
merge, leaderboard recompute over all N + 1 models, leaderboard contract, new
version, registry, exports), without the Prefect server around them. Printed:
wall time of each step, total, and peak RSS of that process, plus the ratios
between sizes. Aim: under 30 s at 10,000 models, close to linear growth.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.processes import in_fresh_process


def _setup(uri: str, n_models: int) -> None:
    """Bulk-write the published tables and stage one new run (not timed)."""
    from benchmarks.synthetic import plan_of, run_frames, scale_tables
    from evals.warehouse import staging, storage

    for name, frame in scale_tables(n_models).items():
        frame.write_delta(storage.table_uri(uri, storage.PUBLISHED, name), mode="append")
    frames = run_frames(run_id="bench-new", model_name="bench-new", finished_at=datetime(2026, 1, 1, tzinfo=UTC))
    result = staging.stage_run(uri, frames, plan_of(frames).units, report_dir=Path(uri) / "reports")
    if result.status != "staged":
        raise RuntimeError(result.report.summary())


def _publish(uri: str, queue: mp.Queue) -> None:
    """Publish the staged run, timing each step; reports to ``queue``."""
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from contracts.expectations import _batch_definition
    from evals.scoring import default_spec
    from evals.site import exports
    from evals.warehouse import publishing, staging

    spec = default_spec()
    _batch_definition()  # GX's import and context are a fixed start-up cost, not publish work
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times: dict[str, float] = {}

    def step(name: str, action):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        out = action()
        times[name] = time.perf_counter() - began
        return out

    step("check staged run", lambda: staging.check_staged_run(uri, "bench-new"))
    step("merge into published", lambda: publishing.publish_rows(uri, "bench-new"))
    board = step("recompute leaderboard", lambda: publishing.compute_leaderboard(uri, spec))
    step("leaderboard contract", lambda: publishing.check_leaderboard(board, spec))
    step("write leaderboard", lambda: publishing.write_leaderboard(uri, board, spec))
    step("update registry", lambda: publishing.update_registry(uri))
    step("export site data", lambda: exports.export_site_data(uri, Path(uri) / "exports"))
    queue.put(
        {
            "times": times,
            "rows": board.frame.height,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "baseline_rss_mb": baseline_rss / 1024,
        }
    )


def _setup_job(uri: str, n_models: int, queue: mp.Queue) -> None:
    began = time.perf_counter()
    _setup(uri, n_models)
    queue.put(time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/slmbench-bench"))
    args = parser.parse_args(argv)

    results = {}
    for n in args.sizes:
        uri = str(args.dir / f"wh-{n}")
        shutil.rmtree(uri, ignore_errors=True)
        setup_s = in_fresh_process(_setup_job, uri, n)
        result = in_fresh_process(_publish, uri)
        total = sum(result["times"].values())
        results[n] = {**result, "total": total}
        print(f"\n{n:,} models x 20 tasks (setup {setup_s:.1f} s, leaderboard rows {result['rows']:,})")
        for name, seconds in result["times"].items():
            print(f"  {name:<24} {seconds:7.2f} s")
        print(f"  {'total':<24} {total:7.2f} s")
        print(
            f"  peak RSS {result['peak_rss_mb']:.0f} MB (after imports and GX start: {result['baseline_rss_mb']:.0f} MB)"
        )
        shutil.rmtree(uri, ignore_errors=True)

    sizes = sorted(results)
    for small, large in zip(sizes, sizes[1:], strict=False):
        a, b = results[small], results[large]
        print(
            f"\n{large:,} vs {small:,} models ({large / small:.0f}x): time x{b['total'] / a['total']:.2f}, "
            f"recompute x{b['times']['recompute leaderboard'] / a['times']['recompute leaderboard']:.2f}, "
            f"peak RSS x{b['peak_rss_mb'] / a['peak_rss_mb']:.2f}, "
            f"RSS above baseline x{(b['peak_rss_mb'] - b['baseline_rss_mb']) / max(1.0, a['peak_rss_mb'] - a['baseline_rss_mb']):.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
