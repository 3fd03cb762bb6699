"""A user's own suite, end to end as a user runs it: validate -> run -> publish -> the site.

The task folder is written here in the shapes of lm-eval's official ARC, BoolQ and
TruthfulQA-MC2 configs (tests/evals/catalog/user_tasks.py), with multiple-choice documents of 2 to 5
choices; the suite mixes those tasks with a built-in one. Nothing downstream of planning may
consult the built-in catalog for them: this process's catalog has none of the user's tasks,
so the contracts, the summary, the leaderboard and the pages can only know them from the
run's own records.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from evals import paths
from evals.catalog.suites import load_catalog
from flows.cli import main
from tests.evals.catalog.user_tasks import USER_TASKS, UserSuite, write_user_suite

LIMIT = 8
BATCH = 2


@dataclass(frozen=True)
class Published:
    suite: UserSuite
    run_dir: Path
    run_id: str
    warehouse: str
    site: Path
    output: dict[str, str]  # command -> what it printed


@pytest.fixture(scope="module")
def published(prefect_server, ray_local, demo_models, tmp_path_factory) -> Published:
    root = tmp_path_factory.mktemp("user-suite")
    suite = write_user_suite(root)
    output: dict[str, str] = {}

    def slmbench(*argv: str) -> None:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(list(argv))
        output[argv[0]] = out.getvalue()
        assert code == 0, (argv, out.getvalue()[-3000:])

    home = paths.home()  # the session's demo fixtures, found from the user's folder too
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("SLMBENCH_HOME", str(home))
        slmbench("validate", "sub.yaml")
        slmbench(
            "run", "sub.yaml", "--suite", "my_suite.yaml:held", "--tasks-dir", "my_tasks/",
            "--limit", str(LIMIT), "--batch-size", str(BATCH), "--output-dir", "run", "--warehouse", "wh",
        )  # fmt: skip
        run_id = pl.read_parquet(root / "run" / "runs.parquet")["run_id"][0]
        slmbench("publish", run_id, "--warehouse", "wh", "--exports", "exports", "--allow-limited")
    from flows.site import build_site

    summary = build_site(warehouse=str(root / "wh"), site_dir=str(root / "site"), pages_dir=str(root / "pages"))
    return Published(suite, root / "run", run_id, str(root / "wh"), Path(summary.index).parent, output)


@pytest.fixture(scope="module")
def lm_eval_results(published: Published, demo_models) -> dict:
    """lm-eval's own evaluator and HF model on the copies of the task files the run kept, same limit and batch size."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from evals.catalog.pack import build_pack

    kept = published.run_dir / "tasks"  # what a reader reproduces from, not the user's folder
    manager = TaskManager(include_path=[str(kept), str(build_pack())], include_defaults=False)
    out = simple_evaluate(
        model="hf",
        model_args=f"pretrained={demo_models['demo-trained'].hf_dir},dtype=float32",
        tasks=[*USER_TASKS.values(), "slmb_yesno"],
        num_fewshot=0,
        limit=LIMIT,
        batch_size=BATCH,
        device="cpu",
        task_manager=manager,
        random_seed=1234,
        numpy_random_seed=1234,
        torch_random_seed=1234,
        fewshot_random_seed=1234,
    )
    return out["results"]


def test_the_user_tasks_are_not_in_the_built_in_catalog() -> None:
    assert not set(USER_TASKS) & set(load_catalog().tasks)  # so every check below reads the run's own records


def test_validate_and_run_print_every_task_with_its_category_metric_and_score(published: Published) -> None:
    assert "ok   sub.yaml: Held-Out-Demo" in published.output["validate"]
    summary = (published.run_dir / "summary.md").read_text()
    assert summary in published.output["run"]
    assert f"batch size {BATCH}, 5 units (0 from cache, 0 failed)" in summary
    rows = [line for line in summary.splitlines() if line.startswith("| held_") or line.startswith("| slmb_")]
    assert len(rows) == 5
    assert all("?" not in row and "—" not in row for row in rows), rows
    assert "| held_arc (user: my_suite.yaml, my_tasks/held_arc_challenge.yaml) | reasoning | acc_norm |" in summary
    assert "| held_boolq (user: my_suite.yaml, my_tasks/held_boolq.yaml) | language | acc |" in summary
    assert f"published {published.run_id}: runs v" in published.output["publish"]


def test_scores_equal_lm_eval_on_the_same_folder(published: Published, lm_eval_results: dict) -> None:
    scores = pl.read_parquet(published.run_dir / "scores.parquet")
    assert set(scores["subtask"]) == {*USER_TASKS.values(), "slmb_yesno"}
    for row in scores.iter_rows(named=True):
        expected = lm_eval_results[row["subtask"]][f"{row['metric']},{row['filter']}"]
        assert abs(row["value"] - expected) <= 1e-9, (row, expected)
    # every metric lm-eval reported is there (acc and acc_norm for the ARC shapes, acc for mc2)
    assert set(scores.filter(pl.col("task") == "held_arc")["metric"]) == {"acc", "acc_norm"}


def test_the_run_folder_keeps_each_user_task_definition(published: Published) -> None:
    folder = published.run_dir / "tasks"
    definitions = {d["task"]: d for d in json.loads((folder / "definitions.json").read_text())}
    assert set(definitions) == {*USER_TASKS, "slmb_yesno"}
    assert definitions["slmb_yesno"]["user"] is False and definitions["slmb_yesno"]["source"] == "built-in"
    assert definitions["held_tqa"]["source"] == "my_suite.yaml, my_tasks/held_tqa_mc2.yaml"
    assert (folder / "suite.yaml").read_text() == published.suite.suite.read_text()
    # the YAML, the YAMLs it includes and the code beside it; not the data
    challenge = folder / "held_arc_challenge"
    assert sorted(p.name for p in challenge.iterdir()) == [
        "config_hash",
        "held_arc_challenge.yaml",
        "held_arc_easy.yaml",
        "utils.py",
    ]
    assert not list(folder.rglob("*.jsonl"))
    scores = pl.read_parquet(published.run_dir / "scores.parquet")
    for task, subtask in USER_TASKS.items():
        saved = (folder / subtask / "config_hash").read_text().strip()
        assert definitions[task]["config_hash"] == definitions[task]["subtasks"][subtask] == saved
        assert set(scores.filter(pl.col("subtask") == subtask)["task_config_hash"]) == {saved}
        copied = (folder / subtask / f"{subtask}.yaml").read_bytes()
        assert copied == (published.suite.tasks_dir / f"{subtask}.yaml").read_bytes()


def test_publish_and_the_leaderboard_use_the_runs_own_definitions(published: Published, lm_eval_results: dict) -> None:
    from evals.warehouse.storage import read_table

    runs = read_table(published.warehouse, "runs")
    assert runs.select("status", "batch_size", "suite").row(0) == ("published", BATCH, "my_suite.yaml:held")
    assert runs["tasks_folder"][0] == str((published.run_dir / "tasks").resolve())
    recorded = {d["task"]: d for d in json.loads(runs["task_definitions"][0])}
    assert recorded["held_arc"] | {"config_hash": None} == {
        "task": "held_arc",
        "lm_eval": "held_arc_challenge",
        "category": "reasoning",
        "metric": "acc_norm",
        "filter": "none",
        "num_fewshot": 0,
        "baseline": 0.25,
        "group": False,
        "executes_code": False,
        "config_hash": None,
        "user": True,
        "source": "my_suite.yaml, my_tasks/held_arc_challenge.yaml",
    }
    # each category score is the mean of its tasks' primary metrics, as lm-eval computed them
    primary = {t: lm_eval_results[s][f"{recorded[t]['metric']},none"] for t, s in USER_TASKS.items()}
    primary["slmb_yesno"] = lm_eval_results["slmb_yesno"]["acc,none"]
    board = read_table(published.warehouse, "leaderboard")
    assert board.height == 1
    reasoning = 100 * (primary["held_arc"] + primary["held_arc_easy"] + primary["held_tqa"]) / 3
    language = 100 * (primary["held_boolq"] + primary["slmb_yesno"]) / 2
    assert board["score_reasoning"][0] == pytest.approx(reasoning, abs=1e-9)
    assert board["score_language"][0] == pytest.approx(language, abs=1e-9)


def test_the_site_lists_the_user_tasks_with_their_source(published: Published) -> None:
    methodology = (published.site / "methodology" / "index.html").read_text()
    assert "User-defined tasks" in methodology
    model = (published.site / "models" / "held-out-demo" / "index.html").read_text()
    for task, subtask in USER_TASKS.items():
        assert f"my_suite.yaml, my_tasks/{subtask}.yaml" in methodology.replace("&#95;", "_").replace("&#46;", ".")
        assert f"<td>{task}</td>" in model and f"my_suite.yaml, my_tasks/{subtask}.yaml" in model


def test_the_samples_table_has_every_item_of_the_user_tasks(published: Published) -> None:
    from evals.warehouse.storage import read_table

    samples = read_table(published.warehouse, "samples").filter(pl.col("run_id") == published.run_id)
    scores = pl.read_parquet(published.run_dir / "scores.parquet")
    for task, subtask in USER_TASKS.items():
        rows = samples.filter((pl.col("task") == task) & (pl.col("subtask") == subtask) & (pl.col("filter") == "none"))
        n = scores.filter(pl.col("subtask") == subtask)["n_samples"][0]
        assert sorted(rows["doc_id"]) == list(range(n)), task
        # judged by the run's own primary metric: right or wrong for accuracy; mc2's is a probability mass
        verdicts = rows["correct"].null_count()
        assert verdicts == (n if task == "held_tqa" else 0), task
    # the model page's item browser has a file of them for each user task
    model = (published.site / "models" / "held-out-demo" / "index.html").read_text()
    for task in USER_TASKS:
        assert f'"{task}":{{"held-out-demo--FP32":["held-out-demo-fp32/{task.replace("_", "-")}.json.gz"' in model


def test_the_reproduce_box_of_a_user_task_names_the_kept_task_folder(published: Published) -> None:
    import re
    from html import unescape

    model = (published.site / "models" / "held-out-demo" / "index.html").read_text()
    boxes = {
        found[1]: unescape(found[2])
        for found in re.finditer(r'<section class="slmb-repro" id="repro-([^"]+)--[^"]+"[^>]*>(.*?)</section>', model)
    }
    kept = f".slmbench/runs/{published.run_id}/tasks"  # the run folder's copy, where a reader puts it
    for task, subtask in USER_TASKS.items():
        box = boxes[task.replace("_", "-")]
        assert f"  --include_path {kept} \\\n  --tasks {subtask} --num_fewshot 0 --limit {LIMIT}" in box, box
    assert "--include_path .slmbench/taskpack" in boxes["slmb-yesno"]  # a built-in task: the project's pack


def test_the_reproduce_box_shows_no_path_of_this_machine_and_its_command_runs_as_printed(
    published: Published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The box used to print the run's absolute task folder and end in ``--tasks-dir <the task folder>``."""
    import shlex
    import shutil

    from evals.site.reproduce import PublishedScore, reproduce
    from evals.warehouse.storage import read_table

    run = read_table(published.warehouse, "runs").row(0, named=True)
    score = PublishedScore(
        run, "held_arc", "held_arc_challenge", "acc_norm", "none", 0, 0.5, LIMIT, run["tasks_folder"]
    )
    shown = reproduce(score)
    assert shown.lm_eval is not None
    for text in (shown.lm_eval, shown.slmbench):
        assert str(published.run_dir.parent) not in text and "<" not in text, text
    page = (published.site / "models").rglob("index.html")
    assert not any(str(published.run_dir.parent) in p.read_text() for p in page)
    (command,) = [line for line in shown.slmbench.splitlines() if line.startswith("slmbench run ")]
    # a reader's checkout, with the run folder where the box says
    monkeypatch.chdir(tmp_path)
    shutil.copytree(published.run_dir, tmp_path / ".slmbench" / "runs" / published.run_id)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["plan", *shlex.split(command)[2:]])  # the same arguments, planned instead of run
    assert code == 0, out.getvalue()[-3000:]
    assert all(f"/{subtask}" in out.getvalue() for subtask in USER_TASKS.values())
