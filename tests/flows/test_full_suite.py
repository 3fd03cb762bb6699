"""The product's main suite, ``full``, end to end on hub-shaped data served by a local dataset hub stand-in.

``slmbench run models/submissions/demo-trained.yaml --suite full --limit 4``, then ``slmbench publish`` and
``slmbench site build``, as a user runs them (subprocesses of the CLI), with the thirteen datasets fetched
through ``HF_ENDPOINT`` from ``tests/evals/models/dataset_standin.py`` (ToxiGen gated, a token given): all of
lm-eval's task definitions (MMLU's 57 subjects, Minerva Math's 7, HumanEval and MBPP through the sandbox),
every unit through the contracts, every item into the samples table and the site's Items panel.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from evals import paths
from evals.catalog.hub_datasets import GATED, write_hub_datasets
from evals.catalog.suites import load_catalog
from tests.evals.models.dataset_standin import DatasetHubStandIn
from tests.servers import serving

pytestmark = pytest.mark.slow  # about 10 minutes on 2 busy cores (the report gives the measured time)

SUBMISSION = "models/submissions/demo-trained.yaml"
LIMIT = 4
TOKEN = "hf_standin_token"
VARIANTS = ("slmb-demo-trained--FP32", "slmb-demo-trained--Q8_0", "slmb-demo-trained--Q4_K_M")
# lm-eval task -> the stand-in repo its data comes from (as lm-eval 0.4.13's YAMLs name them)
REPOS = {
    "arc_challenge": "allenai/ai2_arc",
    "hellaswag": "Rowan/hellaswag",
    "truthfulqa_mc2": "truthfulqa/truthful_qa",
    "humaneval_sandboxed": "openai/openai_humaneval",
    "mbpp_sandboxed": "google-research-datasets/mbpp",
    "gsm8k": "openai/gsm8k",
    "boolq": "aps/super_glue",
    "piqa": "baber/piqa",
    "winogrande": "allenai/winogrande",
    "toxigen": "skg/toxigen-data",
    "bbq": "oskarvanderwal/bbq",
}


@dataclass(frozen=True)
class FullRun:
    run_id: str
    run_dir: Path
    warehouse: Path
    site: Path
    standin: DatasetHubStandIn
    plan_text: str


def _cli(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], env=env, capture_output=True, text=True, timeout=3000, check=False
    )
    assert done.returncode == 0, f"slmbench {' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    return done


def publish(run_id: str, warehouse: Path, env: dict[str, str]) -> None:
    """``slmbench publish RUN_ID``: the one place a merge changes if publishing a limited run needs a flag."""
    _cli("publish", run_id, "--warehouse", str(warehouse), "--allow-limited", env=env)  # a --limit 4 smoke test


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullRun]:
    root = tmp_path_factory.mktemp("full-suite")
    standin = DatasetHubStandIn(write_hub_datasets(root / "hub"), gated=GATED, tokens=frozenset({TOKEN}))
    with serving(standin.app()) as url:
        env = {
            **os.environ,
            "HF_ENDPOINT": url,
            "HF_HOME": str(root / "hf"),
            "HF_HUB_OFFLINE": "0",
            "HF_DATASETS_OFFLINE": "0",
            "HF_TOKEN": TOKEN,
        }
        warehouse = root / "warehouse"
        plan = _cli("plan", SUBMISSION, "--suite", "full", "--limit", str(LIMIT), env=env).stdout
        ran = _cli("run", SUBMISSION, "--suite", "full", "--limit", str(LIMIT), "--warehouse", str(warehouse), env=env)
        found = re.search(r"^run (\S+): \d+ units", ran.stdout + ran.stderr, re.MULTILINE)
        assert found, ran.stdout[-2000:]
        run_dir = paths.runs_dir() / found.group(1)
        publish(run_dir.name, warehouse, env)
        site = root / "site"
        _cli("site", "build", "--warehouse", str(warehouse), "--site-dir", str(site), env=env)
        yield FullRun(run_dir.name, run_dir, warehouse, site, standin, plan)


def test_the_plan_of_full_costs_every_unit_from_its_real_rows(full_run: FullRun) -> None:
    rows = [line for line in full_run.plan_text.splitlines() if re.match(r"\| \d+ \|", line)]  # not the edge rows
    assert len(rows) == 3 * (57 + 7 + 11)
    assert all(line.rstrip(" |").endswith("requests") for line in rows), "a unit of full was costed by a guess"


def test_every_task_and_subtask_of_full_ran_through_the_contracts(full_run: FullRun) -> None:
    scores = pl.read_parquet(full_run.run_dir / "scores.parquet")
    assert set(scores["task"]) == set(load_catalog().suite("full").tasks)
    subtasks = scores.filter(pl.col("task") == "mmlu")["subtask"].unique()
    assert subtasks.len() == 57 and subtasks.str.starts_with("mmlu_").all()
    assert scores.filter(pl.col("task") == "minerva_math")["subtask"].n_unique() == 7
    assert set(scores["variant_id"]) == set(VARIANTS)  # the run exits 0 only when every unit passed its contracts
    bias = scores.filter(pl.col("task") == "bbq", pl.col("metric").is_in(["amb_bias_score", "disamb_bias_score"]))
    assert bias.height == 2 * len(VARIANTS) and bias["value"].is_between(-1, 1).all()


def test_each_score_carries_the_commit_its_data_was_read_at(full_run: FullRun) -> None:
    scores = pl.read_parquet(full_run.run_dir / "scores.parquet")
    commits = {r["subtask"]: r["dataset_revision"] for r in scores.iter_rows(named=True)}
    for subtask, commit in commits.items():
        repo = REPOS.get(subtask) or ("cais/mmlu" if subtask.startswith("mmlu_") else "EleutherAI/hendrycks_math")
        assert commit == full_run.standin.commit(repo), subtask


def test_every_item_reaches_the_samples_table_and_the_items_panel(full_run: FullRun) -> None:
    from evals.warehouse.storage import read_table

    samples = read_table(str(full_run.warehouse), "samples").filter(pl.col("run_id") == full_run.run_id)
    per_unit = samples.group_by("variant_id", "subtask").agg(pl.col("doc_id").n_unique().alias("docs"))
    assert per_unit.height == 3 * (57 + 7 + 11) and set(per_unit["docs"]) == {LIMIT}
    items = {p.relative_to(full_run.site / "samples"): p for p in (full_run.site / "samples").rglob("*.json.gz")}
    by_task: dict[str, list[int]] = {}
    for path in items.values():
        body = json.loads(gzip.decompress(path.read_bytes()))
        by_task.setdefault(body["task"], []).append(body["n"])
    expected = {"mmlu": 57 * LIMIT, "minerva_math": 7 * LIMIT}
    assert set(by_task) == set(load_catalog().suite("full").tasks)
    for task, counts in by_task.items():
        assert counts == [expected.get(task, LIMIT)] * len(VARIANTS), task
    page = (full_run.site / "models" / "slmb-demo-trained" / "index.html").read_text()
    assert "Bias scores" in page and "bbq" in page
