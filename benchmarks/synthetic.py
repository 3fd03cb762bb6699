"""Synthetic warehouse rows, built to the table contracts: for tests and scale benchmarks only.

- :func:`run_frames` / :func:`plan_of`: small, valid frames of one benchmark
  run, which the tests spoil one rule at a time;
- :func:`scale_tables`: N published one-variant models, built column-wise,
  for the publish and site-build benchmarks;
- :func:`sample_frame`: per-sample rows (prompts, choices, generations,
  verdicts) of one variant, shaped like lm-eval's logged samples, for the
  per-sample browser and the site-size benchmark;
- :func:`publish_bulk`: writes such tables as the publish flow would leave
  them, without the per-run contracts (GX is slow to start; the rows are
  built to the contracts already).

The values are invented; nothing here is a measurement, and nothing here
is called by the benchmark or publish flows.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from contracts.checks import EDGE_UNIT, RunPlan
from contracts.tables import EDGE, EDGE_UNITS, RUNS, SAMPLES, SCORES
from evals.catalog.suites import TaskEntry, load_catalog
from evals.scoring import default_spec
from evals.warehouse.publishing import compute_leaderboard, update_registry, write_leaderboard
from evals.warehouse.storage import PUBLISHED, table_uri

MMLU_PARTS = 5
OFFLINE_TASKS = ("slmb_facts", "slmb_story", "slmb_code", "slmb_arith", "slmb_yesno")


def run_frames(
    run_id: str = "run-1",
    model_name: str = "demo-model",
    variants: Sequence[str] = ("FP32",),
    tasks: Sequence[str] = OFFLINE_TASKS,
    edge: bool = True,
    level: float = 0.6,
    finished_at: datetime | None = None,
    parameters: int = 1_000_000,
    samples: int = 0,
) -> dict[str, pl.DataFrame]:
    """Frames of one run: runs, scores (primary metric plus one extra per task) and edge; with
    ``samples`` > 0, also that many items per variant and task (:func:`sample_frame`)."""
    catalog = load_catalog()
    finished = finished_at or datetime(2025, 1, 1, 12, tzinfo=UTC)
    runs, scores, edges = [], [], []
    for v, variant in enumerate(variants):
        chat = variant.endswith("--chat")  # "model--Q8_0--chat": the same weights through the chat template
        quant = variant.removesuffix("--chat").rsplit("--", 1)[-1].upper()  # "model--Q8_0" or just "Q8_0"
        backend = "transformers" if quant in ("FP32", "FP16", "BF16") else "llamacpp"
        runs.append(
            {
                "run_id": run_id,
                "variant_id": variant,
                "status": "staged",
                "submission_path": f"models/submissions/{model_name}.yaml",
                "submission_sha256": hashlib.sha256(model_name.encode()).hexdigest(),
                "model_name": model_name,
                "hf_repo": None,
                "revision": None,
                "weights_digest": hashlib.sha256(f"{model_name}/{variant}".encode()).hexdigest(),
                "family": "llama",
                "parameters": parameters,
                "license": "mit",
                "architecture": "LlamaForCausalLM",
                "context_length": 512,
                "submitted_by": "tester",
                "backend": backend,
                "precision": quant,
                "tensor_types": None
                if backend == "transformers"
                else json.dumps({quant: {"tensors": 1, "elements": 1}}),
                "chat_template": chat,
                "chat_template_sha256": hashlib.sha256(b"template").hexdigest() if chat else None,
                "fewshot_as_multiturn": True if chat else None,
                "suite": "offline",
                "limit": None,
                "seed": 1234,
                "hardware": json.dumps({"cpu": "test", "gpu": None}),
                "versions": json.dumps({"lm_eval": "0.4.13"}),
                "repo_commit": "0" * 40,
                "flow_run_id": None,
                "pr_number": None,
                "head_sha": None,
                "started_at": finished - timedelta(minutes=5),
                "finished_at": finished,
                "planned_tasks": json.dumps(sorted([*tasks, *([EDGE_UNIT] if edge else [])])),
                "n_units_planned": len(tasks) + int(edge),
                "n_units_succeeded": len(tasks) + int(edge),
                "sandbox_isolation": "full" if any(catalog.task(t).executes_code for t in tasks) else None,
                "error": None,
            }
        )
        for t, task in enumerate(tasks):
            entry = catalog.task(task)
            value = min(1.0, max(0.0, level + 0.05 * t - 0.1 * v))
            base = {
                "run_id": run_id,
                "variant_id": variant,
                "model_name": model_name,
                "task": task,
                "subtask": task,
                "filter": entry.filter,
                "n_samples": 100,
                "category": entry.category,
                "num_fewshot": entry.num_fewshot or 0,
                "task_version": "1.0",
                "chat_template": chat,
            }
            scores.append({**base, "metric": entry.metric, "value": value, "stderr": 0.02})
            scores.append({**base, "metric": "extra_metric", "value": value / 2, "stderr": None})
        if edge:
            for metric, unit in EDGE_UNITS.items():
                mean = {
                    "tokens_per_s": 100.0,
                    "prompt_tokens_per_s": 400.0,
                    "latency_ms": 50.0,
                    "ms_per_token": 10.0,
                    "peak_memory_gb": 0.5,
                    "model_size_gb": 0.1,
                }[metric] * (1 + v)
                edges.append(
                    {
                        "run_id": run_id,
                        "variant_id": variant,
                        "metric": metric,
                        "mean": mean,
                        "sd": mean / 20,
                        "repetitions": 5,
                        "hardware_profile": "cpu-test",
                        "unit": unit,
                    }
                )
    frames = {
        "runs": pl.DataFrame(runs, schema=RUNS.schema),
        "scores": pl.DataFrame(scores, schema=SCORES.schema),
        "edge": pl.DataFrame(edges, schema=EDGE.schema),
    }
    if samples:
        units = [(task, task, catalog.task(task)) for task in tasks]
        frames["samples"] = pl.concat(
            [sample_frame(run_id, variant, units, samples, level - 0.1 * v) for v, variant in enumerate(variants)]
        )
        frames["scores"] = _scores_of_items(frames["scores"], frames["samples"], samples)
    return frames


def _scores_of_items(scores: pl.DataFrame, items: pl.DataFrame, n_items: int) -> pl.DataFrame:
    """The primary scores as their items give them (the contracts tie each score to its items), every row's
    n_samples the item count."""
    right = items.group_by("variant_id", "task").agg(pl.col("correct").cast(pl.Float64).mean().alias("_items"))
    primary = pl.col("metric").is_in([t.metric for t in load_catalog().tasks.values()])
    return (
        scores.join(right, on=["variant_id", "task"], how="left")
        .with_columns(
            value=pl.when(primary & pl.col("_items").is_not_null()).then(pl.col("_items")).otherwise(pl.col("value")),
            n_samples=pl.lit(n_items, dtype=pl.Int64),
        )
        .select(scores.columns)
    )


# Words of the synthetic prompts: a few hundred, so compression sees text about as repetitive as real items.
_WORDS = tuple(
    f"{a}{b}"
    for a in ("ka", "lo", "mi", "ne", "po", "ru", "sa", "ti", "vo", "ze", "bra", "cle", "dri", "fro")
    for b in ("n", "t", "la", "mo", "rin", "sek", "tov", "ul", "vad", "x", "yen", "zor", "pa", "qui", "wes")
)


def _sentence(rng: np.random.Generator, n: int) -> str:
    return " ".join(_WORDS[i] for i in rng.integers(0, len(_WORDS), n))


@functools.lru_cache(maxsize=256)
def _items(
    task: str, subtask: str, n_items: int, shots: int
) -> tuple[np.ndarray, list[str], list[list[str]], list[int]]:
    """A task's items, the same for every model and variant: per-item draws, prompts, choices, targets."""
    seed = int(hashlib.sha256(f"{task}/{subtask}".encode()).hexdigest()[:8], 16)
    draws = np.random.default_rng(seed).uniform(0.0, 1.0, n_items)
    text = np.random.default_rng(seed + 1)
    prompts, choices = [], []
    for _ in range(n_items):
        examples = "".join(f"question: {_sentence(text, 12)}?\nanswer: {_sentence(text, 3)}\n\n" for _ in range(shots))
        prompts.append(f"{examples}question: {_sentence(text, 14)}?\nanswer:")
        choices.append([" " + _sentence(text, 2) for _ in range(4)])
    return draws, prompts, choices, [int(t) for t in text.integers(0, 4, n_items)]


def sample_frame(
    run_id: str,
    variant_id: str,
    units: Sequence[tuple[str, str, TaskEntry]],
    n_items: int,
    level: float,
    shots: int = 3,
) -> pl.DataFrame:
    """``n_items`` items of each (task, subtask, catalog entry) for one variant, as the ``samples`` table holds them.

    Multiple-choice tasks get a few-shot prompt, four choices with log-likelihoods and the pick; the
    others a generation, its extracted answer and, for code tasks, a sandbox verdict. Item ``i`` is
    right when a per-item draw (the same for every variant of a task) is below ``level``, so a
    lower-level variant is wrong on a superset of items: the disagreements compare mode shows first.
    """
    rows = []
    for task, subtask, entry in units:
        draws, prompts, item_choices, targets = _items(task, subtask, n_items, shots)
        answers = np.random.default_rng(int(hashlib.sha256(f"{variant_id}/{subtask}".encode()).hexdigest()[:8], 16))
        lls = np.round(-answers.uniform(2.0, 9.0, (n_items, 4)), 6)
        margins, offsets = answers.uniform(0.1, 1.0, n_items), answers.integers(1, 4, n_items)
        choice_task = entry.metric in ("acc", "acc_norm")
        for i in range(n_items):
            right = bool(draws[i] < level)
            row = {
                "run_id": run_id,
                "variant_id": variant_id,
                "task": task,
                "subtask": subtask,
                "filter": entry.filter,
                "doc_id": i,
                "category": subtask if subtask != task else (f"kind {i % 3}" if entry.item_category else None),
                "prompt": prompts[i],
                "correct": right,
                "value": float(right),
                "sandbox": None,
                "metrics": json.dumps({entry.metric: float(right)}),
            }
            target = targets[i]
            if choice_task:
                pick = target if right else (target + int(offsets[i])) % 4
                scores = [float(v) for v in lls[i]]
                scores[pick] = round(max(scores) + float(margins[i]), 6)
                row |= {
                    "output_type": "multiple_choice",
                    "choices": json.dumps(item_choices[i]),
                    "loglikelihoods": json.dumps(scores),
                    "pick": pick,
                    "generation": None,
                    "extracted": None,
                    "target": str(target),
                }
            else:
                said = str(target * 7) if right else str(target * 7 + int(offsets[i]))
                verdict = "passed" if right else "failed: exit status 1 before the tests finished: AssertionError"
                row |= {
                    "output_type": "generate_until",
                    "choices": None,
                    "loglikelihoods": None,
                    "pick": None,
                    "generation": f"{item_choices[i][0]} #### {said}",
                    "extracted": said,
                    "target": str(target * 7),
                    "sandbox": verdict if entry.executes_code else None,
                }
            rows.append(row)
    return SAMPLES.conform(pl.DataFrame(rows, schema=SAMPLES.schema))


def plan_of(frames: dict[str, pl.DataFrame]) -> RunPlan:
    """The plan the frames were built from."""
    runs = frames["runs"]
    scores = frames["scores"]
    edge_variants = set(frames["edge"]["variant_id"].to_list())
    units = {
        v: [
            *sorted(set(scores.filter(pl.col("variant_id") == v)["task"].to_list())),
            *([EDGE_UNIT] if v in edge_variants else []),
        ]
        for v in runs["variant_id"].to_list()
    }
    return RunPlan(run_id=runs["run_id"][0], units=units)


def scale_tables(n_models: int, seed: int = 0, samples_per_task: int = 0) -> dict[str, pl.DataFrame]:
    """Published runs, scores and edge rows of ``n_models`` models: 20 task rows each (15 catalog
    tasks plus mmlu split into ``MMLU_PARTS`` subtasks, so group aggregation is exercised) and
    every edge metric; with ``samples_per_task``, that many items per subtask (:func:`sample_frame`)."""
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
            "chat_template": [False] * (n_models * k),
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
    tables = {
        "runs": RUNS.conform(runs.select(RUNS.names)),
        "scores": SCORES.conform(SCORES.upgrade(scores)),
        "edge": EDGE.conform(EDGE.upgrade(edge)),
    }
    if samples_per_task:
        units = [(task, subtask, entry) for task, subtask, entry in rows_per_model]
        levels = rng.uniform(0.2, 0.9, n_models)
        tables["samples"] = pl.concat(
            [
                sample_frame(run_id, variant, units, samples_per_task, float(level))
                for run_id, variant, level in zip(run_ids, variants, levels, strict=True)
            ]
        )
    return tables


def publish_bulk(uri: str, tables: dict[str, pl.DataFrame]) -> None:
    """Append rows to the published tables, then leaderboard and registry as the publish flow writes them."""
    if "samples" in tables:
        options = {"partition_by": list(SAMPLES.partition_by)}
        tables["samples"].write_delta(table_uri(uri, PUBLISHED, "samples"), mode="append", delta_write_options=options)
    for name in ("scores", "edge", "runs"):
        tables[name].write_delta(table_uri(uri, PUBLISHED, name), mode="append")
    spec = default_spec()
    write_leaderboard(uri, compute_leaderboard(uri, spec), spec)
    update_registry(uri)


# The 13 tasks of the ``full`` suite at their real document counts (lm-eval's evaluation splits),
# and the share of items that sit in a cluster of a given size where the dataset has a cluster field.
FULL_SUITE_DOCUMENTS = {
    "mmlu": 14_042,
    "arc_challenge": 1_172,
    "hellaswag": 10_042,
    "truthfulqa_mc2": 817,
    "humaneval": 164,
    "mbpp": 500,
    "gsm8k": 1_319,
    "minerva_math": 5_000,
    "boolq": 3_270,
    "piqa": 1_838,
    "winogrande": 1_267,
    "toxigen": 940,
    "bbq": 58_492,
}
FULL_SUITE_CLUSTER_SIZES = {"boolq": 2, "hellaswag": 4, "bbq": 2}  # items per passage / source / context


def correlated_items(
    n_variants: int,
    documents: dict[str, int] | None = None,
    seed: int = 0,
    continuous: Sequence[str] = ("truthfulqa_mc2",),
):  # -> list[evals.paired.ItemMatrix]
    """Per task, a (variants x items) matrix of per-item results correlated between variants the way
    models' are (a shared item difficulty plus each variant's ability): 0/1 values, except a probability
    for the ``continuous`` tasks; items grouped into clusters of ``FULL_SUITE_CLUSTER_SIZES``."""
    from evals.paired import ItemMatrix

    rng = np.random.default_rng(seed)
    ability = rng.normal(0.0, 0.6, n_variants)
    out = []
    for task, n in (documents or FULL_SUITE_DOCUMENTS).items():
        size = FULL_SUITE_CLUSTER_SIZES.get(task, 1)
        codes = np.arange(n) // size
        difficulty = rng.normal(0.0, 1.2, n) + rng.normal(0.0, 0.5, codes[-1] + 1)[codes]
        logits = ability[:, None] - difficulty[None, :] + rng.normal(0.0, 1.0, (n_variants, n))
        p = 1.0 / (1.0 + np.exp(-logits))
        values = np.round(p, 4) if task in continuous else (rng.random((n_variants, n)) < p).astype(np.float64)
        out.append(
            ItemMatrix(
                task=task,
                variants=tuple((f"run-{v}", f"variant-{v}") for v in range(n_variants)),
                subtasks=(task,) * n,
                doc_ids=np.arange(n),
                values=values,
                codes=codes,
                binary=task not in continuous,
            )
        )
    return out
