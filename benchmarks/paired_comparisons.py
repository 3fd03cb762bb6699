"""All pairwise paired comparisons of 1,000 variants over a full-suite-sized item set.

    python -m benchmarks.paired_comparisons [--variants 1000] [--threads 2]

Setup (not timed): per task of the ``full`` suite, at its real document count
(98,863 items in all), a (variants x items) matrix of per-item results that are
correlated between variants as models' are, 0/1 except TruthfulQA-MC2's
probabilities, with BoolQ, HellaSwag and BBQ items in clusters
(``benchmarks.synthetic.correlated_items``). Timed, as publishing runs them
(``evals.scoring``): every row's clustered aggregate error and every pair's
paired aggregate error (``evals.paired.paired_board``: one matrix product per
task), then the rank ranges (``evals.comparisons.rank_ranges``: z-tests and
Holm's step-down over each row's 999 comparisons); and, as the site computes
them, every pair's per-task difference, error and exact McNemar p-value.
Aim: the publish-time part under 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads (the machine's 2 cores)")
    args = parser.parse_args()
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)

    import numpy as np
    import polars as pl

    from benchmarks.synthetic import FULL_SUITE_DOCUMENTS, correlated_items
    from evals.comparisons import rank_ranges
    from evals.paired import paired_board
    from evals.site.pairs import _task_pairs

    began = time.perf_counter()
    matrices = correlated_items(args.variants)
    setup = time.perf_counter() - began
    keys = list(matrices[0].variants)
    # every task in one category each, equal weights: the coefficients only scale the products
    coefficients = pl.DataFrame(
        {
            "run_id": [k[0] for k in keys for _ in matrices],
            "variant_id": [k[1] for k in keys for _ in matrices],
            "task": [m.task for _ in keys for m in matrices],
            "coefficient": [100.0 / len(matrices)] * (len(keys) * len(matrices)),
        }
    )
    stderrs = coefficients.select("run_id", "variant_id", "task", pl.lit(None, dtype=pl.Float64).alias("stderr"))
    aggregate = sum(m.values.mean(axis=1) for m in matrices) * 100.0 / len(matrices)

    began = time.perf_counter()
    board = paired_board(keys, coefficients, stderrs, matrices)
    errors = time.perf_counter() - began
    began = time.perf_counter()
    low, high, reject = rank_ranges(aggregate, board.difference_se)
    ranks = time.perf_counter() - began
    began = time.perf_counter()
    significant_tasks = 0
    for m in matrices:
        stats = _task_pairs(m)
        significant_tasks += int((stats["p"] < 0.05).sum())
    per_task = time.perf_counter() - began

    items = sum(FULL_SUITE_DOCUMENTS.values())
    pairs = args.variants * (args.variants - 1) // 2
    print(
        f"{args.variants:,} variants, {len(matrices)} tasks, {items:,} items, {pairs:,} pairs, {args.threads} BLAS threads"
    )
    print(f"setup (synthetic matrices, not timed): {setup:.1f} s")
    print(f"all-pairs aggregate errors (paired_board): {errors:.2f} s")
    print(f"rank ranges (z-tests + Holm over {args.variants - 1} comparisons per row): {ranks:.2f} s")
    print(f"publish-time total: {errors + ranks:.2f} s (aim: under 30 s)")
    print(f"per-task pairs for the site (differences, errors, exact McNemar): {per_task:.2f} s")
    print(
        f"significant pairs after Holm: {int(reject.sum()) // 2:,} of {pairs:,}; per-task p < 0.05: {significant_tasks // 2:,}"
    )
    print(f"median rank range width: {float(np.median(high - low + 1)):.0f} ranks")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
