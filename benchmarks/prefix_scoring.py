"""Prefix-scoring benchmark: shared-prefix scoring against lm-eval's CLI, on a suite shaped like the real one.

    .venv/bin/python -m benchmarks.prefix_scoring [--model demo-trained] [--limit N]

The suite is ``offline-shapes``: ``slmb_hellaswag`` (ten worked sentences, then
four endings), ``slmb_truthful`` (TruthfulQA-MC2's shape: 3-9 answers behind a
six-shot preamble), ``slmb_winogrande`` (two options filling a blank, the rest
of the sentence scored after each) and the short ``slmb_yesno``. In this one
process (one Prefect server, one local Ray), cold (an empty unit cache), it
times:

- lm-eval's CLI on the FP32 weights (``--model hf``, batch size 1, both cores
  as torch threads): the reference;
- the platform's transformers backend (shared-prefix scoring, the default),
  1 worker x all cores, batch size 1: the same cores and batch size as the CLI;
- the same backend, 2 workers x 1 thread;
- the llama.cpp backend on the same weights as an F32 GGUF, 2 workers x 1 thread;

then, per task, the input tokens the shared-prefix scorer ran against those
HFLM runs for the same requests (no padding counted on either side), and the
backend alone in this process (no platform) with each scorer.

Targets (issue 23): transformers 1 worker <= 0.5x the CLI, 2 workers <= 0.35x,
llama.cpp <= 0.2x. The machine may be shared: the load average is printed
before and after, and only ratios from this one run are meaningful.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows import settings  # noqa: E402

settings.apply_defaults()

import benchmarks.scheduling as scheduling  # noqa: E402

SUITE = "offline-shapes"


def _tokens_and_backend_times(
    hf_dir: Path, tasks: list[str], limit: int | None
) -> list[tuple[str, int, int, int, float, float]]:
    """Per task: (task, requests, tokens computed, HFLM's tokens, HFLM s, shared-prefix s), backend alone."""
    import torch
    from lm_eval.tasks import TaskManager, get_task_dict

    from evals.backends import BackendSpec, load_backend
    from evals.catalog.pack import build_pack

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    manager = TaskManager(include_path=[str(build_pack())], include_defaults=False)
    lms = {
        s: load_backend(BackendSpec(backend="transformers", path=hf_dir, scorer=s, n_threads=threads))
        for s in ("hflm", "shared-prefix")
    }
    rows = []
    for name, task in get_task_dict(tasks, manager).items():
        task.build_all_requests(limit=limit, rank=0, world_size=1)
        requests = list(task.instances)
        times = {}
        for scorer, lm in lms.items():
            started = time.perf_counter()
            lm.loglikelihood(requests, disable_tqdm=True)
            times[scorer] = time.perf_counter() - started
        counts = lms["shared-prefix"].scorer.counts
        rows.append((name, len(requests), counts.computed, counts.hflm, times["hflm"], times["shared-prefix"]))
        counts.computed = counts.hflm = counts.requests = 0
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo-trained")
    parser.add_argument("--limit", type=int, default=None, help="documents per task (default: all)")
    parser.add_argument(
        "--private-pack",
        action="store_true",
        help="build the task pack in a home of this run's own (the demo fixtures linked in), so that other "
        "checkouts sharing $SLMBENCH_HOME cannot rebuild it under this run",
    )
    args = parser.parse_args()
    if args.private_pack:
        from evals import paths

        shared_fixtures = paths.fixtures_dir()
        home = Path(tempfile.mkdtemp(prefix="prefix-scoring-home-"))
        (home / "fixtures").symlink_to(shared_fixtures)
        os.environ["SLMBENCH_HOME"] = str(home)
    from flows import local_api

    api = local_api.start()  # as the CLI does: Prefect's local server, before Prefect is imported
    from evals.catalog.suites import load_catalog
    from evals.models.fixtures import build_all

    scheduling.SUITE = SUITE  # its platform and CLI runs, on this suite
    hf_dir = Path(build_all()[args.model].hf_dir)
    cores = os.cpu_count() or 1
    tasks = list(load_catalog().suite(SUITE).tasks)
    if api is not None:
        api.wait_ready()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        hf = scheduling._submission(args.model, "FP32", "safetensors", tmp)
        gguf = scheduling._submission(args.model, "FP32", "gguf", tmp)
        # Untimed: the first run in a process pays for imports, Ray's start and the pack's indexes once.
        scheduling._platform("warm-up", hf, 1, cores, 2, tmp)
        cli = scheduling._cli(hf_dir, args.limit, tmp)
        t1 = scheduling._platform(f"transformers 1w x {cores}t", hf, 1, cores, args.limit, tmp)
        t2 = scheduling._platform("transformers 2w x 1t", hf, 2, 1, args.limit, tmp)
        l2 = scheduling._platform("llama.cpp 2w x 1t", gguf, 2, 1, args.limit, tmp)
    tokens = _tokens_and_backend_times(hf_dir, tasks, args.limit)
    load_after = os.getloadavg()

    print(f"\nprefix-scoring benchmark: {args.model} FP32, suite {SUITE}, limit {args.limit or 'all'}, {cores} cores")
    print(
        f"load average (1/5/15 min) before: {' '.join(f'{x:.2f}' for x in load_before)}; "
        f"after: {' '.join(f'{x:.2f}' for x in load_after)} (other processes share this machine if above {cores})"
    )
    print(f"{'run':<36}{'wall s':>8}{'window s':>10}{'/ CLI':>8}   target")
    for run, target in ((cli, ""), (t1, "<= 0.5"), (t2, "<= 0.35"), (l2, "<= 0.2")):
        window = f"{run.window_s:.1f}" if run.window_s is not None else "-"
        print(f"{run.label:<36}{run.wall_s:>8.1f}{window:>10}{run.wall_s / cli.wall_s:>8.2f}   {target}")
    print(
        f"\n{'task (backend alone, ' + str(cores) + ' threads)':<36}{'requests':>9}{'tokens':>9}{'HFLM':>9}{'ratio':>7}"
        f"{'HFLM s':>8}{'ours s':>8}{'speed-up':>9}"
    )
    for name, n, computed, hflm, hflm_s, ours_s in tokens:
        print(
            f"{name:<36}{n:>9}{computed:>9}{hflm:>9}{computed / hflm:>7.2f}{hflm_s:>8.1f}{ours_s:>8.1f}{hflm_s / ours_s:>8.2f}x"
        )
    total = sum(r[2] for r in tokens), sum(r[3] for r in tokens)
    print(f"{'all tasks':<36}{sum(r[1] for r in tokens):>9}{total[0]:>9}{total[1]:>9}{total[0] / total[1]:>7.2f}")


if __name__ == "__main__":
    main()
