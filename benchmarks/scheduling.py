"""Scheduling benchmark: a suite with one dominant task, on 1 and 2 workers, against lm-eval's CLI.

    .venv/bin/python -m benchmarks.scheduling [--model demo-trained] [--limit N]

The suite is ``offline-dominant``: ``slmb_truthful`` (shaped like
TruthfulQA-MC2: 3-9 answers behind one long prompt, 972 documents) beside the
small ``slmb_yesno``. The demo model takes seconds per hundred documents where
the issue's 135M model took minutes, so the platform's fixed start-up (Prefect,
Ray, actors, contracts: about 10 s) weighs more here: the evaluation windows
are printed beside the wall times. Every platform run is cold (an empty unit cache, so the
costs are built and the task sharded as a first run would), in this one process
(one Prefect server, one local Ray), and prints its wall time, its evaluation
window (first unit start to last unit end), each worker's idle share and the
idle tail (evals/cluster/balance.py). The runs:

- transformers (FP32 safetensors): 1 worker x 1 thread, 2 workers x 1 thread,
  1 worker x 2 threads (the same cores used two ways);
- llama.cpp (the same weights as an F32 GGUF): 1 worker x 1 thread, 2 workers x 1 thread;
- lm-eval's CLI on the same tasks (``--model hf`` on the FP32 weights, batch
  size 1 as our workers, all cores as torch threads): lm-eval's own ``gguf``
  type needs a llama.cpp server and drops the last continuation token
  (evals/backends/llamacpp.py), so the CLI reference for both backends is
  lm-eval's ``hf`` model, the way a user of lm-eval alone runs these weights.

Targets (issue 13): 2 workers >= 1.85x of 1 worker at 1 thread each, idle tail
under 10% of the wall time; against the CLI, <= 1.0x on transformers and <= 0.5x
on llama.cpp. The machine may be shared: the load average is printed before and
after, and only ratios from this one run are meaningful.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows import settings  # noqa: E402

settings.apply_defaults()

SUITE = "offline-dominant"


@dataclass(frozen=True)
class Measured:
    label: str
    wall_s: float
    window_s: float | None = None
    idle: tuple[float, ...] = ()
    tail_s: float | None = None


def _submission(model: str, quant: str, fmt: str, folder: Path) -> Path:
    """The demo model with one variant, asking only for the suite's categories."""
    text = (ROOT / "models" / "submissions" / f"{model}.yaml").read_text()
    head, _, _ = text.partition("  quantizations:")
    path = folder / f"{model}-{quant}-{fmt}.yaml"
    path.write_text(
        head + f'  quantizations:\n    - name: "{quant}"\n      format: "{fmt}"\n'
        '  categories: ["reasoning", "language"]\n'
    )
    return path


def _platform(label: str, submission: Path, workers: int, threads: int, limit: int | None, tmp: Path) -> Measured:
    from evals.cluster.balance import balance
    from flows.benchmark import benchmark_submission

    out = tmp / label.replace(" ", "-")
    os.environ["SLMBENCH_CACHE_DIR"] = str(out / "cache")  # cold: nothing cached, costs built afresh
    started = time.perf_counter()
    benchmark_submission(
        submission_path=str(submission),
        suite=SUITE,
        limit=limit,
        workers=workers,
        threads_per_worker=threads,
        output_dir=str(out / "run"),
        warehouse=str(out / "warehouse"),
    )
    wall = time.perf_counter() - started

    schedule = json.loads((out / "run" / "schedule.json").read_text())
    measured = balance([SimpleNamespace(**row) for row in schedule])
    if measured is None:
        return Measured(label, wall)
    idle = tuple(w.idle_share for w in measured.workers)
    return Measured(label, wall, measured.window_s, idle, measured.tail_s)


def _cli(hf_dir: Path, limit: int | None, tmp: Path) -> Measured:
    from evals.catalog.pack import build_pack
    from evals.catalog.suites import load_catalog
    from evals.site.reproduce import lm_eval_command

    cores = os.cpu_count() or 1
    tasks = list(load_catalog().suite(SUITE).tasks)
    cmd = lm_eval_command(hf_dir, tasks, output_path=tmp / "cli", include_paths=[build_pack()], limit=limit)
    env = {**os.environ, "OMP_NUM_THREADS": str(cores), "MKL_NUM_THREADS": str(cores)}
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=7200, env=env)
    return Measured(f"lm-eval CLI hf x {cores} threads", time.perf_counter() - started)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo-trained")
    parser.add_argument("--limit", type=int, default=None, help="documents per task (default: all)")
    args = parser.parse_args()
    from flows import local_api

    api = local_api.start()  # as the CLI does: Prefect's local server, before Prefect is imported
    from evals.models.fixtures import build_all

    hf_dir = Path(build_all()[args.model].hf_dir)
    cores = os.cpu_count() or 1
    if api is not None:
        api.wait_ready()
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        hf = _submission(args.model, "FP32", "safetensors", tmp)
        gguf = _submission(args.model, "FP32", "gguf", tmp)
        runs = [
            _platform("transformers 1w x 1t", hf, 1, 1, args.limit, tmp),
            _platform("transformers 2w x 1t", hf, 2, 1, args.limit, tmp),
            _platform(f"transformers 1w x {cores}t", hf, 1, cores, args.limit, tmp),
            _platform("llama.cpp 1w x 1t", gguf, 1, 1, args.limit, tmp),
            _platform("llama.cpp 2w x 1t", gguf, 2, 1, args.limit, tmp),
            _cli(hf_dir, args.limit, tmp),
        ]
    by = {r.label: r for r in runs}
    cli = runs[-1]

    print(f"\nscheduling benchmark: {args.model}, suite {SUITE}, limit {args.limit or 'all'}, {cores} cores")
    print(f"load average (1/5/15 min) before: {load_before}; after: {_load()}")
    print(f"{'run':<32}{'wall s':>8}{'window s':>10}  {'idle per worker':<18}{'idle tail':>16}")
    for r in runs:
        window = f"{r.window_s:.1f}" if r.window_s is not None else "-"
        idle = ", ".join(f"{share:.0%}" for share in r.idle) or "-"
        tail = f"{r.tail_s:.1f}s ({r.tail_s / r.wall_s:.0%} of wall)" if r.tail_s is not None else "-"
        print(f"{r.label:<32}{r.wall_s:>8.1f}{window:>10}  {idle:<18}{tail:>16}")

    def ratio(label: str, value: float, target: str) -> None:
        print(f"  {label:<58}{value:>7.2f}   (target {target})")

    t1, t2, tn = by["transformers 1w x 1t"], by["transformers 2w x 1t"], by[f"transformers 1w x {cores}t"]
    l1, l2 = by["llama.cpp 1w x 1t"], by["llama.cpp 2w x 1t"]
    print("ratios:")
    ratio("transformers: 1w x 1t wall / 2w x 1t wall (speed-up)", t1.wall_s / t2.wall_s, ">= 1.85")
    if t1.window_s and t2.window_s:
        ratio("transformers: the same, evaluation windows", t1.window_s / t2.window_s, ">= 1.85")
    ratio("llama.cpp: 1w x 1t wall / 2w x 1t wall (speed-up)", l1.wall_s / l2.wall_s, ">= 1.85")
    if l1.window_s and l2.window_s:
        ratio("llama.cpp: the same, evaluation windows", l1.window_s / l2.window_s, ">= 1.85")
    ratio(f"transformers: 1w x {cores}t wall / 2w x 1t wall", tn.wall_s / t2.wall_s, "information")
    for r in (t2, l2):
        if r.tail_s is not None:
            ratio(f"{r.label}: idle tail / wall", r.tail_s / r.wall_s, "< 0.10")
    ratio("transformers 2w x 1t / lm-eval CLI", t2.wall_s / cli.wall_s, "<= 1.0")
    ratio("llama.cpp 2w x 1t / lm-eval CLI", l2.wall_s / cli.wall_s, "<= 0.5")


if __name__ == "__main__":
    main()
