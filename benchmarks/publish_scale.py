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
import json
import multiprocessing as mp
import resource
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

MMLU_PARTS = 5


def _synthetic_tables(n_models: int, seed: int = 0) -> dict[str, object]:
    """Published runs, scores and edge rows of ``n_models`` models, built column-wise."""
    import numpy as np
    import polars as pl

    from contracts.tables import EDGE, EDGE_UNITS, RUNS, SCORES
    from evals.catalog import load_catalog

    rng = np.random.default_rng(seed)
    catalog = load_catalog()
    tasks = [(name, t) for name, t in catalog.tasks.items() if name != "mmlu"][:15]
    mmlu = catalog.tasks["mmlu"]
    rows_per_model = [(name, name, t) for name, t in tasks] + [
        ("mmlu", f"mmlu_part{i}", mmlu) for i in range(MMLU_PARTS)
    ]
    models = [f"synthetic-{i:05d}" for i in range(n_models)]
    run_ids = [f"bench-{i:05d}" for i in range(n_models)]
    variants = [f"{m}--FP16" for m in models]
    k = len(rows_per_model)
    start = datetime(2025, 1, 1, tzinfo=UTC)

    runs = pl.DataFrame(
        {
            "run_id": run_ids,
            "variant_id": variants,
            "status": ["published"] * n_models,
            "submission_path": [f"models/submissions/{m}.yaml" for m in models],
            "submission_sha256": ["0" * 64] * n_models,
            "model_name": models,
            "weights_digest": ["1" * 64] * n_models,
            "family": ["llama"] * n_models,
            "parameters": rng.integers(1_000_000, 3_000_000_000, n_models),
            "backend": ["transformers"] * n_models,
            "precision": ["FP16"] * n_models,
            "suite": ["full"] * n_models,
            "seed": [1234] * n_models,
            "hardware": ["{}"] * n_models,
            "versions": ["{}"] * n_models,
            "repo_commit": ["0" * 40] * n_models,
            "planned_tasks": [json.dumps(sorted({r[0] for r in rows_per_model}))] * n_models,
            "started_at": [start] * n_models,
            "finished_at": [start + timedelta(seconds=i) for i in range(n_models)],
            "n_units_planned": [k] * n_models,
            "n_units_succeeded": [k] * n_models,
        }
    )
    runs = runs.with_columns([pl.lit(None, dtype=RUNS.schema[c]).alias(c) for c in RUNS.names if c not in runs.columns])
    scores = pl.DataFrame(
        {
            "run_id": np.repeat(run_ids, k),
            "variant_id": np.repeat(variants, k),
            "model_name": np.repeat(models, k),
            "task": [r[0] for r in rows_per_model] * n_models,
            "subtask": [r[1] for r in rows_per_model] * n_models,
            "metric": [r[2].metric for r in rows_per_model] * n_models,
            "filter": [r[2].filter for r in rows_per_model] * n_models,
            "value": rng.uniform(0.0, 1.0, n_models * k),
            "stderr": rng.uniform(0.005, 0.05, n_models * k),
            "n_samples": rng.integers(50, 2000, n_models * k),
            "category": [r[2].category for r in rows_per_model] * n_models,
            "num_fewshot": [r[2].num_fewshot or 0 for r in rows_per_model] * n_models,
            "task_version": ["1.0"] * (n_models * k),
        }
    )
    metrics = list(EDGE_UNITS)
    edge = pl.DataFrame(
        {
            "run_id": np.repeat(run_ids, len(metrics)),
            "variant_id": np.repeat(variants, len(metrics)),
            "metric": metrics * n_models,
            "mean": rng.uniform(0.5, 500.0, n_models * len(metrics)),
            "sd": rng.uniform(0.0, 1.0, n_models * len(metrics)),
            "repetitions": [5] * (n_models * len(metrics)),
            "hardware_profile": ["bench"] * (n_models * len(metrics)),
            "unit": [EDGE_UNITS[m] for m in metrics] * n_models,
        }
    )
    return {"runs": RUNS.conform(runs.select(RUNS.names)), "scores": SCORES.conform(scores), "edge": EDGE.conform(edge)}


def _setup(uri: str, n_models: int) -> None:
    """Bulk-write the published tables and stage one new run (not timed)."""
    from evals import warehouse as wh
    from tests.contracts.frames import plan_of, run_frames

    for name, frame in _synthetic_tables(n_models).items():
        frame.write_delta(wh.table_uri(uri, wh.PUBLISHED, name), mode="append")  # type: ignore[attr-defined]
    frames = run_frames(run_id="bench-new", model_name="bench-new", finished_at=datetime(2026, 1, 1, tzinfo=UTC))
    result = wh.stage_run(uri, frames, plan_of(frames).units, report_dir=Path(uri) / "reports")
    if result.status != "staged":
        raise RuntimeError(result.report.summary())


def _publish(uri: str, queue: mp.Queue) -> None:
    """Publish the staged run, timing each step; reports to ``queue``."""
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from contracts.expectations import _batch_definition
    from evals import warehouse as wh
    from evals.scoring import default_spec

    spec = default_spec()
    _batch_definition()  # GX's import and context are a fixed start-up cost, not publish work
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times: dict[str, float] = {}

    def step(name: str, action):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        out = action()
        times[name] = time.perf_counter() - began
        return out

    step("check staged run", lambda: wh.check_staged_run(uri, "bench-new"))
    step("merge into published", lambda: wh.publish_rows(uri, "bench-new"))
    board = step("recompute leaderboard", lambda: wh.compute_leaderboard(uri, spec))
    step("leaderboard contract", lambda: wh.check_leaderboard(board, spec))
    step("write leaderboard", lambda: wh.write_leaderboard(uri, board, spec))
    step("update registry", lambda: wh.update_registry(uri))
    step("export site data", lambda: wh.export_site_data(uri, Path(uri) / "exports"))
    queue.put(
        {
            "times": times,
            "rows": board.frame.height,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "baseline_rss_mb": baseline_rss / 1024,
        }
    )


def _in_fresh_process(target, *args):  # type: ignore[no-untyped-def]
    # spawn, not fork: a forked child can deadlock once polars/deltalake are loaded.
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


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
        setup_s = _in_fresh_process(_setup_job, uri, n)
        result = _in_fresh_process(_publish, uri)
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
