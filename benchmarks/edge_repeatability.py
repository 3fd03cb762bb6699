"""Edge measurement repeatability: ``python -m benchmarks.edge_repeatability``.

Runs the edge measurement (512-token prompt, 128 generated tokens, warm-up +
5 repetitions) 3 times on stories260K and on the trained demo model, on both
backends, and prints each metric's coefficient of variation across the 3 runs
(aim: under 5% for the throughputs), and for llama.cpp how far our rates lie
below llama.cpp's own counters for the same calls (aim: within 5%). Each run
loads its model afresh, as an
edge unit on a new actor would. Threads: ``--threads`` (default 1, so that a
shared 2-core machine does not oversubscribe).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from evals import paths
from evals.backends import BackendSpec, load_backend
from evals.edge.measurement import coefficient_of_variation, hardware_profile, measure_edge


def models() -> dict[str, dict[str, Path]]:
    from evals.models.fixtures import TRAINED, build_all

    demo = build_all()[TRAINED]
    stories = paths.shared_models_dir() / "stories260K.gguf"
    return {
        "stories260K": {"llamacpp": stories, "transformers": stories},
        TRAINED: {
            "llamacpp": demo.gguf["F32"] if "F32" in demo.gguf else next(iter(demo.gguf.values())),
            "transformers": demo.hf_dir,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(f"profile: {hardware_profile('cpu', args.threads).name}")
    print(f"{'model':<16}{'backend':<14}{'metric':<22}{'mean':>12}{'CV %':>8}")
    for model, by_backend in models().items():
        for backend, path in by_backend.items():
            means: dict[str, list[float]] = {}
            gaps: dict[str, list[float]] = {}
            for _ in range(args.runs):
                lm = load_backend(BackendSpec(backend=backend, path=path, n_threads=args.threads))
                measurement = measure_edge(lm)
                for metric, (mean, _sd, _n) in measurement.summary().items():
                    means.setdefault(metric, []).append(mean)
                for metric, theirs in measurement.counters.items():
                    ours = measurement.samples[metric]
                    gaps.setdefault(metric, []).extend(100 * (1 - a / b) for a, b in zip(ours, theirs, strict=True))
                if hasattr(lm, "close"):
                    lm.close()
                del lm
            for metric, values in means.items():
                cv = coefficient_of_variation(values)
                print(f"{model:<16}{backend:<14}{metric:<22}{statistics.fmean(values):>12.4g}{cv:>8.2f}")
            for metric, values in gaps.items():
                print(
                    f"{model:<16}{backend:<14}{metric:<22} below llama.cpp's counters by "
                    f"{min(values):.2f}-{max(values):.2f}% (median {statistics.median(values):.2f}%)"
                )


if __name__ == "__main__":
    main()
