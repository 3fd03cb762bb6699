"""Scoring: from published scores, edge rows and items to the leaderboard.

The methodology, exactly as computed here:

1. **Task score.** Each task counts through its primary metric and filter,
   a value in [0, 1], as the run that measured it defined the task (its
   category, metric, filter and random baseline, recorded in the run's rows:
   ``catalog.yaml`` for built-in tasks, the user's suite file for their own;
   runs recorded before definitions were use ``catalog.yaml``). A task group that planning
   split into subtasks (mmlu) counts once, aggregated the way lm-eval
   aggregates groups: the mean of its subtasks weighted by their sizes, with
   the pooled standard error (``lm_eval.api.metrics``).
2. **Category score** = mean of the category's task scores x 100.
3. **Edge score.** Each scored edge metric scores 0-100 on a log scale between
   fixed reference bounds (``edge/reference.yaml``); the edge category score is
   the mean of the measured scored metrics. Fixed bounds mean a model's score never moves
   when other models are added. Only figures measured on the reference hardware
   profile (the one most variants were measured on) are scored: figures from
   different profiles are shown with their profile but never ranked against each
   other; a variant measured elsewhere has no edge score (a partial row).
4. **Aggregate** = sum of category score x category weight (30/20/15/15/10/10).
   When categories are missing it is renormalized over the weights that were
   measured; the row carries ``coverage`` (measured weight / total weight)
   and ``partial``. The default ranking puts full-coverage rows first.
5. **Baseline-normalized scores:** each task score becomes
   ``max(0, (score - baseline) / (1 - baseline))`` with the task's random
   baseline from the catalog, so 0 means no better than guessing and 100 a
   perfect score; the normalized category score is their mean x 100 and the
   normalized aggregate weighs those as in 4 (edge scores have no baseline and
   count unchanged). A task with a high baseline (a yes/no task: 0.5) then
   weighs as much as one where guessing scores near 0. The leaderboard's
   raw / baseline-normalized switch shows one set or the other.
6. **Standard errors from the items, clustered.** A task's error is that of
   the mean of its per-item values (``samples.value``; a split group's items
   pooled), cluster-robust where the catalog names a ``cluster`` field (items
   about one passage or source; Miller 2024, "Adding error bars to evals",
   eq. 4): ``Var = G / (G - 1) / n^2 sum_g (sum_{i in g} (x_i - mean))^2``
   over the G clusters, which is the textbook ``s^2 / n`` when every item
   stands alone. Without kept items a task uses lm-eval's stderr. The
   aggregate moves by ``c_t = 100 w_c / (W n_c)`` per unit of task t (its
   category's weight over the measured weight, shared by the category's n_c
   tasks), so its error is ``sqrt(sum_t c_t^2 Var_t + edge)``, with edge
   standard errors from the sample sd by the delta method (a missing stderr
   counts as 0), and the 95% interval is ``aggregate +- 1.96 se``.
7. **Paired differences.** Two variants that answered the same items of a
   task (the same documents of its scored filter) are compared item by item:
   ``Var(a - b) = Var(a) + Var(b) - 2 Cov(a, b)``, each term clustered as in 6.
   Per task: the mean difference, its 95% interval, and a p-value, exact
   McNemar (a binomial test on the items only one of them got right) for
   0/1 items without clusters, a z-test on the clustered paired error
   otherwise (continuous values such as mc2; the paired cluster bootstrap is
   its check). The aggregate difference is ``sum_t (c_at s_at - c_bt s_bt)``:
   its variance adds each task's paired variance (independent ones where the
   two did not share items, and the edge category's), with a z-test.
   ``evals.comparisons`` computes every pair at once: one matrix product per
   task over the (variants x clusters) matrix of centred cluster sums.
8. **Rank ranges.** Each row's comparisons with the N - 1 other rows of its
   coverage group (full rows, then partial rows) are one family, tested at 5%
   with Holm's step-down: ``rank_lo = 1 +`` the rows significantly better,
   ``rank_hi = N -`` the rows significantly worse (partial rows offset by the
   full rows above them); the board shows "3 (2-5)". ``rank_band`` (1 + rows
   ranked above whose interval lies wholly above this row's) is still written
   for one release and then removed.
9. **Minimum detectable difference.** A task with n items tells apart, at 80%
   power and 5% significance, true differences of
   ``(1.96 + 0.84) sqrt(2 sd^2 (1 - rho) / n)`` or more, with ``sd = 0.5``
   (a 0/1 item's largest) and ``rho`` the average correlation of per-item
   values between the models measured on it (Miller §5; variants of one
   model are not paired with each other), and never below ``2.8 / n``, the
   gap one item makes.
10. **Complete runs only.** A run with ``--limit`` scored the first documents of
    each task: a smoke test, not comparable with complete runs. Publishing
    refuses it unless asked on purpose (``--allow-limited``); such a row carries
    its ``limit``, ranks after the complete rows of its coverage group, and
    never replaces a complete run of the same variant (:func:`latest_runs`).

Pure polars and python: no Prefect, no I/O besides reading the reference YAML.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from contracts.tables import EDGE_UNITS, leaderboard
from evals.catalog.definitions import definitions_frame
from evals.catalog.suites import EDGE_CATEGORY, Catalog, load_catalog
from evals.comparisons import Z95, rank_ranges
from evals.paired import ItemMatrix, PairedBoard, item_matrices, paired_board, scored_items, task_coefficients

EDGE_REFERENCE_PATH = Path(__file__).parent / "edge" / "reference.yaml"
_RUN_VARIANT = ["run_id", "variant_id"]


class ScoringError(ValueError):
    """The scoring reference data is inconsistent."""


@dataclass(frozen=True)
class TaskRule:
    """How one catalog task enters its category."""

    category: str
    metric: str
    filter: str
    baseline: float


@dataclass(frozen=True)
class EdgeBound:
    """Fixed log-scale bounds of one edge metric: ``best`` scores 100, ``worst`` 0."""

    unit: str
    best: float
    worst: float

    def score(self, value: float) -> float:
        """The metric's 0-100 score (see ``edge/reference.yaml``)."""
        return 100.0 * min(1.0, max(0.0, math.log(value / self.worst) / math.log(self.best / self.worst)))


@dataclass(frozen=True)
class ScoringSpec:
    """Everything scoring reads: weights, task rules and edge bounds."""

    weights: Mapping[str, float]
    tasks: Mapping[str, TaskRule]
    edge: Mapping[str, EdgeBound]

    @classmethod
    def from_catalog(cls, catalog: Catalog, edge: Mapping[str, EdgeBound] | None = None) -> ScoringSpec:
        return cls(
            weights={name: c.weight for name, c in catalog.categories.items()},
            tasks={name: TaskRule(t.category, t.metric, t.filter, t.baseline) for name, t in catalog.tasks.items()},
            edge=load_edge_reference() if edge is None else edge,
        )

    @property
    def categories(self) -> list[str]:
        return list(self.weights)


def load_edge_reference(path: Path = EDGE_REFERENCE_PATH) -> dict[str, EdgeBound]:
    """The edge bounds, checked against the edge metrics of the contract."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict):
        raise ScoringError(f"{path}: expected a 'metrics' mapping")
    bounds: dict[str, EdgeBound] = {}
    listed: set[str] = set()
    for name, entry in metrics.items():
        if name not in EDGE_UNITS:
            raise ScoringError(f"{path}: unknown edge metric {name!r}; the contract has {', '.join(EDGE_UNITS)}")
        listed.add(name)
        bound = EdgeBound(unit=str(entry["unit"]), best=float(entry["best"]), worst=float(entry["worst"]))
        if bound.unit != EDGE_UNITS[name]:
            raise ScoringError(f"{path}: {name} is measured in {EDGE_UNITS[name]}, not {bound.unit}")
        if bound.best <= 0 or bound.worst <= 0 or bound.best == bound.worst:
            raise ScoringError(f"{path}: {name}: best and worst must be positive and different")
        # scored: false -> stored and shown, but not part of the edge score (it restates another metric)
        if entry.get("scored", True):
            bounds[name] = bound
    missing = set(EDGE_UNITS) - listed
    if missing:
        raise ScoringError(f"{path}: no bounds for edge metric(s) {sorted(missing)}")
    return bounds


@cache
def default_spec() -> ScoringSpec:
    """The spec of the built-in catalog and edge reference."""
    return ScoringSpec.from_catalog(load_catalog())


@dataclass(frozen=True)
class Aggregate:
    value: float
    coverage: float
    partial: bool


def aggregate(category_scores: Mapping[str, float | None], weights: Mapping[str, float]) -> Aggregate:
    """Weighted sum of category scores, renormalized over the measured weights.

    The methodology's worked example in code form; ``build_leaderboard`` does
    the same over whole frames.
    """
    measured = {c: s for c, s in category_scores.items() if s is not None}
    unknown = set(measured) - set(weights)
    if unknown:
        raise ScoringError(f"unknown categories {sorted(unknown)}; categories: {', '.join(weights)}")
    if not measured:
        raise ScoringError("no category was measured")
    measured_weight = math.fsum(weights[c] for c in measured)
    total_weight = math.fsum(weights.values())
    value = math.fsum(weights[c] * s for c, s in measured.items()) / measured_weight
    coverage = measured_weight / total_weight
    return Aggregate(value=value, coverage=coverage, partial=coverage < 1.0 - 1e-9)


def task_rules(spec: ScoringSpec, runs: pl.DataFrame | None = None) -> pl.DataFrame:
    """How each task of each run is scored: run_id, task, metric, filter, rule_category, baseline.

    A run's own task definitions (``runs.task_definitions``); the spec's rules for
    runs recorded without them, or for every run when ``runs`` is not given.
    """
    catalog = pl.DataFrame(
        {
            "task": list(spec.tasks),
            "metric": [r.metric for r in spec.tasks.values()],
            "filter": [r.filter for r in spec.tasks.values()],
            "rule_category": [r.category for r in spec.tasks.values()],
            "baseline": [r.baseline for r in spec.tasks.values()],
        },
        schema={
            "task": pl.String,
            "metric": pl.String,
            "filter": pl.String,
            "rule_category": pl.String,
            "baseline": pl.Float64,
        },
    )
    if runs is None:
        return catalog
    recorded = definitions_frame(runs).select(
        "run_id", "task", "metric", "filter", pl.col("category").alias("rule_category"), "baseline"
    )
    legacy = runs.select("run_id").unique().join(recorded.select("run_id").unique(), on="run_id", how="anti")
    return pl.concat([recorded, legacy.join(catalog, how="cross")], how="vertical_relaxed")


def task_scores(scores: pl.DataFrame, spec: ScoringSpec, runs: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per run, variant and task: the primary metric in [0, 1].

    Columns: run_id, variant_id, task, category, metric, value, stderr, n_samples, baseline.
    Each task is scored by its run's own definition (:func:`task_rules`; the
    spec's rules when ``runs`` is not given). Groups (several subtasks) are
    aggregated with lm-eval's own helpers.
    """
    rules = task_rules(spec, runs)
    on = ["task", "metric", "filter"] if runs is None else ["run_id", "task", "metric", "filter"]
    primary = scores.join(rules, on=on, how="inner")
    keys = [*_RUN_VARIANT, "task"]
    grouped = primary.group_by(keys).agg(
        pl.col("rule_category").first().alias("category"),
        pl.col("metric").first(),
        pl.col("baseline").first(),
        pl.col("value"),
        pl.col("stderr"),
        pl.col("n_samples"),
        pl.len().alias("parts"),
    )
    single = grouped.filter(pl.col("parts") == 1).select(
        *keys,
        "category",
        "metric",
        pl.col("value").list.first(),
        pl.col("stderr").list.first(),
        pl.col("n_samples").list.first(),
        "baseline",
    )
    groups = _aggregate_groups(grouped.filter(pl.col("parts") > 1), keys)
    return pl.concat([single, groups], how="vertical_relaxed").sort(keys)


def _aggregate_groups(groups: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Size-weighted mean and pooled stderr of each group, via lm_eval.api.metrics."""
    schema = {
        **{k: pl.Utf8 for k in keys},
        "category": pl.Utf8,
        "metric": pl.Utf8,
        "value": pl.Float64,
        "stderr": pl.Float64,
        "n_samples": pl.Int64,
        "baseline": pl.Float64,
    }
    if groups.is_empty():
        return pl.DataFrame(schema=schema)
    # Imported here: only groups need it, and lm_eval's import is not free.
    from lm_eval.api.metrics import aggregate_subtask_metrics, pooled_sample_stderr

    rows = []
    for row in groups.iter_rows(named=True):
        sizes = row["n_samples"]
        stderrs = row["stderr"]
        # lm-eval reports a group's stderr as N/A when any subtask's is.
        stderr = None if any(s is None for s in stderrs) else float(pooled_sample_stderr(stderrs, sizes))
        rows.append(
            {
                **{k: row[k] for k in keys},
                "category": row["category"],
                "metric": row["metric"],
                "value": float(aggregate_subtask_metrics(row["value"], sizes, weight_by_size=True)),
                "stderr": stderr,
                "n_samples": sum(sizes),
                "baseline": row["baseline"],
            }
        )
    return pl.DataFrame(rows, schema=schema)


def edge_scores(edge: pl.DataFrame, spec: ScoringSpec) -> pl.DataFrame:
    """One row per run, variant and edge metric: score 0-100 and its standard error."""
    bounds = pl.DataFrame(
        {
            "metric": list(spec.edge),
            "best": [b.best for b in spec.edge.values()],
            "worst": [b.worst for b in spec.edge.values()],
        }
    )
    span = (pl.col("best") / pl.col("worst")).log()
    raw = (pl.col("mean") / pl.col("worst")).log() / span
    inside = (raw > 0) & (raw < 1)
    # Delta method: d score / d x = 100 / (x ln(best/worst)); clipped ends do not move.
    se = 100.0 * (pl.col("sd").fill_null(0.0) / pl.col("repetitions").sqrt()) / (pl.col("mean") * span.abs())
    return edge.join(bounds, on="metric", how="inner").select(
        *_RUN_VARIANT,
        "metric",
        "mean",
        (100.0 * raw.clip(0.0, 1.0)).alias("score"),
        pl.when(inside).then(se).otherwise(0.0).alias("score_se"),
    )


def category_scores(tasks: pl.DataFrame, edge: pl.DataFrame, spec: ScoringSpec) -> pl.DataFrame:
    """Long frame: run_id, variant_id, category, score, score_normalized, variance (all 0-100 scale)."""
    normalized = ((pl.col("value") - pl.col("baseline")) / (1.0 - pl.col("baseline"))).clip(lower_bound=0.0)
    from_tasks = tasks.group_by([*_RUN_VARIANT, "category"]).agg(
        (100.0 * pl.col("value").mean()).alias("score"),
        (100.0 * normalized.mean()).alias("score_normalized"),
        ((100.0 / pl.len()) ** 2 * (pl.col("stderr").fill_null(0.0) ** 2).sum()).alias("variance"),
    )
    from_edge = edge.group_by(_RUN_VARIANT).agg(
        pl.lit(EDGE_CATEGORY).alias("category"),
        pl.col("score").mean().alias("score"),
        pl.col("score").mean().alias("score_normalized"),
        ((pl.col("score_se") ** 2).sum() / pl.len() ** 2).alias("variance"),
    )
    if EDGE_CATEGORY not in spec.weights:
        from_edge = from_edge.clear()
    # An edge task in the catalog would double-count: the edge rows are the edge category.
    from_tasks = from_tasks.filter(pl.col("category") != EDGE_CATEGORY)
    return pl.concat([from_tasks, from_edge], how="vertical_relaxed")


def reference_profile(edge: pl.DataFrame) -> str | None:
    """The hardware profile whose edge figures are scored: the one most variants were measured on
    (ties: the first by name). Figures from other profiles are shown, never scored or ranked."""
    if edge.is_empty():
        return None
    counts = edge.group_by("hardware_profile").agg(pl.struct(_RUN_VARIANT).n_unique().alias("n"))
    return counts.sort(["n", "hardware_profile"], descending=[True, False])["hardware_profile"][0]


def latest_runs(runs: pl.DataFrame) -> pl.DataFrame:
    """The latest published run of each model variant: a complete run before any limited one, then by finish
    time and run id. A smoke test (``runs.limit`` set) is published only on purpose, and never replaces a
    complete run's row (rule 10)."""
    return (
        runs.filter(pl.col("status") == "published")
        .sort([pl.col("limit").is_null(), pl.col("finished_at"), pl.col("run_id")])
        .group_by(["model_name", "variant_id"], maintain_order=True)
        .last()
    )


def build_leaderboard(
    runs: pl.DataFrame,
    scores: pl.DataFrame,
    edge: pl.DataFrame,
    spec: ScoringSpec,
    data_version: int,
    samples: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The leaderboard from published runs, scores, edge and sample rows (the ``leaderboard`` contract).

    ``samples`` (the items behind the scores) give the clustered, paired errors of rules 6-8; without
    them every task's error is lm-eval's stderr and no two rows are paired.
    A variant with nothing measured has no row: it cannot be ranked.
    """
    table = leaderboard(spec.categories)
    # A run from before runs.chat_template existed applied no template.
    chat = pl.col("chat_template").fill_null(False)
    current = latest_runs(runs).select(
        *_RUN_VARIANT, "model_name", "backend", "precision", chat, "parameters", "test_model", "limit"
    )
    scores = scores.join(current.select(_RUN_VARIANT), on=_RUN_VARIANT, how="semi")
    edge = edge.join(current.select(_RUN_VARIANT), on=_RUN_VARIANT, how="semi")
    scored_edge = edge.filter(pl.col("hardware_profile") == reference_profile(edge)) if not edge.is_empty() else edge
    tasks = task_scores(scores, spec, runs)
    scored = edge_scores(scored_edge, spec)
    cats = category_scores(tasks, scored, spec)

    weights = pl.DataFrame({"category": spec.categories, "weight": list(spec.weights.values())})
    total_weight = math.fsum(spec.weights.values())
    measured = pl.col("weight").sum()
    totals = (
        cats.join(weights, on="category", how="inner")
        .group_by(_RUN_VARIANT)
        .agg(
            ((pl.col("weight") * pl.col("score")).sum() / measured).alias("aggregate"),
            ((pl.col("weight") * pl.col("score_normalized")).sum() / measured).alias("aggregate_normalized"),
            ((pl.col("weight") ** 2 * pl.col("variance")).sum() / measured**2).sqrt().alias("aggregate_se"),
            (
                (pl.col("weight") ** 2 * pl.col("variance")).filter(pl.col("category") == EDGE_CATEGORY).sum()
                / measured**2
            ).alias("_edge_variance"),
            (measured / total_weight).clip(upper_bound=1.0).alias("coverage"),
        )
        .with_columns(
            (pl.col("coverage") < 1.0 - 1e-9).alias("partial"),
            (pl.col("aggregate") - Z95 * pl.col("aggregate_se")).clip(0.0, 100.0).alias("aggregate_ci_low"),
            (pl.col("aggregate") + Z95 * pl.col("aggregate_se")).clip(0.0, 100.0).alias("aggregate_ci_high"),
        )
    )
    wide = cats.pivot(on="category", index=_RUN_VARIANT, values="score")
    wide = wide.rename({c: f"score_{c}" for c in spec.categories if c in wide.columns})
    normalized = cats.pivot(on="category", index=_RUN_VARIANT, values="score_normalized")
    normalized = normalized.rename({c: f"normalized_{c}" for c in spec.categories if c in normalized.columns})
    edge_wide = edge.pivot(on="metric", index=_RUN_VARIANT, values="mean") if not edge.is_empty() else None

    rows = current.join(totals, on=_RUN_VARIANT, how="inner").join(wide, on=_RUN_VARIANT, how="left")
    rows = rows.join(normalized, on=_RUN_VARIANT, how="left")
    if edge_wide is not None:
        rows = rows.join(edge_wide, on=_RUN_VARIANT, how="left")
    derived = ("rank", "rank_band", "rank_lo", "rank_hi", "data_version")
    missing = [c for c in table.names if c not in rows.columns and c not in derived]
    rows = rows.with_columns([pl.lit(None, dtype=table.schema[c]).alias(c) for c in missing])
    limited = pl.col("limit").is_not_null()
    rows = rows.sort(
        [pl.col("partial"), limited, pl.col("aggregate"), pl.col("model_name"), pl.col("variant_id")],
        descending=[False, False, True, False, False],
    ).with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("rank"),
        pl.lit(data_version, dtype=pl.Int64).alias("data_version"),
    )
    rows = _paired_ranks(rows, tasks, scored, spec, samples if samples is not None else pl.DataFrame(), runs)
    rows = rows.with_columns(pl.Series("rank_band", _rank_bands(rows), dtype=pl.Int64))
    return table.conform(rows.select(table.names))


def board_pairs(
    rows: pl.DataFrame,
    tasks: pl.DataFrame,
    edge: pl.DataFrame,
    spec: ScoringSpec,
    samples: pl.DataFrame,
    runs: pl.DataFrame | None = None,
) -> tuple[PairedBoard, list[ItemMatrix]]:
    """Rules 6-7 for ``rows`` (run_id, variant_id, ``_edge_variance``), in their order: the paired board and
    the item matrices it came from. ``tasks``: :func:`task_scores`; ``edge``: :func:`edge_scores` of the
    scored profile."""
    keys = list(rows.select(_RUN_VARIANT).iter_rows())
    wanted = rows.select(_RUN_VARIANT)
    items = (
        scored_items(samples.join(wanted, on=_RUN_VARIANT, how="semi"), task_rules(spec, runs))
        if not samples.is_empty()
        else pl.DataFrame()
    )
    matrices = item_matrices(items)
    quality = tasks.filter(pl.col("category") != EDGE_CATEGORY).join(wanted, on=_RUN_VARIANT, how="semi")
    edge_rows = edge.select(_RUN_VARIANT) if EDGE_CATEGORY in spec.weights else edge.select(_RUN_VARIANT).clear()
    coefficients = task_coefficients(quality, spec.weights, edge_rows)
    extra = rows["_edge_variance"].fill_null(0.0).to_numpy() if "_edge_variance" in rows.columns else None
    return paired_board(keys, coefficients, quality, matrices, extra), matrices


def _paired_ranks(
    rows: pl.DataFrame,
    tasks: pl.DataFrame,
    edge: pl.DataFrame,
    spec: ScoringSpec,
    samples: pl.DataFrame,
    runs: pl.DataFrame | None,
) -> pl.DataFrame:
    """Rows (in rank order) with the clustered ``aggregate_se`` and interval (rule 6) and ``rank_lo``,
    ``rank_hi`` from the paired tests (rule 8), ranked within their coverage group."""
    board, _ = board_pairs(rows, tasks, edge, spec, samples, runs)
    aggregate = rows["aggregate"].to_numpy()
    partial = rows["partial"].to_numpy()
    low = np.zeros(rows.height, dtype=np.int64)
    high = np.zeros(rows.height, dtype=np.int64)
    offset = 0
    for group in (~partial, partial):
        idx = np.flatnonzero(group)
        if idx.size:
            lo, hi, _ = rank_ranges(aggregate[idx], board.difference_se[np.ix_(idx, idx)])
            low[idx], high[idx] = lo + offset, hi + offset
            offset += idx.size
    se = pl.Series("aggregate_se", board.se)
    return rows.with_columns(
        se,
        (pl.col("aggregate") - Z95 * se).clip(0.0, 100.0).alias("aggregate_ci_low"),
        (pl.col("aggregate") + Z95 * se).clip(0.0, 100.0).alias("aggregate_ci_high"),
        pl.Series("rank_lo", low, dtype=pl.Int64),
        pl.Series("rank_hi", high, dtype=pl.Int64),
    )


def _rank_bands(rows: pl.DataFrame) -> np.ndarray:
    """1 + rows ranked above whose interval lies wholly above this row's (rows in rank order).

    Within one coverage group the order is by aggregate, so any row whose
    interval is wholly above is ranked above; a partial row is also below every
    full-coverage row. Counting with sorted lower ends keeps this O(n log n).
    """
    low = rows["aggregate_ci_low"].to_numpy()
    high = rows["aggregate_ci_high"].to_numpy()
    partial = rows["partial"].to_numpy()
    full_lows = np.sort(low[~partial])
    partial_lows = np.sort(low[partial])
    above_full = len(full_lows) - np.searchsorted(full_lows, high, side="right")
    above_partial = len(partial_lows) - np.searchsorted(partial_lows, high, side="right")
    return 1 + above_full + np.where(partial, above_partial, 0)
