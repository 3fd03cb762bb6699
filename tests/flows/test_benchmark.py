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
from evals.catalog.suites import load_catalog
from evals.cluster.pool import PoolOptions, WorkerPool
from evals.engine.cache import UnitCache, read_results
from evals.engine.worker import ModelWorker
from evals.plan.prepare import plan_submission
from evals.plan.units import PlanOptions
from flows.benchmark import BenchmarkFailed, benchmark_submission

# Flow runs talk to the session's one Prefect test server (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("prefect_server")

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 12
HEAD_SHA = "0123456789abcdef0123456789abcdef01234567"  # the PR commit a ChatOps run names
# ChatOps passes the submission's text; the path only names it and exists on no worker.
PR_ONLY_PATH = "models/submissions/pr-only/demo-untrained.yaml"


def _primary(scores: pl.DataFrame, variant: str) -> dict[str, float]:
    from evals.catalog.suites import load_catalog

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


def test_a_maintainer_follows_the_run_in_prefect_and_the_queue(demo_runs: dict[str, Path]) -> None:
    """Progress lines and the summary reach the run's logs in the Prefect API (the UI's Logs tab);
    the run's start and progress reach the submissions queue."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    from evals.warehouse.queue import read_queue, submission_states

    runs = pl.read_parquet(demo_runs["demo-trained"] / "runs.parquet")
    run_id, flow_run_id = runs["run_id"][0], runs["flow_run_id"][0]
    n_units = int(runs["n_units_planned"].sum())
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    messages = [log.message for log in logs]
    assert any(m.startswith(f"run {run_id}: {n_units} units") for m in messages), messages
    assert sum(bool(re.match(rf"\[\d+/{n_units}\] ", m)) for m in messages) == n_units  # every unit's line
    assert any(m.startswith(f"## SLM Bench run `{run_id}`") for m in messages)  # the summary

    events, staged, _, _ = read_queue(str(demo_runs["warehouse"]))
    mine = events.filter(pl.col("flow_run_id") == flow_run_id).sort("at")
    assert mine["state"].unique().to_list() == ["running"]
    assert mine["detail"][0] == "locating the weights and planning the run"
    assert mine["model_name"].unique().to_list() == ["SLMB-Demo-Trained"]
    progress = mine.filter(pl.col("units_total").is_not_null())
    assert progress["units_total"].unique().to_list() == [n_units]
    assert progress["units_done"].to_list() == sorted(progress["units_done"].to_list())  # 0, then by tenths
    assert progress["units_done"][0] == 0 and progress["units_done"][-1] == n_units
    assert progress["run_id"].unique().to_list() == [run_id] and progress["pr_number"].unique().to_list() == [7]
    states = submission_states(events, staged, staged.clear())
    entry = states.filter(pl.col("run_id") == run_id).row(0, named=True)
    assert (entry["state"], entry["model_name"]) == ("staged", "SLMB-Demo-Trained")


def test_run_folder_holds_raw_results_samples_and_summary(demo_runs: dict[str, Path]) -> None:
    run = demo_runs["demo-trained"]
    assert (run / "summary.md").read_text().startswith("## SLM Bench run")
    # evaluated in this session, on its fresh unit cache (tests/conftest.py): no score below comes from older code
    assert "units (0 from cache, 0 failed)" in (run / "summary.md").read_text()
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
    from evals.catalog.pack import build_pack
    from evals.site.reproduce import lm_eval_command

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
    (tasks / "data.jsonl").write_text('{"x": 1}\n')
    # Passes every plan-time check; its prompt names a field the documents lack, so the unit fails as it runs.
    (tasks / "broken.yaml").write_text(
        f"task: broken_task\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {tasks / 'data.jsonl'}\n"
        "test_split: test\noutput_type: multiple_choice\ndoc_to_text: '{{question.text}}'\ndoc_to_choice: ['a', 'b']\n"
        "doc_to_target: 0\n"
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
    # the queue says why, until the file is run again (its hook, beside the failed staging row)
    from evals.warehouse.queue import read_queue, submission_states

    events, staged, _, _ = read_queue(str(tmp_path / "wh"))
    failed = events.filter(pl.col("state") == "failed")
    assert failed.height == 1 and "broken_task" in failed["detail"][0]
    (entry,) = submission_states(events, staged, staged.clear()).to_dicts()
    assert entry["state"] == "failed" and "broken_task" in entry["detail"]
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
        "broken gguf": (  # refused from its header before anything runs (tests/evals/models/test_gguf_files.py)
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


@pytest.fixture(scope="module")
def demo_site_built(demo_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The real demo runs published (the publish flow) and built into the site (the build-site flow)."""
    from flows.publish import publish_results
    from flows.site import build_site

    out = tmp_path_factory.mktemp("demo-site")
    warehouse = str(demo_runs["warehouse"])
    for name in ("demo-trained", "demo-untrained"):
        run_id = pl.read_parquet(demo_runs[name] / "runs.parquet")["run_id"][0]
        publish_results(run_id, warehouse=warehouse, exports=str(out / "exports"), allow_limited=True)  # --limit runs
    return build_site(warehouse=warehouse, site_dir=str(out / "site"), pages_dir=str(out / "pages"))


def test_demo_results_publish_and_build_the_site(demo_runs: dict[str, Path], demo_site_built) -> None:  # type: ignore[no-untyped-def]
    """The real demo results, not synthetic ones: published, ranked, and built into the site."""
    from evals.warehouse.storage import read_table

    warehouse = str(demo_runs["warehouse"])
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
    summary = demo_site_built
    assert summary.variants == 4
    site = Path(summary.index).parent
    board_data = (site / "assets" / "slmb" / "board.js").read_text()
    assert "SLMB-Demo-Trained" in board_data and "SLMB-Demo-Untrained" in board_data
    for slug in ("slmb-demo-trained", "slmb-demo-untrained"):
        assert "slmb_facts" in (site / "models" / slug / "index.html").read_text()
    assert HEAD_SHA in (site / "models" / "slmb-demo-trained" / "index.html").read_text()


def test_kept_items_are_lm_eval_s_and_make_the_published_scores(demo_runs: dict[str, Path]) -> None:
    """Every variant and offline task of a real run: one item per document and filter, right exactly where
    lm-eval's per-sample metric is 1, so the right items over all items are the score, to 1e-9."""
    catalog = load_catalog()
    run = demo_runs["demo-trained"]
    samples, scores = pl.read_parquet(run / "samples.parquet"), pl.read_parquet(run / "scores.parquet")
    for (variant, task), rows in samples.group_by(["variant_id", "task"]):
        entry = catalog.tasks[task]
        score = scores.filter(
            (pl.col("variant_id") == variant)
            & (pl.col("task") == task)
            & (pl.col("metric") == entry.metric)
            & (pl.col("filter") == entry.filter)
        ).row(0, named=True)
        scored = rows.filter(pl.col("filter") == entry.filter)
        assert scored.height == score["n_samples"] == rows["doc_id"].n_unique(), (variant, task)
        assert scored["correct"].null_count() == 0
        assert abs(scored["correct"].mean() - score["value"]) <= 1e-9, (variant, task)
        assert scored["prompt"].str.len_chars().min() > 0
        if scored["output_type"][0] == "multiple_choice":  # the metric's pick is the target exactly when right
            assert (scored["pick"] == scored["target"].cast(pl.Int64)).equals(scored["correct"]), (variant, task)
        else:
            assert scored["generation"].null_count() == 0 and scored["extracted"].null_count() == 0
        if entry.executes_code:  # every program's verdict is kept, and "passed" is exactly a right item
            assert (scored["sandbox"] == "passed").equals(scored["correct"]), (variant, task)
    arith = samples.filter((pl.col("task") == "slmb_arith") & (pl.col("variant_id") == "slmb-demo-trained--FP32"))
    assert set(arith["filter"]) == {"strict-match", "flexible-extract"}  # both filters' answers are kept


def test_the_shown_lm_eval_command_reproduces_the_published_score(  # type: ignore[no-untyped-def]
    demo_runs: dict[str, Path], demo_site_built, tmp_path: Path
) -> None:
    """Copy a demo score's lm-eval command out of the built page (its copy button), run it exactly as
    copied from the root of a checkout, and get the published number to 1e-9."""
    from playwright.sync_api import sync_playwright

    from evals import paths
    from evals.site.server import serve_in_background
    from evals.site.text import slug
    from evals.warehouse.storage import read_table
    from tests.evals.site.conftest import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install -y chromium")
    variant, task = "slmb-demo-trained--FP32", "slmb_code"  # generation, then programs in the sandbox
    box = f"#repro-slmb-code--{slug(variant)}"
    server, url = serve_in_background(Path(demo_site_built.index).parent)
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
            tab = context.new_page()
            tab.goto(url + "models/slmb-demo-trained/")
            tab.click(f"a[href='{box}']")
            tab.hover(f"{box} [data-kind='lm-eval'] pre")
            tab.click(f"{box} [data-kind='lm-eval'] [data-md-type='copy']")
            command = tab.evaluate("navigator.clipboard.readText()")
            # the same score's items, from the same page
            tab.goto(url + "models/slmb-demo-trained/?task=slmb_code&a=" + variant)
            tab.wait_for_selector(f"#slmb-items[data-ready='slmb_code|{variant}|']", state="attached")
            cards = tab.locator("#slmb-items-list article.slmb-item").count()
            verdicts = tab.eval_on_selector_all(".slmb-sandbox", "nodes => nodes.map(n => n.textContent)")
            browser.close()
    finally:
        server.shutdown()
        server.server_close()

    published = read_table(str(demo_runs["warehouse"]), "scores").filter(
        (pl.col("variant_id") == variant) & (pl.col("task") == task) & (pl.col("metric") == "pass@1")
    )
    value = published["value"][0]
    assert cards == published["n_samples"][0] == LIMIT and len(verdicts) == LIMIT
    assert abs(sum(v == "passed" for v in verdicts) / LIMIT - value) <= 1e-9

    checkout = tmp_path / "checkout"  # a reader's checkout: the repo's files and what `slmbench fixtures` built
    checkout.mkdir()
    (checkout / ".slmbench").symlink_to(paths.home())
    (checkout / "evals").symlink_to(ROOT / "evals")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    done = subprocess.run(
        ["bash", "-c", command], cwd=checkout, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(next((checkout / "lm-eval-results").rglob("results_*.json")).read_text())["results"]
    assert abs(results[task]["pass@1,none"] - value) <= 1e-9, (results[task], value)
    assert f"{value!r}" in command  # the box names the number it reproduces


def test_a_head_sha_that_is_not_a_commit_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="head_sha: 'main' is not a full git commit id"):
        benchmark_submission(
            submission_path=str(ROOT / "models" / "submissions" / "demo-untrained.yaml"),
            output_dir=str(tmp_path / "run"),
            warehouse=str(tmp_path / "wh"),
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
