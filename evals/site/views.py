"""What the pages show, derived from a snapshot: pure functions over frames.

Quantization retention comes from ``evals.results.retention`` over the snapshot's
published runs and scores: the definition the run summary and the
``retention`` rows of each run folder use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

from contracts.quantizations import FLOAT_PRECISIONS
from contracts.submission import HF_REPO_RE, REVISION_RE
from evals.results.retention import OVERALL
from evals.results.retention import retention as quantization_retention
from evals.scoring import ScoringSpec, task_scores
from evals.site.snapshot import Snapshot
from evals.site.text import is_missing, parameters_bucket, parameters_label, slug
from evals.catalog.definitions import BUILT_IN, definitions_frame

HUB = "https://huggingface.co"
EDGE_METRICS = ("tokens_per_s", "latency_ms", "peak_memory_gb")
# The leaderboard's provenance columns: (field, header); the browser shows them on request.
PROVENANCE_FIELDS = (
    ("run_id", "Run"),
    ("finished", "Date"),
    ("suite", "Suite"),
    ("lm_eval", "lm-eval"),
    ("license", "License"),
    ("submitted_by", "Submitted by"),
    ("weights", "Weights"),
)


def model_slugs(names: Iterable[str]) -> dict[str, str]:
    """A unique page name per model; names whose slugs collide get a hash of the name appended."""
    names = sorted(set(names))
    base = {n: slug(n) for n in names}
    counts: dict[str, int] = {}
    for s in base.values():
        counts[s] = counts.get(s, 0) + 1
    return {n: s if counts[s] == 1 else f"{s}-{hashlib.sha1(n.encode()).hexdigest()[:8]}" for n, s in base.items()}


def source_url(hf_repo: str | None, revision: str | None = None) -> str | None:
    """The hub page of the weights, when the repo (and revision) have the contract's shape."""
    if not hf_repo or not HF_REPO_RE.match(hf_repo):
        return None
    if revision and REVISION_RE.match(revision) and ".." not in revision:
        return f"{HUB}/{hf_repo}/tree/{revision}"
    return f"{HUB}/{hf_repo}"


def model_cards(snapshot: Snapshot) -> dict[str, dict]:
    """Registry row per model; falls back to the model card its latest run carries."""
    cards = {row["name"]: row for row in snapshot.models.to_dicts()}
    latest = snapshot.runs.sort(["finished_at", "run_id"]).group_by("model_name", maintain_order=True).last()
    for row in latest.to_dicts():
        cards.setdefault(
            row["model_name"],
            {
                "name": row["model_name"],
                **{k: row.get(k) for k in ("family", "hf_repo", "revision", "parameters", "license")},
                **{k: row.get(k) for k in ("architecture", "context_length", "submitted_by")},
                "last_run_id": row["run_id"],
            },
        )
    return cards


def retention(
    runs: pl.DataFrame, scores: pl.DataFrame, spec: ScoringSpec, samples: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Per quantized variant: its overall retention, as ``evals.results.retention`` defines it (and run summaries show).

    Columns: model_name, variant_id, precision, reference_variant,
    reference_precision, retention (a share; null when the reference scored 0), note, and the paired
    difference in points with its 95% interval and p-value (null: not known).
    """
    overall = quantization_retention(runs, scores, spec, samples).filter(pl.col("category") == OVERALL)
    return overall.select(
        "model_name",
        "variant_id",
        "precision",
        pl.col("reference_variant_id").alias("reference_variant"),
        "reference_precision",
        (pl.col("retention_pct") / 100.0).alias("retention"),
        pl.when(pl.col("retention_pct").is_null())
        .then(pl.lit("the reference scored 0"))
        .otherwise(pl.lit(""))
        .alias("note"),
        "difference",
        "difference_ci_low",
        "difference_ci_high",
        "p_value",
    ).sort("model_name", "variant_id")


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both x and y (higher is better), by descending x."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1]))
    front, best_y = [], float("-inf")
    for i in order:
        if points[i][1] > best_y:
            front.append(i)
            best_y = points[i][1]
    return front


@dataclass(frozen=True)
class BoardData:
    """The leaderboard as the browser scripts read it: field names and one list per row."""

    fields: list[str]
    rows: list[list]
    tasks: list[str] = field(default_factory=list)  # the catalog tasks some row measured, in catalog order


def board_data(snapshot: Snapshot, spec: ScoringSpec, slugs: dict[str, str], cards: dict[str, dict]) -> BoardData:
    """Rows in rank order; numbers stay numbers (formatting happens in the browser, see ``FORMATS``)."""
    score_cols = [f"score_{c}" for c in spec.categories]
    fields = [
        "rank",
        "rank_band",
        "model",
        "slug",
        "variant",
        "backend",
        "precision",
        "chat_template",
        "parameters",
        "params_label",
        "bucket",
        "aggregate",
        "ci_low",
        "ci_high",
        "aggregate_normalized",
        "coverage",
        "partial",
        *score_cols,
        *EDGE_METRICS,
        "source",
    ]
    tasks, task_values = _task_values(snapshot, spec)
    provenance = _provenance(snapshot)
    fields += ["test_model", "gguf_quant", *(f"normalized_{c}" for c in spec.categories)]
    fields += [f"task_{t}" for t in tasks] + [name for name, _ in PROVENANCE_FIELDS]
    fields += ["rank_lo", "rank_hi"]  # the paired tests' rank range (evals.scoring rule 8)
    rows = []
    for r in snapshot.leaderboard.iter_rows(named=True):
        key = (r["run_id"], r["variant_id"])
        measured = task_values.get(key, {})
        origin = provenance.get(key, {})
        card = cards.get(r["model_name"], {})
        params = r["parameters"] if r["parameters"] is not None else card.get("parameters")
        rows.append(
            [
                r["rank"],
                r["rank_band"],
                r["model_name"],
                slugs[r["model_name"]],
                r["variant_id"],
                r["backend"],
                r["precision"],
                "yes" if r["chat_template"] else "no",
                params,
                parameters_label(params) if params is not None else None,
                parameters_bucket(params),
                _num(r["aggregate"]),
                _num(r["aggregate_ci_low"]),
                _num(r["aggregate_ci_high"]),
                _num(r["aggregate_normalized"]),
                _num(r["coverage"]),
                bool(r["partial"]),
                *[_num(r[c]) for c in score_cols],
                *[_num(r[m]) for m in EDGE_METRICS],
                source_url(card.get("hf_repo"), card.get("revision")),
                bool(r.get("test_model")),
                r["precision"] not in FLOAT_PRECISIONS,
                *[_num(r.get(f"normalized_{c}"), 3) for c in spec.categories],
                *[_num(measured.get(t), 3) for t in tasks],
                *[origin.get(name) for name, _ in PROVENANCE_FIELDS],
                r.get("rank_lo"),
                r.get("rank_hi"),
            ]
        )
    return BoardData(fields, rows, tasks)


def _task_values(snapshot: Snapshot, spec: ScoringSpec) -> tuple[list[str], dict[tuple[str, str], dict[str, float]]]:
    """The catalog tasks measured on the board, and each row's task scores x 100."""
    table = task_table(snapshot, spec)
    values: dict[tuple[str, str], dict[str, float]] = {}
    for run_id, variant_id, task, value in table.select("run_id", "variant_id", "task", "value").iter_rows():
        values.setdefault((run_id, variant_id), {})[task] = 100.0 * value
    measured = set(table["task"].to_list())
    return [t for t in spec.tasks if t in measured], values


def _provenance(snapshot: Snapshot) -> dict[tuple[str, str], dict[str, str | None]]:
    """Per published run and variant: what the provenance columns show."""
    out = {}
    for r in snapshot.runs.iter_rows(named=True):
        weights = r.get("revision") or r.get("weights_digest")
        out[(r["run_id"], r["variant_id"])] = {
            "run_id": r["run_id"],
            "finished": r["finished_at"].strftime("%Y-%m-%d") if r.get("finished_at") else None,
            "suite": r.get("suite"),
            "lm_eval": parsed_json(r.get("versions")).get("lm_eval"),
            "license": r.get("license"),
            "submitted_by": r.get("submitted_by"),
            "weights": weights[:12] if weights else None,
        }
    return out


def task_table(snapshot: Snapshot, spec: ScoringSpec) -> pl.DataFrame:
    """Per run, variant and task: the primary metric with its stderr (groups aggregated as scoring does),
    few-shot, and where the task's definition came from ("built-in", or the user's files)."""
    if snapshot.scores.is_empty():
        return pl.DataFrame(
            schema={
                "run_id": pl.String,
                "variant_id": pl.String,
                "task": pl.String,
                "category": pl.String,
                "metric": pl.String,
                "value": pl.Float64,
                "stderr": pl.Float64,
                "n_samples": pl.Int64,
                "num_fewshot": pl.Int64,
                "source": pl.String,
            }
        )
    tasks = task_scores(snapshot.scores, spec, snapshot.runs)
    fewshot = snapshot.scores.group_by(["run_id", "variant_id", "task"]).agg(pl.col("num_fewshot").max())
    if "dataset_revision" in snapshot.scores.columns:  # rows recorded before it have none
        revision = pl.col("dataset_revision").drop_nulls().first()
        fewshot = snapshot.scores.group_by(["run_id", "variant_id", "task"]).agg(
            pl.col("num_fewshot").max(), revision.alias("dataset_revision")
        )
    sources = definitions_frame(snapshot.runs).select("run_id", "task", "source")
    return (
        tasks.join(fewshot, on=["run_id", "variant_id", "task"], how="left")
        .join(sources, on=["run_id", "task"], how="left")
        .with_columns(pl.col("source").fill_null(BUILT_IN))
    )


def parsed_json(text: str | None) -> dict:
    """A JSON column (hardware, versions) as a dict; anything else as {"value": text}."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"value": text}
    return value if isinstance(value, dict) else {"value": value}


def _num(value: object, digits: int = 6) -> float | None:
    """A number for the browser scripts; the columns a reader adds on request carry 3 digits (shown with 1)."""
    return None if is_missing(value) else round(float(value), digits)  # type: ignore[arg-type]
