"""Paired comparisons as the compare page, the Items panel and the methodology page show them.

``evals.scoring`` rules 6-9 define them; here they are computed for the
snapshot's board rows and written as one small JSON file per row,
``assets/slmb/pairs/<rank>.json``: that row against each other row within
:data:`WINDOW` ranks (every row, on boards of up to ``2 * WINDOW + 1`` rows),
and against every row of the same model::

    {"rank": 3, "pairs": {"<other rank>": {"aggregate": [d, lo, hi, p],
                                           "tasks": {"<task>": [d, lo, hi, p, only_a, only_b, n, test]}}}}

Differences are in points (row minus other); ``test`` is ``"mcnemar"`` or
``"z"``. The compare page fetches the first chosen row's file only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from evals.comparisons import (
    Z95,
    mcnemar_exact,
    mean_correlation,
    mean_covariances,
    minimum_detectable_difference,
    z_test,
)
from evals.paired import ItemMatrix
from evals.scoring import ScoringSpec, board_pairs, edge_scores, reference_profile, task_scores
from evals.site.snapshot import Snapshot

WINDOW = 100  # ranks either side a row's file covers


@dataclass
class BoardPairs:
    """What the pair files, the Items panel and the methodology page need from one computation."""

    ranks: dict[tuple[str, str], int]  # (run_id, variant_id) -> rank
    files: dict[int, dict] = field(default_factory=dict)  # rank -> the file's body
    detectable: dict[str, tuple[int, float | None, float]] = field(default_factory=dict)  # task -> (n, rho, mdd)
    # (run_id, variant_id, task) -> the task score's clustered standard error from its items (rule 6)
    task_se: dict[tuple[str, str, str], float] = field(default_factory=dict)
    matrices: list[ItemMatrix] = field(default_factory=list)


def _task_pairs(m: ItemMatrix) -> dict[str, np.ndarray]:
    """Every pair of one item matrix at once: differences, errors, p-values and discordant counts (rows x rows)."""
    x = m.values
    means = x.mean(axis=1)
    cov = np.nan_to_num(mean_covariances(x, m.codes), nan=0.0)
    var = np.diag(cov)
    diff = means[:, None] - means[None, :]
    se = np.sqrt(np.clip(var[:, None] + var[None, :] - 2 * cov, 0.0, None))
    if m.binary:
        both = x @ x.T  # right for both; only A = A's right items minus those
        right = x.sum(axis=1)
        only_a = right[:, None] - both
        only_b = only_a.T
    else:
        only_a = only_b = np.full(diff.shape, np.nan)
    if m.binary and m.n_clusters == x.shape[1]:
        p, test = np.asarray(mcnemar_exact(only_a.astype(np.int64), only_b.astype(np.int64))), "mcnemar"
    else:
        p, test = np.asarray(z_test(diff, se)), "z"
    return {"diff": diff, "se": se, "p": p, "only_a": only_a, "only_b": only_b, "test": np.array(test), "var": var}


def _num(value: float, digits: int = 4) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def board_pairs_view(snapshot: Snapshot, spec: ScoringSpec) -> BoardPairs:
    """The pair files' bodies and each task's minimum detectable difference, for the snapshot's board."""
    board = snapshot.leaderboard.sort("rank")
    keys = list(board.select("run_id", "variant_id").iter_rows())
    out = BoardPairs(ranks={k: int(r) for k, r in zip(keys, board["rank"].to_list(), strict=True)})
    if board.is_empty():
        return out
    tasks = task_scores(snapshot.scores, spec, snapshot.runs)
    edge = snapshot.edge
    scored = edge_scores(edge.filter(pl.col("hardware_profile") == reference_profile(edge)), spec) if not edge.is_empty() else edge
    # the edge category's variance enters independently: what the stored error holds beyond the tasks'
    rows = board.select("run_id", "variant_id", "aggregate_se").with_columns(pl.lit(0.0).alias("_edge_variance"))
    paired, matrices = board_pairs(rows, tasks, scored, spec, snapshot.items, snapshot.runs)
    stored = board["aggregate_se"].fill_null(0.0).to_numpy()
    extra = np.clip(stored**2 - paired.se**2, 0.0, None)
    diff_var = paired.difference_se**2 + extra[:, None] + extra[None, :]
    np.fill_diagonal(diff_var, 0.0)
    agg_se = np.sqrt(diff_var)
    aggregate = board["aggregate"].to_numpy()
    agg_diff = aggregate[:, None] - aggregate[None, :]
    agg_p = np.asarray(z_test(agg_diff, agg_se))
    out.matrices = matrices

    models = board["model_name"].to_list()
    ranks = [out.ranks[k] for k in keys]
    index = {k: i for i, k in enumerate(keys)}
    per_task: dict[tuple[int, int], dict[str, list]] = {}
    for m in matrices:
        rows_idx = [index.get(k) for k in m.variants]
        stats = _task_pairs(m)
        for (run_id, variant_id), var in zip(m.variants, stats["var"], strict=True):
            out.task_se[(run_id, variant_id, m.task)] = float(np.sqrt(max(var, 0.0)))
        test = str(stats["test"])
        for a, ia in enumerate(rows_idx):
            if ia is None:
                continue
            for b, ib in enumerate(rows_idx):
                if ib is None or ia == ib or not _near(ia, ib, models):
                    continue
                d, se = stats["diff"][a, b], stats["se"][a, b]
                per_task.setdefault((ia, ib), {})[m.task] = [
                    _num(100 * d, 3),
                    _num(100 * (d - Z95 * se), 3),
                    _num(100 * (d + Z95 * se), 3),
                    _num(stats["p"][a, b], 6),
                    None if np.isnan(stats["only_a"][a, b]) else int(stats["only_a"][a, b]),
                    None if np.isnan(stats["only_b"][a, b]) else int(stats["only_b"][a, b]),
                    int(m.values.shape[1]),
                    test,
                ]
    positions = np.arange(len(keys))
    model_codes = np.unique(np.asarray(models, dtype=object), return_inverse=True)[1]
    # rounded once, as whole matrices: the files are written from plain lists
    columns = [np.round(agg_diff, 3), np.round(agg_diff - Z95 * agg_se, 3), np.round(agg_diff + Z95 * agg_se, 3)]
    columns.append(np.round(agg_p, 6))
    names = [str(r) for r in ranks]
    for i in range(len(keys)):
        near = (np.abs(positions - i) <= WINDOW) | (model_codes == model_codes[i])
        near[i] = False
        js = np.flatnonzero(near)
        values = zip(*(c[i, js].tolist() for c in columns), strict=True)
        pairs = {
            names[j]: {"aggregate": list(v), "tasks": per_task.get((i, int(j)), {})}
            for j, v in zip(js.tolist(), values, strict=True)
        }
        out.files[ranks[i]] = {"rank": ranks[i], "pairs": pairs}
    out.detectable = detectable_differences(matrices, tasks, dict(zip(keys, models, strict=True)))
    return out


def _near(i: int, j: int, models: list[str]) -> bool:
    return abs(i - j) <= WINDOW or models[i] == models[j]


def detectable_differences(
    matrices: list[ItemMatrix], tasks: pl.DataFrame, models: dict[tuple[str, str], str] | None = None
) -> dict[str, tuple[int, float | None, float]]:
    """Per task: (items, average correlation between models, minimum detectable difference in points).

    The largest item matrix of a task gives both, the correlation over pairs of variants of different
    models (``models``: each row's model name); a task with no kept items, or no such pair, is taken as
    uncorrelated (0, the widest figure), from its score rows' document count when no items were kept.
    """
    out: dict[str, tuple[int, float | None, float]] = {}
    models = models or {}
    for m in sorted(matrices, key=lambda m: (m.task, -m.values.shape[0], -m.values.shape[1])):
        if m.task in out:
            continue
        rho = mean_correlation(m.values, [models.get(k, k) for k in m.variants])
        n = m.n_clusters  # clustered items count once per cluster (a conservative effective size)
        out[m.task] = (int(m.values.shape[1]), rho, 100 * minimum_detectable_difference(n, rho or 0.0))
    for task, n in tasks.group_by("task").agg(pl.col("n_samples").max()).iter_rows():
        if task not in out and n:
            out[task] = (int(n), None, 100 * minimum_detectable_difference(int(n), 0.0))
    return out


def write_pair_files(pairs: BoardPairs, folder: Path) -> None:
    """``<folder>/<rank>.json`` for every row."""
    folder.mkdir(parents=True, exist_ok=True)
    for rank, body in pairs.files.items():
        text = json.dumps(body, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
        (folder / f"{rank}.json").write_text(text, encoding="utf-8")
