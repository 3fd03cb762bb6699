"""The commands that reproduce a score: plain lm-eval, and SLM Bench itself.

A reader can check a score without SLM Bench: lm-eval's own CLI, its HF model,
the same task configs (``include_path``), limit, few-shot count, seed and batch
size. :func:`lm_eval_command` is that command as argv for a local model folder
(the engine test and the engine benchmark run it); :func:`reproduce` writes
both commands for one published score, as the site's "reproduce" box shows
them, from the score's runs row alone.

Where plain lm-eval cannot give the published number, no lm-eval command is
shown, and the box says why: a llama.cpp score (lm-eval has no in-process
llama.cpp model: its ``gguf`` type goes through llama.cpp's server, which
drops each continuation's last token, and the transformers run of the same
file dequantizes it, while llama.cpp also quantizes activations, so neither
gives this number), or weights that were local files outside the repository.
The ``slmbench run`` command reproduces every score.

Public pages never show the publishing machine's own paths: a path inside the
repository is shown relative to it; local weights elsewhere are named by their
digest; a run's own files (its submission, a user suite's task files) by where
SLM Bench keeps its run folder in a checkout (``.slmbench/runs/<run id>``), so
the command runs as printed once that folder is there.
"""

from __future__ import annotations

from contracts.backends import BACKENDS

import json
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.quantizations import FLOAT_PRECISIONS
from contracts.submission import FIXTURE_SCHEME, SUBMISSIONS_DIR

# Paths as a reader has them at the root of a checkout, once `slmbench fixtures` ran there with the
# default home (evals.paths): the demo models' HF folders and the offline task pack.
HOME = ".slmbench"
FIXTURE_HF_DIR = HOME + "/fixtures/{name}/hf"
PACK_DIR = HOME + "/taskpack"
RUN_DIR = HOME + "/runs/{run_id}"  # evals.paths.runs_dir() under the default home
REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIR = "lm-eval-results"
# What a run used when its runs row predates these columns (the "suites" and "models" work adds them).
DEFAULT_BATCH_SIZE = 1
DEFAULT_CHAT_TEMPLATE = False


def lm_eval_command(
    hf_dir: Path,
    tasks: Sequence[str],
    *,
    output_path: Path,
    include_paths: Sequence[Path] = (),
    limit: int | None = None,
    num_fewshot: int = 0,
    seed: int = 1234,
    dtype: str = "float32",
    device: str = "cpu",
    apply_chat_template: bool = False,
    fewshot_as_multiturn: bool = True,
    system_instruction: str | None = None,
) -> list[str]:
    """argv for ``python -m lm_eval`` on one local HF model folder (batch size 1, as our workers).

    With ``apply_chat_template``, prompts go through the tokenizer's chat template as a variant with
    ``chat_template`` set runs them (lm-eval's ``--apply_chat_template``, ``--fewshot_as_multiturn``
    and ``--system_instruction``).
    """
    options = lm_eval_options(
        f"pretrained={hf_dir},dtype={dtype}",
        ",".join(tasks),
        output_path=str(output_path),
        include_paths=[str(p) for p in include_paths],
        limit=limit,
        num_fewshot=num_fewshot,
        seed=seed,
        device=device,
        apply_chat_template=apply_chat_template,
        fewshot_as_multiturn=fewshot_as_multiturn,
        system_instruction=system_instruction,
    )
    return [sys.executable, "-m", "lm_eval", *options]


def lm_eval_options(
    model_args: str,
    tasks: str,
    *,
    output_path: str,
    include_paths: Sequence[str] = (),
    limit: int | None = None,
    num_fewshot: int = 0,
    seed: int = 1234,
    batch_size: int = 1,
    device: str = "cpu",
    apply_chat_template: bool = False,
    fewshot_as_multiturn: bool = True,
    system_instruction: str | None = None,
) -> list[str]:
    """lm-eval's CLI options for its HF model: the one builder of both the command tests run and the one pages show."""
    options = ["--model", "hf", "--model_args", model_args]
    for path in include_paths:
        options += ["--include_path", path]
    options += ["--tasks", tasks, "--num_fewshot", str(num_fewshot)]
    if limit is not None:
        options += ["--limit", str(limit)]
    options += ["--seed", str(seed), "--batch_size", str(batch_size), "--device", device]
    if apply_chat_template:
        options += ["--apply_chat_template", "--fewshot_as_multiturn", str(fewshot_as_multiturn).lower()]
        if system_instruction is not None:
            options += ["--system_instruction", system_instruction]
    return options + ["--output_path", output_path]


# Where the shown command breaks its line: before these options.
_LINE_BREAKS = ("--model_args", "--include_path", "--tasks", "--seed", "--system_instruction")


def _shown(options: Sequence[str]) -> str:
    """``lm_eval`` with ``options``, shell-quoted, over a few lines a reader can follow."""
    lines, line = [], ["lm_eval"]
    for word in options:
        if word in _LINE_BREAKS:
            lines.append(" ".join(line))
            line = ["  " + word]
        else:
            line.append(shlex.quote(word))
    return " \\\n".join([*lines, " ".join(line)])


@dataclass(frozen=True)
class PublishedScore:
    """One published task score, as the site has it: its run's row and its task."""

    run: Mapping[str, Any]  # the variant's row of the runs table
    task: str  # catalog key
    lm_eval_task: str  # the lm-eval task or group the score is read from
    metric: str
    filter: str
    num_fewshot: int
    value: float
    n_samples: int
    task_dir: str | None = None  # the task's folder in the checkout (offline pack, catalog tasks_dirs); None: lm-eval's
    dataset_revision: str | None = None  # the hub dataset's commit the score was measured on (scores.dataset_revision)


@dataclass(frozen=True)
class Reproduction:
    """The commands behind a score; ``lm_eval`` is None where plain lm-eval cannot give it (``why_not`` says why)."""

    lm_eval: str | None
    slmbench: str
    why_not: str | None = None


def reproduce(score: PublishedScore) -> Reproduction:
    """Both commands for one published score."""
    run = score.run
    if BACKENDS[run["backend"]].lm_eval_model is None:
        return Reproduction(None, slmbench_command(score), BACKENDS[run["backend"]].lm_eval_why_not)
    weights = _pretrained(run)
    if weights is None:
        where = "local files outside the repository" if run.get("local_path") else "not recorded"
        why = (
            f"the weights' location was {where}, so no command can name them (their files hash to "
            f"{run.get('weights_digest')}). The SLM Bench command reruns the submission."
        )
        return Reproduction(None, slmbench_command(score), why)
    return Reproduction(_lm_eval_text(score, weights), slmbench_command(score))




def _pretrained(run: Mapping[str, Any]) -> str | None:
    """The ``pretrained=...`` value for lm-eval's HF model, or None when the weights are nowhere a reader can reach."""
    local = run.get("local_path")
    if local and local.startswith(FIXTURE_SCHEME):
        return FIXTURE_HF_DIR.format(name=local.removeprefix(FIXTURE_SCHEME))
    if local:
        # a path inside the repository (a pull request's own folder) is in the checkout; any other is not
        return in_repository(local)
    repo = run.get("hf_repo")
    if not repo:
        return None
    return f"{repo},revision={run['revision']}" if run.get("revision") else repo


def _lm_eval_text(score: PublishedScore, weights: str) -> str:
    run = score.run
    versions = _json(run.get("versions"))
    dtype = FLOAT_PRECISIONS.get(str(run.get("precision")), "float32")
    device = "cuda" if _json(run.get("hardware")).get("gpu") else "cpu"
    batch = run.get("batch_size") or DEFAULT_BATCH_SIZE
    seed = run.get("seed", 1234)
    chat = chat_template(run)
    pins = " ".join(
        f'"{dist}=={versions[key]}"'
        for dist, key in (("lm-eval", "lm_eval"), ("transformers", "transformers"), ("torch", "torch"))
        if versions.get(key) and versions[key] != "absent"
    )
    setup = [f"# lm-eval {versions.get('lm_eval', '?')} alone: pip install {pins or 'lm-eval'}"]
    task_dir = _task_dir(score)
    built = task_dir == PACK_DIR or weights.startswith(HOME)  # the task pack or a demo model
    if task_dir and task_dir.startswith(RUN_DIR.format(run_id="")):
        setup.append(f"# with the run's folder (run {run['run_id']}: its tasks/) at {task_dir.removesuffix('/tasks')}")
    if task_dir or built:
        where = f"# from the root of an SLM Bench checkout at commit {_commit(run)}"
        setup.append(
            where + (", after `slmbench fixtures` (it builds the demo models and the task pack)" if built else "")
        )
    options = lm_eval_options(
        f"pretrained={weights},dtype={dtype}",
        score.lm_eval_task,
        output_path=OUTPUT_DIR,
        include_paths=[task_dir] if task_dir else (),
        limit=run.get("limit") or None,
        num_fewshot=score.num_fewshot,
        seed=seed,
        batch_size=batch,
        device=device,
        apply_chat_template=chat,
        # the runs row's options, as the worker passed them (evals.models.variants.Variant.chat_options)
        fewshot_as_multiturn=run.get("fewshot_as_multiturn") is not False,
        system_instruction=str(run["system_instruction"]) if run.get("system_instruction") else None,
    )
    lines = [_shown(options)]
    if score.dataset_revision:
        # lm-eval 0.4.13's CLI has no option for it: --metadata reaches only custom dataset loaders.
        lines.append(
            f"# the score was measured on the task's hub dataset at commit {score.dataset_revision}; lm-eval's CLI "
            "loads the commit the hub resolves now: to load that one, add `dataset_kwargs: {revision: "
            f"{score.dataset_revision}}}` to a copy of the task's YAML"
        )
    said = "on (the tokenizer's)" if chat else "off"
    lines.append(f"# as run: batch size {batch}, chat template {said}, seed {seed} for python, numpy, torch, few-shot")
    where = f'results["{score.lm_eval_task}"]["{score.metric},{score.filter}"]'
    lines.append(f"# the score, {score.value!r}: {where} in {OUTPUT_DIR}/*/results_*.json")
    return "\n".join(setup + lines)


def in_repository(path: str) -> str | None:
    """``path`` relative to the repository root, when it lies inside it (as given or absolute); else None."""
    given = Path(path)
    if ".." in given.parts or "\\" in path or path.startswith("~"):
        return None
    if not given.is_absolute():
        return path
    return str(given.relative_to(REPO_ROOT)) if given.is_relative_to(REPO_ROOT) else None


def _run_folder(run: Mapping[str, Any]) -> str:
    return RUN_DIR.format(run_id=run["run_id"])


def _task_dir(score: PublishedScore) -> str | None:
    """The score's task folder as a reader has it: in the checkout, or the run folder's kept copy."""
    if score.task_dir is None:
        return None
    if score.task_dir == score.run.get("tasks_folder"):  # a user's task files, as the run kept them
        return _run_folder(score.run) + "/tasks"
    return in_repository(score.task_dir) or score.task_dir


def chat_template(run: Mapping[str, Any]) -> bool:
    """Whether the run put its prompts through the model's own chat template (the runs row's ``chat_template``)."""
    value = run.get("chat_template")
    return DEFAULT_CHAT_TEMPLATE if value is None else bool(value)


def slmbench_command(score: PublishedScore) -> str:
    """``slmbench run`` of the submission with the run's suite, seed and limit: the run that measured the score."""
    run = score.run
    commit = _commit(run)
    head = (
        f"git checkout {commit}"
        if commit != "unknown"
        else "# the run's commit is unknown: use the release that published it"
    )
    if str(run.get("repo_commit", "")).endswith("-dirty"):
        head += "  # the run had uncommitted changes on top of this commit"
    limit = f" --limit {run['limit']}" if run.get("limit") else ""
    batch = f" --batch-size {run['batch_size']}" if (run.get("batch_size") or DEFAULT_BATCH_SIZE) > 1 else ""
    folder = _run_folder(run)
    kept = bool(run.get("tasks_folder"))  # a user's suite: its files are not in the checkout, the run kept a copy
    # a submission in the repository's queue is in the checkout at that commit; any other file only in the run folder
    submission = in_repository(str(run.get("submission_path") or ""))
    if kept or not submission or not submission.startswith(SUBMISSIONS_DIR):
        submission = None
    suite = str(run.get("suite"))
    if kept:
        name = suite.rpartition(":")[2] if ":" in suite else ""
        suite = f"{folder}/tasks/suite.yaml" + (f":{name}" if name else "")
    if submission is None:  # the run kept the submission's bytes (and a user suite's files) in its folder
        head += f"\n# with the run's folder (run {run['run_id']}: submission.yaml, tasks/) at {folder}"
        submission = f"{folder}/submission.yaml"
    tasks_dir = f" --tasks-dir {folder}/tasks" if kept else ""
    pin = f" --dataset-revision {shlex.quote(f'{score.task}={score.dataset_revision}')}" if score.dataset_revision else ""
    command = (
        f"slmbench run {shlex.quote(submission)} --suite {shlex.quote(suite)} "
        f"--seed {run.get('seed', 1234)}{limit}{batch}{tasks_dir}{pin}"
    )
    where = f"# the score: task {score.task}, variant {run.get('variant_id')}, {score.metric} ({score.filter}) in the run summary"
    if chat_template(run):  # the submission file sets it per variant: the same file, the same prompts
        where += "\n# that variant's chat_template options (few-shot as multi-turn, system instruction) are in the submission"
    return f"# in an SLM Bench checkout (make setup; . .venv/bin/activate)\n{head}\n{command}\n{where}"


def _commit(run: Mapping[str, Any]) -> str:
    return str(run.get("repo_commit") or "unknown").removesuffix("-dirty")


def _json(text: object) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
