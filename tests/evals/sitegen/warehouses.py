"""Warehouses for the site tests, written in bulk (no contracts run: GX is slow to import).

``demo_like`` mirrors the demo submissions (two demo models in FP32, Q8_0 and
Q4_K_M, stories260K with partial coverage) plus models chosen to break a naive
site: a name that is an HTML injection, parameter counts whose strings sort
wrongly as text, edge figures on some variants only, and a hub source link.
``synthetic`` holds N one-variant models (``benchmarks.synthetic.scale_tables``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from benchmarks.synthetic import OFFLINE_TASKS, publish_bulk, run_frames, scale_tables

XSS_NAME = "<img src=x onerror=alert(1)>"
TITLE_BREAKER = "</title><script>alert(2)</script>"
FORMULA = '=HYPERLINK("http://evil.example","click")'  # a submitter handle a spreadsheet would run

# (model name, variants, level, parameters, tasks, edge, hf_repo)
DEMO_MODELS = (
    ("SLMB-Demo-Trained", ("FP32", "Q8_0", "Q4_K_M"), 0.70, 3_700_000, OFFLINE_TASKS, False, None),
    ("SLMB-Demo-Untrained", ("FP32", "Q8_0", "Q4_K_M"), 0.30, 3_700_000, OFFLINE_TASKS, False, None),
    ("stories260K", ("FP32",), 0.45, 260_000, ("slmb_facts", "slmb_yesno"), False, "ggml-org/models"),
    (XSS_NAME, ("FP16",), 0.50, 1_500_000_000, OFFLINE_TASKS, True, None),
    ("Tiny-Edge-120M", ("FP16", "Q4_K_M"), 0.55, 120_000_000, OFFLINE_TASKS, True, "example/tiny-edge-120m"),
    ("Mid-900M", ("BF16",), 0.62, 900_000_000, OFFLINE_TASKS, True, None),
    (TITLE_BREAKER, ("Q8_0",), 0.35, 50_000_000, ("slmb_facts", "slmb_code"), False, None),
)


def demo_like(uri: str) -> None:
    """Publish the demo-like models and compute the leaderboard and registry."""
    frames = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i, (name, variants, level, params, tasks, edge, repo) in enumerate(DEMO_MODELS):
        run = run_frames(
            run_id=f"demo-run-{i}",
            model_name=name,
            variants=[f"{name}--{v}" for v in variants],
            tasks=tasks,
            edge=edge,
            level=level,
            finished_at=start + timedelta(hours=i),
            parameters=params,
        )
        run["runs"] = run["runs"].with_columns(
            precision=pl.Series([v for v in variants]),
            backend=pl.Series(["transformers" if v in ("FP32", "FP16", "BF16") else "llamacpp" for v in variants]),
            hf_repo=pl.lit(repo, dtype=pl.String),
            submitted_by=pl.lit(FORMULA if name == XSS_NAME else "tester"),
        )
        frames.append(run)
    tables = {name: pl.concat([f[name] for f in frames]) for name in ("runs", "scores", "edge")}
    tables["runs"] = tables["runs"].with_columns(status=pl.lit("published"))
    publish_bulk(uri, tables)


def synthetic(uri: str, n_models: int) -> None:
    """N synthetic one-variant models (the scale benchmarks' tables), published."""
    publish_bulk(uri, scale_tables(n_models))
