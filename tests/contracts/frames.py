"""Small, valid frames of one benchmark run, built to the contracts, for the tests to spoil."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import polars as pl

from contracts.expectations import EDGE_UNIT, RunPlan
from contracts.tables import EDGE, EDGE_UNITS, RUNS, SCORES
from evals.catalog import load_catalog

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
) -> dict[str, pl.DataFrame]:
    """Frames of one run: runs, scores (primary metric plus one extra per task) and edge."""
    catalog = load_catalog()
    finished = finished_at or datetime(2025, 1, 1, 12, tzinfo=UTC)
    runs, scores, edges = [], [], []
    for v, variant in enumerate(variants):
        quant = variant.upper()
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
    return {
        "runs": pl.DataFrame(runs, schema=RUNS.schema),
        "scores": pl.DataFrame(scores, schema=SCORES.schema),
        "edge": pl.DataFrame(edges, schema=EDGE.schema),
    }


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
