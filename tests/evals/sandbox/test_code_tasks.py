"""HumanEval and MBPP, sandboxed: lm-eval's prompts and pass@1, programs run in evals.sandbox."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from evals.catalog.suites import load_catalog

OVERRIDES = Path(load_catalog().tasks_dirs[0])
KINDS = ("failed", "timed out", "killed", "sandbox error")
PROBLEM = {
    "task_id": "local/0",
    "prompt": 'def add(a, b):\n    """Return the sum of a and b."""\n',
    "canonical_solution": "    return a + b\n",
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
    "entry_point": "add",
}


def _utils():
    spec = importlib.util.spec_from_file_location("overrides_utils", OVERRIDES / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_catalog_points_at_the_sandboxed_tasks() -> None:
    catalog = load_catalog()
    assert catalog.tasks["humaneval"].lm_eval == "humaneval_sandboxed"
    assert catalog.tasks["mbpp"].lm_eval == "mbpp_sandboxed"
    for name in ("humaneval_sandboxed", "mbpp_sandboxed"):
        config = [line for line in (OVERRIDES / f"{name}.yaml").read_text().splitlines() if not line.startswith("#")]
        assert not [line for line in config if "code_eval" in line or "unsafe_code" in line]


def _humaneval(completion: str) -> dict:
    """The task's metric on PROBLEM, as lm-eval calls it: the create_test filter, then process_results."""
    utils = _utils()
    return utils.process_humaneval(PROBLEM, [utils.build_predictions([[completion]], [PROBLEM])[0]])


def _mbpp(tests: list[str], code: str) -> float:
    return _utils().process_mbpp({"test_list": tests}, [code])["pass_at_1"]


def test_humaneval_pass_at_1_runs_programs_in_the_sandbox() -> None:
    assert _humaneval(PROBLEM["canonical_solution"]) == {"pass@1": 1.0, "sandbox": "passed"}
    bad = _humaneval("    return a - b\n")
    assert (
        bad["pass@1"] == 0.0
        and bad["sandbox"].startswith("failed: exit status 1")
        and "AssertionError" in bad["sandbox"]
    )
    hostile = _humaneval("    import os\n    os.system('touch /tmp/pwned')\n    return a + b\n")
    assert hostile["pass@1"] == 0.0  # the audit hook refuses os.system
    assert hostile["sandbox"].startswith("failed: ") and "os.system" in hostile["sandbox"]


def test_mbpp_pass_at_1() -> None:
    tests = ["assert add(2, 3) == 5", "assert add(0, 0) == 0", "assert add(-1, 1) == 0"]
    assert _mbpp(tests, "def add(a, b):\n    return a + b\n") == 1.0
    assert _mbpp(tests, "def add(a, b):\n    return a * b\n") == 0.0
    assert _utils().mbpp_reference({"test_list": [*tests, "assert extra"]}) == "\n".join(tests)  # three asserts
    assert len(_utils().list_fewshot_samples()) == 3


def test_code_verdicts_aggregate_to_counts_and_leave_the_score_alone() -> None:
    utils = _utils()
    utils.TIMEOUT_S = 1.0  # this module's copy only: the loop need not run the task's 10 s
    looping = utils.process_humaneval(
        PROBLEM, [utils.build_predictions([["    while True:\n        pass\n"]], [PROBLEM])[0]]
    )
    assert looping["pass@1"] == 0.0 and looping["sandbox"] == "timed out: ran past the 1 s wall-clock limit"
    verdicts = [looping["sandbox"], "passed", "passed", "killed: by SIGSEGV before the tests finished"]
    assert utils.verdict_counts(verdicts) == "2 passed, 1 killed, 1 timed out"


def test_the_issue_s_early_exits_score_zero() -> None:
    """The two calls from the report that scored 1.0."""
    assert _mbpp(["assert f(1)==2"], "def f(x):\n    raise SystemExit") == 0.0
    assert _mbpp(["assert f(1)==2"], "import os\nos._exit(0)") == 0.0


MBPP_MAIN_BLOCKS = {
    "sys_exit_main": "import sys\n\ndef main():\n    return 0\n\nif __name__ == '__main__':\n    sys.exit(main())\n",
    "exit_builtin": "if __name__ == '__main__':\n    exit()\n",
    "raise_SystemExit": "if __name__ == '__main__':\n    raise SystemExit(0)\n",
    "os_exit": "import os\nos._exit(0)\n",
}


@pytest.mark.parametrize("tail", MBPP_MAIN_BLOCKS.values(), ids=MBPP_MAIN_BLOCKS.keys())
def test_mbpp_code_that_exits_in_its_main_block_scores_zero(tail: str) -> None:
    """MBPP's shape (code, then the three asserts): a wrong function plus an exit scores 0, as code_eval scores it."""
    tests = ["assert add(2, 3) == 5", "assert add(0, 0) == 0", "assert add(-1, 1) == 0"]
    right, wrong = "def add(a, b):\n    return a + b\n\n", "def add(a, b):\n    return a * b\n\n"
    assert _mbpp(tests, wrong + tail) == 0.0
    assert _mbpp(tests, right + tail) == 0.0  # the asserts never ran
    assert _mbpp(tests, right) == 1.0


def test_lm_eval_scores_humaneval_format_through_the_sandbox(demo_models, tmp_path: Path) -> None:
    """The real task config, pointed at local data of HumanEval's format, end to end in lm-eval."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from evals.backends import BackendSpec, load_backend

    data = tmp_path / "humaneval.jsonl"
    data.write_text("\n".join(json.dumps(PROBLEM | {"task_id": f"local/{i}"}) for i in range(2)) + "\n")
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "he_local.yaml").write_text(
        f"include: {OVERRIDES / 'humaneval_sandboxed.yaml'}\ntask: he_local\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\ngeneration_kwargs:\n  until: ['\\ndef']\n  max_gen_toks: 16\n"
    )
    lm = load_backend(BackendSpec(backend="transformers", path=demo_models["demo-trained"].hf_dir))
    out = simple_evaluate(
        model=lm,
        tasks=["he_local"],
        task_manager=TaskManager(include_path=[str(tasks), str(OVERRIDES)], include_defaults=False),
    )
    value = out["results"]["he_local"]["pass@1,create_test"]
    assert value in (0.0, 0.5, 1.0)
    samples = out["samples"]["he_local"]
    assert len(samples) == 2
    # every sample carries the sandbox's verdict, and the score is the share of "passed"
    assert all(s["sandbox"] == "passed" or s["sandbox"].split(":")[0] in KINDS for s in samples)
    assert value == sum(s["sandbox"] == "passed" for s in samples) / 2
    assert out["results"]["he_local"]["sandbox,create_test"] == _utils().verdict_counts([s["sandbox"] for s in samples])


pytestmark = pytest.mark.filterwarnings("ignore")
