"""Engine benchmark: workers, platform overhead, cached reruns, backend throughput.

    .venv/bin/python -m benchmarks.engine_scaling [--model demo-trained] [--limit N]

Prints wall times measured in this one run (the machine is noisy, so compare
the ratios):
- the offline suite on one demo variant with 1 worker x all threads vs
  N workers x 1 thread each (same total threads);
- the same units through lm-eval's CLI directly (HF backend);
- the platform's fixed overhead (embedded Prefect start + local Ray start);
- a fully cached rerun, as a share of the cold run;
- log-likelihood requests/s of the llama.cpp and transformers backends on the
  same FP32 weights (GGUF F32 vs safetensors).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The lm-eval categories of the offline suite: the same units for the platform and the CLI.
CATEGORIES = ("reasoning", "coding", "math", "language")
sys.path.insert(0, str(ROOT))

from flows import settings  # noqa: E402

settings.apply_defaults()


def _timed(fn, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - started, value


def _single_variant_submission(model: str, folder: Path) -> Path:
    """The demo model's FP32 variant alone, so the comparison is one model's suite."""
    text = (ROOT / "models" / "submissions" / f"{model}.yaml").read_text()
    head, _, _ = text.partition("  quantizations:")
    path = folder / f"{model}-fp32.yaml"
    path.write_text(
        head + '  quantizations:\n    - name: "FP32"\n      format: "safetensors"\n'
        '  categories: ["reasoning", "coding", "math", "language"]\n'
    )
    return path


def _run(submission: Path, limit: int | None, workers: int, threads: int, cache: Path, out: Path) -> float:
    from flows.benchmark import benchmark_submission

    os.environ["SLMBENCH_CACHE_DIR"] = str(cache)
    elapsed, _ = _timed(
        benchmark_submission,
        submission_path=str(submission),
        suite="offline",
        limit=limit,
        workers=workers,
        threads_per_worker=threads,
        output_dir=str(out),
        warehouse=str(out / "warehouse"),
    )
    return elapsed


def _cli(hf_dir: Path, limit: int | None, out: Path) -> float:
    from evals.catalog.pack import build_pack
    from evals.catalog.suites import load_catalog
    from evals.site.reproduce import lm_eval_command

    catalog = load_catalog()
    tasks = [t for t in catalog.suite("offline").tasks if catalog.tasks[t].category in CATEGORIES]
    cmd = lm_eval_command(hf_dir, tasks, output_path=out, include_paths=[build_pack()], limit=limit or None)
    elapsed, _ = _timed(subprocess.run, cmd, check=True, capture_output=True, timeout=3600)
    return elapsed


def _overhead() -> tuple[float, float]:
    """Seconds to start the embedded Prefect API (a trivial flow) and a local Ray."""
    import ray
    from prefect import flow

    from evals.cluster.pool import ensure_ray

    @flow(name="noop")
    def noop() -> int:
        return 1

    prefect_s, _ = _timed(noop)
    if ray.is_initialized():
        ray.shutdown()
    ray_s, _ = _timed(ensure_ray)
    return prefect_s, ray_s


def _loglikelihood_throughput(model: str) -> dict[str, float]:
    """Requests/s of each backend on the same FP32 weights and the same requests."""
    from lm_eval.api.instance import Instance

    from evals.backends import load_backend
    from evals.backends.spec import BackendSpec
    from evals.models.fixtures import build_all

    demo = build_all()[model]
    requests = [
        Instance("loglikelihood", {}, (f"question {i}: what is {i} plus {i + 1}? answer:", f" {2 * i + 1}"), i)
        for i in range(200)
    ]
    rates = {}
    threads = os.cpu_count() or 1
    for name, spec in {
        "transformers FP32 (safetensors)": BackendSpec(
            backend="transformers", path=Path(demo.hf_dir), n_threads=threads
        ),
        "llama.cpp F32 (GGUF)": BackendSpec(backend="llamacpp", path=Path(demo.gguf["F32"]), n_threads=threads),
    }.items():
        if spec.backend == "transformers":
            import torch

            torch.set_num_threads(threads)
        lm = load_backend(spec)
        lm.loglikelihood(requests[:10])  # warm-up
        elapsed, _ = _timed(lm.loglikelihood, requests)
        rates[name] = len(requests) / elapsed
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo-trained")
    parser.add_argument("--limit", type=int, default=None, help="documents per task (default: all)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1

    from evals.models.fixtures import build_all

    hf_dir = Path(build_all()[args.model].hf_dir)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        submission = _single_variant_submission(args.model, tmp_path)
        prefect_s, ray_s = _overhead()
        one = _run(submission, args.limit, 1, cores, tmp_path / "cache-1", tmp_path / "run-1")
        many = _run(submission, args.limit, cores, 1, tmp_path / "cache-n", tmp_path / "run-n")
        cached = _run(submission, args.limit, cores, 1, tmp_path / "cache-n", tmp_path / "run-cached")
        cli = _cli(hf_dir, args.limit, tmp_path / "cli")
    rates = _loglikelihood_throughput(args.model)

    print(f"\nengine benchmark: {args.model} FP32, offline suite, limit {args.limit or 'all'}, {cores} cores")
    print(f"{'measure':<48} {'value':>10}")
    print(f"{'embedded Prefect start (trivial flow), s':<48} {prefect_s:>10.1f}")
    print(f"{'local Ray start, s':<48} {ray_s:>10.1f}")
    print(f"{'fixed platform overhead (Prefect + Ray), s':<48} {prefect_s + ray_s:>10.1f}")
    print(f"{f'1 worker x {cores} threads, cold, s':<48} {one:>10.1f}")
    print(f"{f'{cores} workers x 1 thread, cold, s':<48} {many:>10.1f}")
    print(f"{'speed-up of more workers (1w / Nw)':<48} {one / many:>10.2f}")
    print(f"{'fully cached rerun, s':<48} {cached:>10.1f}")
    print(f"{'cached rerun / cold run (Nw)':<48} {cached / many:>10.1%}")
    print(f"{'lm-eval CLI directly (HF), s':<48} {cli:>10.1f}")
    print(f"{'platform (best cold) / lm-eval CLI':<48} {min(one, many) / cli:>10.2f}")
    for name, rate in rates.items():
        print(f"{'loglikelihood req/s, ' + name:<48} {rate:>10.1f}")
    names = list(rates)
    print(f"{'llama.cpp / transformers throughput':<48} {rates[names[1]] / rates[names[0]]:>10.2f}")


if __name__ == "__main__":
    main()
