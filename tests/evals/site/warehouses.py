"""Warehouses for the site tests, written in bulk (no contracts run: GX is slow to import).

``demo_like`` mirrors the demo submissions (two demo models in FP32, Q8_0 and
Q4_K_M, stories260K with partial coverage) plus models chosen to break a naive
site: a name that is an HTML injection, parameter counts whose strings sort
wrongly as text, edge figures on some variants only, and a hub source link.
``synthetic`` holds N one-variant models (``benchmarks.synthetic.scale_tables``).

stories260K is a test model (its real submission says ``test_model: true``). The
demo-like warehouse also holds a submissions queue in every state (``QUEUE``):
a validated PR, a queued run, one running at 7 of 20 units, one that failed
before staging, one whose contracts failed (with its report in its run folder
and a reason full of markup), a staged run, and a published model whose first
run failed.

Every demo-like variant keeps ``ITEMS`` items per task; some of SLMB-Demo-Trained's
are hostile (markup, scripts, a right-to-left override, control characters, a very
long line) and its code items carry every kind of sandbox verdict.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from benchmarks.synthetic import OFFLINE_TASKS, publish_bulk, run_frames, scale_tables

ITEMS = 12
HOSTILE_MODEL, HOSTILE_TASK = "SLMB-Demo-Trained", "slmb_story"
# Prompts and choices an item may hold; alert() must never run, nor the text change direction.
HOSTILE_PROMPTS = (
    "<script>alert(3)</script>question: which?",
    '<img src=x onerror="alert(4)"></pre></code></div><b>bold</b>',
    "file \u202eexe.txt\u202c name and \x1b[31mred\x1b[0m",
    "long " + "A" * 20_000,
)
HOSTILE_CHOICE = ' <a href="javascript:alert(5)">click</a>'
VERDICTS = (
    "passed",
    "failed: exit status 1 before the tests finished: AssertionError",
    "timed out: ran past the 3 s wall-clock limit",
    "killed: by SIGSEGV before the tests finished",
)
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


def demo_like(uri: str, models: tuple[tuple, ...] = DEMO_MODELS) -> None:
    """Publish the demo-like models and compute the leaderboard and registry."""
    frames = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i, (name, variants, level, params, tasks, edge, repo) in enumerate(models):
        run = run_frames(
            run_id=f"demo-run-{i}",
            model_name=name,
            variants=[f"{name}--{v}" for v in variants],
            tasks=tasks,
            edge=edge,
            level=level,
            finished_at=start + timedelta(hours=i),
            parameters=params,
            samples=ITEMS,
        )
        run["runs"] = run["runs"].with_columns(
            precision=pl.Series([v for v in variants]),
            backend=pl.Series(["transformers" if v in ("FP32", "FP16", "BF16") else "llamacpp" for v in variants]),
            hf_repo=pl.lit(repo, dtype=pl.String),
            submitted_by=pl.lit(FORMULA if name == XSS_NAME else "tester"),
            test_model=pl.lit(name in TEST_MODELS),
            flow_run_id=pl.lit(f"flow-{i}"),
            local_path=pl.lit(
                f"fixture://{name.lower().removeprefix('slmb-')}" if name.startswith("SLMB-") else None, pl.String
            ),
        )
        if name == HOSTILE_MODEL:
            run["samples"] = _hostile(run["samples"])
        frames.append(run)
    tables = {name: pl.concat([f[name] for f in frames]) for name in ("runs", "scores", "edge", "samples")}
    tables["runs"] = tables["runs"].with_columns(status=pl.lit("published"))
    publish_bulk(uri, tables)
    fill_queue(uri, start)


TEST_MODELS = {"stories260K"}


def test_models_only(uri: str) -> None:
    """A board of test models alone, as `make demo` publishes (its fixtures are all test models)."""
    demo_like(uri, tuple(m for m in DEMO_MODELS if m[0] in TEST_MODELS))


SHA = "0123456789abcdef0123456789abcdef01234567"
BROKEN_REASON = "1 of 40 expectations failed: scores.value: <script>alert(3)</script> out of range\nsecond line"
# submission file -> (state it shows, model name)
QUEUE = {
    "models/submissions/new-model.yaml": ("validated", "New-Model"),
    "models/submissions/waiting-model.yaml": ("queued", "Waiting-Model"),
    "models/submissions/busy-model.yaml": ("running", "Busy-Model"),
    "models/submissions/no-weights.yaml": ("failed", None),
    "models/submissions/broken-model.yaml": ("failed", "Broken-Model"),
    "models/submissions/staged-model.yaml": ("staged", "Staged-Model"),
    "models/submissions/Mid-900M.yaml": ("published", "Mid-900M"),
}


def fill_queue(uri: str, start: datetime) -> None:
    """The queue events and staging runs behind ``QUEUE`` (the published models are already there)."""
    from contracts.expectations import Failure, ValidationReport
    from contracts.tables import RUNS
    from evals.warehouse.queue import QueueEvent, record
    from evals.warehouse.storage import STAGING, merge

    at = lambda minutes: start + timedelta(days=1, minutes=minutes)  # noqa: E731
    path = {state_name: p for p, (state_name, _) in QUEUE.items()}
    broken_dir = Path(uri).parent / "runs" / "run-broken"
    events = [
        QueueEvent("validated", path["validated"], model_name="New-Model", pr_number=12, head_sha=SHA, at=at(0)),
        QueueEvent("queued", path["queued"], model_name="Waiting-Model", flow_run_id="fr-wait", pr_number=13, at=at(1)),
        QueueEvent("queued", path["running"], model_name="Busy-Model", flow_run_id="fr-busy", at=at(2)),
        QueueEvent(
            "running",
            path["running"],
            model_name="Busy-Model",
            flow_run_id="fr-busy",
            run_id="run-busy",
            units_done=7,
            units_total=20,
            at=at(3),
        ),
        QueueEvent("running", "./models/submissions/no-weights.yaml", flow_run_id="fr-noweights", at=at(4)),
        QueueEvent(
            "failed",
            "models/submissions/no-weights.yaml",
            flow_run_id="fr-noweights",
            at=at(5),
            detail="local_path: /models/missing.gguf does not exist; put the weights there or fix the path",
        ),
        QueueEvent(
            "running",
            "models/submissions/broken-model.yaml",
            model_name="Broken-Model",
            flow_run_id="fr-broken",
            run_id="run-broken",
            units_done=0,
            units_total=5,
            run_dir=str(broken_dir),
            at=at(6),
        ),
        # Mid-900M's first run failed; its published run (flow-5) came after.
        QueueEvent(
            "failed",
            "models/submissions/Mid-900M.yaml",
            flow_run_id="fr-mid-first",
            detail="the hub did not answer",
            at=start + timedelta(hours=4, minutes=-30),
        ),
    ]
    for event in events:
        assert record(uri, event)
    staged = run_frames(run_id="run-staged", model_name="Staged-Model", variants=["staged-model--FP32"])["runs"]
    broken = run_frames(run_id="run-broken", model_name="Broken-Model", variants=["broken-model--FP32"])["runs"]
    staged = staged.with_columns(
        submission_path=pl.lit(path["staged"]),
        flow_run_id=pl.lit("fr-staged"),
        started_at=pl.lit(at(7)),
        finished_at=pl.lit(at(8)),
    )
    broken = broken.with_columns(
        submission_path=pl.lit("models/submissions/broken-model.yaml"),
        status=pl.lit("failed"),
        error=pl.lit(BROKEN_REASON),
        flow_run_id=pl.lit("fr-broken"),
        started_at=pl.lit(at(6)),
        finished_at=pl.lit(at(9)),
    )
    for frame in (staged, broken):
        merge(uri, STAGING, RUNS, frame, frame["run_id"][0], "stage")
    report = ValidationReport(checked=["scores"], expectations=40)
    report.failures.append(Failure("scores", "expect_column_values_to_be_between", "value", "<b>1.7</b> > 1"))
    broken_dir.mkdir(parents=True, exist_ok=True)
    (broken_dir / "contracts.json").write_text(report.to_json())


def _hostile(samples: pl.DataFrame) -> pl.DataFrame:
    """The first items of HOSTILE_TASK with hostile prompts and a hostile choice; code items with every verdict."""
    n = len(HOSTILE_PROMPTS)
    story = (pl.col("task") == HOSTILE_TASK) & (pl.col("doc_id") < n)
    prompts = pl.lit(pl.Series(HOSTILE_PROMPTS)).get(pl.col("doc_id").clip(0, n - 1))
    choices = f'["{HOSTILE_CHOICE.replace(chr(34), chr(92) + chr(34))}", " b", " c", " d"]'
    code = pl.col("task") == "slmb_code"
    verdicts = pl.lit(pl.Series(VERDICTS)).get(pl.col("doc_id") % len(VERDICTS))
    return samples.with_columns(
        prompt=pl.when(story).then(prompts).otherwise(pl.col("prompt")),
        choices=pl.when(story).then(pl.lit(choices)).otherwise(pl.col("choices")),
        generation=pl.when(code)
        .then(pl.lit("\n    return x  # </pre><script>alert(7)</script>"))
        .otherwise(pl.col("generation")),
        sandbox=pl.when(code).then(verdicts).otherwise(pl.col("sandbox")),
        correct=pl.when(code).then(verdicts == "passed").otherwise(pl.col("correct")),
    )


def synthetic(uri: str, n_models: int) -> None:
    """N synthetic one-variant models (the scale benchmarks' tables), published."""
    publish_bulk(uri, scale_tables(n_models))
