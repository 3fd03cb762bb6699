"""A user's suite that could never pass its contracts, or would run code outside the sandbox, is refused at plan time.

Each case starts from the real task folder of tests/evals/catalog/user_tasks.py (lm-eval's official
shapes) and breaks one thing; planning must name the task, the field and the fix before any
model loads. lm-eval's own HumanEval and MBPP folders, copied as a user would, are the
``unsafe_code`` cases.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import lm_eval
import pytest

from contracts.submission import load_submission
from evals.catalog.suites import CatalogError
from evals.plan.prepare import plan_submission
from evals.plan.units import PlanOptions
from tests.evals.catalog.user_tasks import SUITE_YAML, UserSuite, write_user_suite

ROOT = Path(__file__).resolve().parents[3]
LM_EVAL_TASKS = Path(lm_eval.__file__).parent / "tasks"


@pytest.fixture()
def user(tmp_path: Path, demo_models) -> UserSuite:
    suite = write_user_suite(tmp_path)
    text = suite.submission.read_text()
    suite.submission.write_text(text.replace("[reasoning, language]", "[reasoning, language, coding]"))
    return suite


def _plan(user: UserSuite, suite_yaml: str, suite: str = "held"):
    path = user.root / "suite.yaml"
    path.write_text(suite_yaml)
    options = PlanOptions(suite=f"{path}:{suite}", tasks_dirs=(user.tasks_dir,), submission_path=str(user.submission))
    return plan_submission(load_submission(user.submission), options)


def test_the_user_suite_plans(user: UserSuite) -> None:
    plan = _plan(user, SUITE_YAML)
    assert sorted(d.task for d in plan.tasks if d.user) == ["held_arc", "held_arc_easy", "held_boolq", "held_tqa"]


def test_a_user_task_named_like_a_built_in_one_is_refused_with_the_reason(user: UserSuite) -> None:
    suite = SUITE_YAML.replace("  held_boolq: {lm_eval: held_boolq", "  boolq: {lm_eval: held_boolq").replace(
        "held_boolq, held_tqa", "boolq, held_tqa"
    )
    with pytest.raises(CatalogError, match=r"'boolq' names a built-in task; published scores are keyed"):
        _plan(user, suite)


@pytest.mark.parametrize(
    ("folder", "entry"),
    [
        ("humaneval", '{lm_eval: humaneval, category: coding, metric: "pass@1", filter: create_test, baseline: 0.0}'),
        ("mbpp", "{lm_eval: mbpp, category: coding, metric: pass_at_1, baseline: 0.0}"),
    ],
)
def test_lm_eval_code_tasks_copied_into_a_user_folder_are_refused(user: UserSuite, folder: str, entry: str) -> None:
    shutil.copytree(LM_EVAL_TASKS / folder, user.tasks_dir / folder, ignore=shutil.ignore_patterns("__pycache__"))
    suite = SUITE_YAML.replace("tasks:\n", f"tasks:\n  my_code: {entry}\n").replace("[held_arc,", "[my_code, held_arc,")
    with pytest.raises(CatalogError) as refused:
        _plan(user, suite)
    message = str(refused.value)
    assert f"task 'my_code' (suite.yaml; lm-eval task '{folder}')" in message
    assert "marked unsafe_code: true" in message and "evals/sandbox/launcher.py" in message
    assert "evals/catalog/overrides/humaneval_sandboxed.yaml" in message and "executes_code: true" in message


def test_unsafe_code_inherited_through_include_is_refused_too(user: UserSuite) -> None:
    shutil.copytree(LM_EVAL_TASKS / "mbpp", user.tasks_dir / "mbpp", ignore=shutil.ignore_patterns("__pycache__"))
    (user.tasks_dir / "mbpp" / "my_mbpp.yaml").write_text("include: mbpp.yaml\ntask: my_mbpp\nnum_fewshot: 0\n")
    suite = SUITE_YAML.replace(
        "tasks:\n", "tasks:\n  my_mbpp: {lm_eval: my_mbpp, category: coding, metric: pass_at_1, baseline: 0.0}\n"
    ).replace("[held_arc,", "[my_mbpp, held_arc,")
    with pytest.raises(CatalogError, match="lm-eval task 'my_mbpp'.*marked unsafe_code: true"):
        _plan(user, suite)


def test_the_workers_never_let_lm_eval_run_an_unsafe_task(user: UserSuite, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second line, should planning ever be bypassed: lm-eval refuses before generating anything, and
    evaluate's code_eval (which lm-eval's own HumanEval and MBPP call) stays switched off in a worker."""
    import os

    from evals.engine.worker import ModelWorker

    monkeypatch.setenv("HF_ALLOW_CODE_EVAL", "1")
    (user.tasks_dir / "unsafe.yaml").write_text(
        "task: held_unsafe\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: {user.tasks_dir / 'data' / 'boolq_validation.jsonl'}\ntest_split: test\nunsafe_code: true\n"
        "output_type: generate_until\ndoc_to_text: '{{passage}}'\ndoc_to_target: '{{question}}'\n"
    )
    plan = _plan(user, SUITE_YAML)
    unit = next(u for u in plan.units if u.subtask == "held_boolq")
    unsafe = dataclasses.replace(unit, task="held_unsafe", subtask="held_unsafe", output_type="generate_until")
    worker = ModelWorker(unit.variant, plan.include_paths, n_threads=1)
    with pytest.raises(ValueError, match="held_unsafe which is marked as unsafe"):
        worker.run(unsafe)
    assert os.environ["HF_ALLOW_CODE_EVAL"] == "0"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("held_boolq, category: language, metric: acc,", "held_boolq, category: language, metric: acc_norm,"),
            r"task 'held_boolq' \(suite.yaml; lm-eval task 'held_boolq'\): metric 'acc_norm' is not one the task "
            r"reports \(acc\); set the catalog entry's metric to one of them, or add 'acc_norm' to the task's",
        ),
        (
            ("metric: acc_norm, num_fewshot: 0", "metric: acc_norm, filter: strict-match, num_fewshot: 0"),
            r"task 'held_arc' .*: filter 'strict-match' is not one the task applies \(none\)",
        ),
        (
            ("held_boolq, category: language", "held_boolq, category: edge"),
            r"task held_boolq: category 'edge' is measured by each variant's edge unit",
        ),
        (
            ("held_boolq, category: language, metric: acc,", "held_boolq, category: language, metric: perplexity,"),
            r"task held_boolq: metric 'perplexity' is not a proportion in \[0, 1\]",
        ),
    ],
)
def test_what_the_contracts_will_demand_is_checked_at_plan_time(
    user: UserSuite, change: tuple[str, str], message: str
) -> None:
    assert change[0] in SUITE_YAML
    with pytest.raises(CatalogError, match=message):
        _plan(user, SUITE_YAML.replace(*change))


def test_a_task_config_that_cannot_pass_is_refused_at_plan_time(user: UserSuite) -> None:
    boolq = user.tasks_dir / "held_boolq.yaml"
    original = boolq.read_text()
    boolq.write_text(original.replace("  - metric: acc\n", "  - metric: acc\n    higher_is_better: false\n"))
    with pytest.raises(CatalogError, match="marked higher_is_better: false"):
        _plan(user, SUITE_YAML)
    relative = original.replace(str(user.tasks_dir / "data") + "/", "data/")
    boolq.write_text(relative)
    with pytest.raises(CatalogError, match=r"data_files: 'data/boolq_train.jsonl' is relative"):
        _plan(user, SUITE_YAML)
    (user.tasks_dir / "data" / "boolq_validation.jsonl").write_text("")
    boolq.write_text(original)
    with pytest.raises(CatalogError, match="lm-eval task 'held_boolq'.*its evaluation split has no documents"):
        _plan(user, SUITE_YAML)


def test_a_user_folder_may_not_replace_a_task_of_the_project(user: UserSuite) -> None:
    from evals.catalog.pack import build_pack

    shutil.copy(build_pack() / "slmb_yesno.yaml", user.tasks_dir / "slmb_yesno.yaml")
    with pytest.raises(CatalogError, match=r"defines 'slmb_yesno', a task the project defines itself"):
        _plan(user, SUITE_YAML)


def test_slmbench_run_refuses_before_anything_runs(user: UserSuite) -> None:
    """The CLI checks the user's tasks before Prefect and Ray start: one line, no traceback, nothing written."""
    (user.root / "bad.yaml").write_text(
        SUITE_YAML.replace(
            "held_boolq, category: language, metric: acc,", "held_boolq, category: language, metric: acc_norm,"
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", str(user.submission), "--suite", f"{user.root / 'bad.yaml'}:held",
         "--tasks-dir", str(user.tasks_dir), "--output-dir", str(user.root / "run"), "--warehouse", str(user.root / "wh")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1
    assert "error: task 'held_boolq' (bad.yaml; lm-eval task 'held_boolq'): metric 'acc_norm'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (user.root / "run").exists() and not (user.root / "wh").exists()


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("SLMB_YESNO", r"'SLMB_YESNO' \(as 'slmb_yesno'\) names a built-in task; .*compared ignoring case"),
        ("ｓｌｍｂ_ｙｅｓｎｏ", r"\(as 'slmb_yesno'\) names a built-in task"),
        ("my_task\u3164", r"invisible character U\+3164"),
        ("my_t\u0430sk", "mixes letters of the Latin and Cyrillic scripts"),
    ],
)
def test_a_user_task_named_like_a_built_in_one_after_nfkc_and_case_folding_is_refused(
    tmp_path: Path, entry: str, reason: str
) -> None:
    """A user task SLMB_YESNO was accepted beside the built-in slmb_yesno (issue 20)."""
    from evals.catalog.suites import load_catalog

    path = tmp_path / "suite.yaml"
    path.write_text(
        f"tasks:\n  {entry}: {{lm_eval: slmb_yesno, category: language, metric: acc, baseline: 0.5}}\n"
        f"suites:\n  mine: {{tasks: [{entry}]}}\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogError, match=reason):
        load_catalog().with_user_file(path)


def test_two_user_tasks_that_differ_only_in_case_are_refused(tmp_path: Path) -> None:
    from evals.catalog.suites import load_catalog

    entry = "{lm_eval: slmb_yesno, category: language, metric: acc, baseline: 0.5}"
    path = tmp_path / "suite.yaml"
    path.write_text(f"tasks:\n  my_yesno: {entry}\n  My_YesNo: {entry}\nsuites:\n  mine: {{tasks: [my_yesno]}}\n")
    with pytest.raises(CatalogError, match="'my_yesno' and 'My_YesNo' are one name"):
        load_catalog().with_user_file(path)
