"""The commands behind a published score (evals/site/reproduce.py).

That the lm-eval command, copied from a built page, gives the published number
to 1e-9 is tests/flows/test_benchmark.py's test_the_shown_lm_eval_command_reproduces_the_published_score.
"""

from __future__ import annotations

import json
import shlex

from evals import paths
from evals.site.reproduce import FIXTURE_HF_DIR, HOME, PACK_DIR, PublishedScore, reproduce

RUN = {
    "run_id": "20260101T000000-m-abc123",
    "variant_id": "m--FP16",
    "backend": "transformers",
    "precision": "FP16",
    "hf_repo": "HuggingFaceTB/SmolLM2-135M",
    "revision": "93efa2f097d58c2a74874c7e644dbc9b0cee75a2",
    "local_path": None,
    "weights_digest": "ab" * 32,
    "submission_path": "models/submissions/smollm2.yaml",
    "suite": "full",
    "limit": None,
    "seed": 1234,
    "hardware": json.dumps({"cpu": "x", "gpu": "NVIDIA H200"}),
    "versions": json.dumps({"lm_eval": "0.4.13", "torch": "2.5.1", "transformers": "4.57.1"}),
    "repo_commit": "0123456789abcdef0123456789abcdef01234567",
}


def _score(run: dict, task: str = "mmlu", task_dir: str | None = None) -> PublishedScore:
    return PublishedScore(run, task, task, "acc", "none", 5, 0.2512345678901, 14042, task_dir)


def _argv(command: str) -> list[str]:
    """The command's words, as bash would split them (comments and line continuations dropped)."""
    return shlex.split(command.replace("\\\n", ""), comments=True)


def test_a_hub_score_names_repo_revision_dtype_device_and_every_setting() -> None:
    shown = reproduce(_score(RUN))
    argv = _argv(shown.lm_eval)
    assert argv[:2] == ["lm_eval", "--model"]
    options = dict(zip(argv[1::2], argv[2::2], strict=False))
    assert options["--model_args"] == f"pretrained=HuggingFaceTB/SmolLM2-135M,revision={RUN['revision']},dtype=float16"
    assert options["--tasks"] == "mmlu" and options["--num_fewshot"] == "5" and options["--seed"] == "1234"
    assert options["--batch_size"] == "1" and options["--device"] == "cuda"  # the run had a GPU
    assert "--limit" not in options and "--include_path" not in options and "--apply_chat_template" not in argv
    assert 'pip install "lm-eval==0.4.13" "transformers==4.57.1" "torch==2.5.1"' in shown.lm_eval
    assert 'results["mmlu"]["acc,none"]' in shown.lm_eval and "0.2512345678901" in shown.lm_eval


def test_batch_size_and_chat_template_are_read_from_the_run_when_recorded() -> None:
    argv = _argv(reproduce(_score(RUN | {"batch_size": 8, "chat_template": True})).lm_eval)
    assert argv[argv.index("--batch_size") + 1] == "8" and "--apply_chat_template" in argv
    assert "--apply_chat_template" not in _argv(reproduce(_score(RUN | {"chat_template": False})).lm_eval)


def test_a_demo_model_score_points_at_what_slmbench_fixtures_builds(demo_models) -> None:  # type: ignore[no-untyped-def]
    run = RUN | {"hf_repo": None, "revision": None, "local_path": "fixture://demo-trained", "limit": 12}
    shown = reproduce(_score(run | {"precision": "FP32"}, "slmb_facts", PACK_DIR))
    argv = _argv(shown.lm_eval)
    assert argv[argv.index("--include_path") + 1] == PACK_DIR and argv[argv.index("--limit") + 1] == "12"
    assert "slmbench fixtures" in shown.lm_eval and f"commit {RUN['repo_commit']}" in shown.lm_eval
    # the paths are the ones `slmbench fixtures` builds under the default home
    hf_dir = demo_models["demo-trained"].hf_dir
    assert FIXTURE_HF_DIR.format(name="demo-trained").removeprefix(HOME + "/") == str(hf_dir.relative_to(paths.home()))
    assert PACK_DIR.removeprefix(HOME + "/") == str(paths.taskpack_dir().relative_to(paths.home()))
    assert "pretrained=.slmbench/fixtures/demo-trained/hf,dtype=float32" in argv


def test_no_lm_eval_command_where_it_would_not_give_the_number() -> None:
    llamacpp = reproduce(_score(RUN | {"backend": "llamacpp", "precision": "Q4_K_M"}))
    assert llamacpp.lm_eval is None and "llama.cpp" in llamacpp.why_not
    outside = reproduce(_score(RUN | {"hf_repo": None, "local_path": "/home/someone/models/m"}))
    assert outside.lm_eval is None and "ab" * 32 in outside.why_not  # named by its digest
    assert "/home/someone" not in outside.why_not + outside.slmbench  # not by the publisher's own path
    for shown in (llamacpp, outside):
        assert "slmbench run models/submissions/smollm2.yaml --suite full --seed 1234" in shown.slmbench


def test_the_slmbench_command_quotes_what_a_shell_would_run() -> None:
    hostile = RUN | {"submission_path": "models/submissions/a b $(touch pwned).yaml", "limit": 5}
    shown = reproduce(_score(hostile))
    lines = [line for line in shown.slmbench.splitlines() if line.startswith("slmbench")]
    assert _argv(lines[0]) == [
        "slmbench",
        "run",
        "models/submissions/a b $(touch pwned).yaml",
        "--suite",
        "full",
        "--seed",
        "1234",
        "--limit",
        "5",
    ]
    assert f"git checkout {RUN['repo_commit']}" in shown.slmbench
    dirty = reproduce(_score(RUN | {"repo_commit": RUN["repo_commit"] + "-dirty"})).slmbench
    assert f"git checkout {RUN['repo_commit']}  # the run had uncommitted changes" in dirty


def test_a_user_task_is_reproduced_from_the_task_files_its_run_kept_without_the_publishers_paths() -> None:
    kept = "/home/maintainer/out/20260101T000000-m-abc123/tasks"
    run = RUN | {"batch_size": 4, "tasks_folder": kept, "suite": "my_suite.yaml:held"}
    shown = reproduce(_score(run, task="held_arc", task_dir=kept))
    folder = f".slmbench/runs/{RUN['run_id']}"
    argv = _argv(shown.lm_eval)
    assert argv[argv.index("--include_path") + 1] == f"{folder}/tasks"
    (command,) = [line for line in shown.slmbench.splitlines() if line.startswith("slmbench run")]
    assert _argv(command) == [
        "slmbench", "run", f"{folder}/submission.yaml", "--suite", f"{folder}/tasks/suite.yaml:held",
        "--seed", "1234", "--batch-size", "4", "--tasks-dir", f"{folder}/tasks",
    ]  # fmt: skip
    assert f"with the run's folder (run {RUN['run_id']}: submission.yaml, tasks/) at {folder}" in shown.slmbench
    for text in (shown.lm_eval, shown.slmbench):
        assert "/home/maintainer" not in text and "<" not in text


def test_a_submission_outside_the_repository_is_run_from_the_run_folders_copy() -> None:
    shown = reproduce(_score(RUN | {"submission_path": "/home/maintainer/subs/m.yaml"})).slmbench
    assert f"slmbench run .slmbench/runs/{RUN['run_id']}/submission.yaml --suite full" in shown
    assert "/home/maintainer" not in shown


def test_a_chat_variant_carries_the_runs_template_options() -> None:
    chat = RUN | {"chat_template": True, "fewshot_as_multiturn": False, "system_instruction": "Don't guess; $(id)"}
    shown = reproduce(_score(chat))
    argv = _argv(shown.lm_eval)
    assert "--apply_chat_template" in argv and argv[argv.index("--fewshot_as_multiturn") + 1] == "false"
    assert argv[argv.index("--system_instruction") + 1] == "Don't guess; $(id)"
    assert "chat_template options" in shown.slmbench
    default = _argv(reproduce(_score(RUN | {"chat_template": True, "fewshot_as_multiturn": True})).lm_eval)
    assert default[default.index("--fewshot_as_multiturn") + 1] == "true" and "--system_instruction" not in default
    for off in (RUN | {"chat_template": False}, RUN | {"chat_template": None}):
        assert "--apply_chat_template" not in _argv(reproduce(_score(off)).lm_eval)


def test_a_scores_dataset_revision_is_passed_on_to_the_slmbench_run_and_named_for_lm_eval() -> None:
    commit = "c0ffee" + "0" * 34
    score = PublishedScore(RUN, "mmlu", "mmlu", "acc", "none", 5, 0.25, 14042, None, dataset_revision=commit)
    shown = reproduce(score)
    run = next(line for line in shown.slmbench.splitlines() if line.startswith("slmbench run"))
    argv = shlex.split(run)
    assert argv[argv.index("--dataset-revision") + 1] == f"mmlu={commit}"
    assert f"revision: {commit}" in shown.lm_eval  # lm-eval's CLI has no such option: the box says how to pin it
    assert "--dataset-revision" not in reproduce(_score(RUN)).slmbench
