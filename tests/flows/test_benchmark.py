"""The benchmark flow end to end: real Prefect, real Ray actors, real lm-eval, the demo models.

One Prefect harness and one local Ray serve the whole module; runs use small
limits so the module stays around two minutes on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from contracts.errors import UserError
from contracts.submission import load_submission
from evals.cache import UnitCache, read_results
from evals.catalog import load_catalog
from evals.planning import PlanOptions, plan_submission
from evals.pool import PoolOptions, WorkerPool, ensure_ray
from evals.worker import ModelWorker
from flows.benchmark import BenchmarkFailed, benchmark_submission

# Flow runs talk to the session's one Prefect test server (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("prefect_server")

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 12
HEAD_SHA = "0123456789abcdef0123456789abcdef01234567"  # the PR commit a ChatOps run names
# ChatOps passes the submission's text; the path only names it and exists on no worker.
PR_ONLY_PATH = "models/submissions/pr-only/demo-untrained.yaml"


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ensure_ray()
    yield
    ray.shutdown()


def _primary(scores: pl.DataFrame, variant: str) -> dict[str, float]:
    from evals.catalog import load_catalog

    catalog = load_catalog()
    out = {}
    for row in scores.filter(pl.col("variant_id") == variant).iter_rows(named=True):
        entry = catalog.tasks[row["task"]]
        if (row["metric"], row["filter"]) == (entry.metric, entry.filter):
            out[row["task"]] = (row["value"], row["stderr"] or 0.0)
    return out


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory) -> Iterator[Path]:
    """A unit cache and edge store of this module's own: its first runs evaluate and measure, whatever ran before."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLMBENCH_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def demo_runs(ray_local, demo_models, module_cache, tmp_path_factory) -> dict[str, Path]:
    """The trained (FP32 + Q8_0 + Q4_K_M) and untrained demo models on the offline suite."""
    warehouse = str(tmp_path_factory.mktemp("warehouse"))
    runs = {}
    for name in ("demo-trained", "demo-untrained"):
        out = tmp_path_factory.mktemp(name)
        source = ROOT / "models" / "submissions" / f"{name}.yaml"
        as_text = name == "demo-untrained"
        benchmark_submission(
            submission_path=PR_ONLY_PATH if as_text else str(source),
            submission_yaml=source.read_text() if as_text else None,
            suite="offline",
            limit=LIMIT,
            workers=2,
            threads_per_worker=1,
            output_dir=str(out),
            warehouse=warehouse,
            **({"pr_number": 7, "head_sha": HEAD_SHA} if name == "demo-trained" else {}),
        )
        runs[name] = out
    runs["warehouse"] = Path(warehouse)
    return runs


def test_run_folder_holds_raw_results_samples_and_summary(demo_runs: dict[str, Path]) -> None:
    run = demo_runs["demo-trained"]
    assert (run / "summary.md").read_text().startswith("## SLM Bench run")
    units = sorted((run / "units").glob("*/*"))
    assert len(units) == 3 * len(load_catalog().suite("offline").tasks)  # 3 variants x every offline task
    for unit in units:
        assert "results" in read_results(unit)
        samples = [json.loads(line) for line in (unit / "samples.jsonl").read_text().splitlines()]
        results = read_results(unit)
        effective = results["n-samples"][unit.name]["effective"]
        assert effective == min(LIMIT, results["n-samples"][unit.name]["original"])
        assert len({s["doc_id"] for s in samples}) == effective  # one entry per document and filter


def test_runs_record_the_sandbox_isolation_their_code_ran_under(demo_runs: dict[str, Path]) -> None:
    for name in ("demo-trained", "demo-untrained"):
        runs = pl.read_parquet(demo_runs[name] / "runs.parquet")
        assert runs["sandbox_isolation"].to_list() == ["full"] * runs.height  # slmb_code ran on every variant


def test_trained_beats_untrained_and_q8_is_within_stderr(demo_runs: dict[str, Path]) -> None:
    trained = pl.read_parquet(demo_runs["demo-trained"] / "scores.parquet")
    untrained = pl.read_parquet(demo_runs["demo-untrained"] / "scores.parquet")
    fp32 = _primary(trained, "slmb-demo-trained--FP32")
    q8 = _primary(trained, "slmb-demo-trained--Q8_0")
    floor = _primary(untrained, "slmb-demo-untrained--FP32")
    mean = lambda d: sum(v for v, _ in d.values()) / len(d)  # noqa: E731
    assert mean(fp32) > mean(floor) + 0.1, (fp32, floor)
    for task, (value, stderr) in fp32.items():
        q8_value, q8_stderr = q8[task]
        assert abs(q8_value - value) <= max(stderr, q8_stderr, 1 / LIMIT) + 1e-9, (task, value, q8_value)


def test_rerun_is_fully_cached_and_identical(demo_runs, tmp_path: Path) -> None:
    first = pl.read_parquet(demo_runs["demo-trained"] / "scores.parquet")
    started = time.perf_counter()
    benchmark_submission(
        submission_path=str(ROOT / "models" / "submissions" / "demo-trained.yaml"),
        suite="offline",
        limit=LIMIT,
        workers=2,  # the first run's worker options: its edge figures hold
        threads_per_worker=1,
        output_dir=str(tmp_path),
        warehouse=str(tmp_path / "wh"),
    )
    elapsed = time.perf_counter() - started
    again = pl.read_parquet(tmp_path / "scores.parquet")
    cols = ["variant_id", "task", "metric", "filter", "value", "stderr", "n_samples"]
    assert again.select(cols).sort(cols).equals(first.select(cols).sort(cols))
    n = 3 * len(load_catalog().suite("offline").tasks)
    summary = (tmp_path / "summary.md").read_text()
    assert f"{n} units ({n} from cache, 0 failed)" in summary
    # Nothing evaluated, no edge unit measured: the first run's edge figures, labelled as reused.
    first_run = pl.read_parquet(demo_runs["demo-trained"] / "runs.parquet")["run_id"][0]
    edge, first_edge = (
        pl.read_parquet(tmp_path / "edge.parquet"),
        pl.read_parquet(demo_runs["demo-trained"] / "edge.parquet"),
    )
    assert edge["measured_in_run"].to_list() == [first_run] * first_edge.height
    assert edge.drop("run_id", "measured_in_run").equals(first_edge.drop("run_id", "measured_in_run"))
    assert f"Edge figures reused, not measured in this run: `slmb-demo-trained--FP32` from run `{first_run}`" in summary
    assert "Worker balance" not in summary  # no unit ran on a worker
    print(f"fully cached rerun: {elapsed:.1f}s")


def test_a_run_summary_shows_each_workers_idle_share(demo_runs) -> None:
    summary = (demo_runs["demo-trained"] / "summary.md").read_text()
    lines = [line for line in summary.splitlines() if line.startswith("- `slmb-demo-trained--")]
    assert len(lines) == 3 and all(
        re.search(r": 2 workers over [0-9.]+ s: idle \d+%, \d+%; idle tail", x) for x in lines
    )
    schedule = json.loads((demo_runs["demo-trained"] / "schedule.json").read_text())
    assert {row["status"] for row in schedule} == {"evaluated"} and all(row["worker"] for row in schedule)


def test_scores_equal_lm_eval_cli(demo_runs: dict[str, Path], demo_models, tmp_path: Path) -> None:
    """Every offline task: the platform's numbers are lm-eval's own (CLI, HF backend), to 1e-9."""
    from evals.reproduce import lm_eval_command
    from evals.taskpack import build_pack

    model = demo_models["demo-trained"]
    tasks = load_catalog().suite("offline").tasks
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    subprocess.run(
        lm_eval_command(model.hf_dir, tasks, output_path=tmp_path, include_paths=[build_pack()], limit=LIMIT),
        check=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    cli = json.loads(next(tmp_path.rglob("results_*.json")).read_text())["results"]
    ours = pl.read_parquet(demo_runs["demo-trained"] / "scores.parquet").filter(
        pl.col("variant_id") == "slmb-demo-trained--FP32"
    )
    assert ours.height > 0
    for row in ours.iter_rows(named=True):
        expected = cli[row["subtask"]][f"{row['metric']},{row['filter']}"]
        assert abs(row["value"] - expected) <= 1e-9, (row, expected)


def test_worker_killed_mid_unit_is_replaced_and_scores_are_identical(ray_local, demo_models) -> None:
    path = ROOT / "models" / "submissions" / "demo-untrained.yaml"
    plan = plan_submission(load_submission(path), PlanOptions(suite="offline", limit=24, submission_path=str(path)))
    unit = next(u for u in plan.units if u.task == "slmb_arith")  # generation: long enough to be killed
    pool = WorkerPool(plan.variants[0], plan.include_paths, False, PoolOptions(workers=1, threads_per_worker=1), 1234)
    box: dict[str, object] = {}
    thread = threading.Thread(target=lambda: box.update(outcome=pool.run(unit)))
    thread.start()
    pid = _wait_for_busy_worker(pool)
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=300)
    assert pool.actor_pids() != [pid]  # Ray started a new actor process
    pool.shutdown()
    undisturbed = ModelWorker(plan.variants[0], plan.include_paths, n_threads=1).run(unit)
    assert box["outcome"].results["results"] == undisturbed.results["results"]


def _wait_for_busy_worker(pool: WorkerPool) -> int:
    import psutil

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pids = pool.actor_pids() if pool._actors else []
        if pids:
            proc = psutil.Process(pids[0])
            before = sum(proc.cpu_times()[:2])
            time.sleep(1.0)
            if sum(proc.cpu_times()[:2]) - before > 0.5:  # evaluating, not idle
                return pids[0]
        time.sleep(0.2)
    raise AssertionError("the worker never got busy")


def test_a_failing_unit_names_itself_and_finished_units_stay_cached(ray_local, tmp_path: Path) -> None:
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "broken.yaml").write_text(
        "task: broken_task\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: /nonexistent/data.jsonl\n"
        "test_split: test\noutput_type: multiple_choice\ndoc_to_text: q\ndoc_to_choice: ['a', 'b']\ndoc_to_target: 0\n"
    )
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "tasks_dirs: [tasks]\ntasks:\n  broken_task: {lm_eval: broken_task, category: reasoning, metric: acc, "
        "num_fewshot: 0, baseline: 0.5}\nsuites:\n  mixed: {tasks: [broken_task, slmb_yesno]}\n"
    )
    submission = str(ROOT / "models" / "submissions" / "demo-untrained.yaml")
    with pytest.raises(BenchmarkFailed, match="slmb-demo-untrained--FP32/broken_task"):
        benchmark_submission(
            submission_path=submission,
            suite=str(suite),
            limit=4,
            output_dir=str(tmp_path / "run"),
            warehouse=str(tmp_path / "wh"),
        )
    plan = plan_submission(
        load_submission(submission), PlanOptions(suite=str(suite), limit=4, submission_path=submission)
    )
    cache = UnitCache()
    assert [u.subtask for u in plan.units if cache.get(u.cache_key)] == ["slmb_yesno"]


def test_cli_bad_inputs_exit_non_zero_with_a_message(tmp_path: Path) -> None:
    bad_gguf = tmp_path / "broken.gguf"
    bad_gguf.write_bytes(b"GGUF" + b"\0" * 64)
    cases = {
        "unknown suite": (
            ["--suite", "ofline"],
            ROOT / "models" / "submissions" / "stories260k.yaml",
            "did you mean 'offline'",
        ),
        "missing model": ([], _submission_at(tmp_path, tmp_path / "missing.gguf"), "does not exist"),
        "broken gguf": (  # refused from its header before anything runs (tests/evals/test_gguf_files.py)
            ["--suite", "offline-quick", "--limit", "2"],
            _submission_at(tmp_path, bad_gguf),
            "is not usable GGUF weights: GGUF version 0 is not one llama.cpp reads",
        ),
    }
    for name, (extra, submission, message) in cases.items():
        done = subprocess.run(
            [sys.executable, "-m", "flows.cli", "run", str(submission), "--warehouse", str(tmp_path / "wh"), *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode != 0, name
        assert message in done.stderr, (name, done.stderr[-2000:])
        assert "Traceback" not in done.stderr, (name, done.stderr[-2000:])


def _submission_at(tmp_path: Path, gguf: Path) -> Path:
    path = tmp_path / f"{gguf.stem}.yaml"
    path.write_text(
        f'model:\n  name: "{gguf.stem}"\n  local_path: "{gguf}"\n  parameters: "1K"\n  test_model: true\n'
        "  quantizations:\n    - {name: FP32, format: gguf}\n"
    )
    return path


def test_demo_results_publish_and_build_the_site(demo_runs: dict[str, Path], tmp_path: Path) -> None:
    """The real demo results, not synthetic ones: published, ranked, and built into the site."""
    from evals.warehouse.storage import read_table
    from flows.publish import publish_results
    from flows.site import build_site

    warehouse = str(demo_runs["warehouse"])
    for name in ("demo-trained", "demo-untrained"):
        run_id = pl.read_parquet(demo_runs[name] / "runs.parquet")["run_id"][0]
        publish_results(run_id, warehouse=warehouse, exports=str(tmp_path / "exports"))
    board = read_table(warehouse, "leaderboard").sort("rank")
    assert board.height == 4  # 3 trained variants + the untrained one
    runs = read_table(warehouse, "runs")
    trained = runs.filter(pl.col("model_name") == "SLMB-Demo-Trained")
    assert set(trained.select("pr_number", "head_sha").rows()) == {(7, HEAD_SHA)}
    untrained = runs.filter(pl.col("model_name") == "SLMB-Demo-Untrained")
    assert untrained["head_sha"].to_list() == [None]
    # run from its text: recorded under the name it was given, with the digest of that text
    text = (ROOT / "models" / "submissions" / "demo-untrained.yaml").read_bytes()
    assert untrained.select("submission_path", "submission_sha256").row(0) == (
        PR_ONLY_PATH,
        hashlib.sha256(text).hexdigest(),
    )
    assert (demo_runs["demo-untrained"] / "submission.yaml").read_bytes() == text
    assert board["model_name"][-1] == "SLMB-Demo-Untrained"  # the floor ranks last
    summary = build_site(warehouse=warehouse, site_dir=str(tmp_path / "site"), pages_dir=str(tmp_path / "pages"))
    assert summary.variants == 4
    site = Path(summary.index).parent
    board_data = (site / "assets" / "slmb" / "board.js").read_text()
    assert "SLMB-Demo-Trained" in board_data and "SLMB-Demo-Untrained" in board_data
    for slug in ("slmb-demo-trained", "slmb-demo-untrained"):
        assert "slmb_facts" in (site / "models" / slug / "index.html").read_text()
    assert HEAD_SHA in (site / "models" / "slmb-demo-trained" / "index.html").read_text()


def test_a_head_sha_that_is_not_a_commit_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="head_sha: 'main' is not a full git commit id"):
        benchmark_submission(
            submission_path=str(ROOT / "models" / "submissions" / "demo-untrained.yaml"),
            output_dir=str(tmp_path / "run"),
            head_sha="main",
        )
    assert not (tmp_path / "run").exists()


def test_a_second_benchmark_of_one_pr_is_refused_however_it_was_started(tmp_path: Path) -> None:
    """The receiver refuses a second /test-benchmark; a run started from the UI meets the flow's own check."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    path = str(ROOT / "models" / "submissions" / "demo-untrained.yaml")
    with get_client(sync_client=True) as client:
        # an earlier run of the same file for PR 77, not finished (created in Prefect, never executed)
        earlier = client.create_flow_run(benchmark_submission, parameters={"submission_path": path, "pr_number": 77})
        try:
            with pytest.raises(UserError, match=rf"for PR #77 is already under way \(flow run {earlier.id}"):
                benchmark_submission(submission_path=path, output_dir=str(tmp_path / "run"), pr_number=77)
            assert not (tmp_path / "run").exists()
        finally:
            client.set_flow_run_state(earlier.id, Cancelled(), force=True)
