"""Write the offline task pack: one lm-eval YAML per task, JSONL data, utils.py, a manifest.

The whole pack is rendered in memory first (it is small), so its digest is
known before anything touches the disk: a folder whose manifest carries the
same digest is reused, anything else is rebuilt in a temporary sibling and
renamed into place, so a reader never sees a half-written pack.

Usage::

    from evals.catalog.pack import build_pack
    pack = build_pack()
    # lm_eval --model hf --model_args pretrained=<dir> --include_path <pack> --tasks slmb_facts
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import yaml

from evals import paths
from evals.catalog.pack import items, safety, shapes, truthful

GENERATOR_VERSION = "2"
MANIFEST = "manifest.json"
TAG = "slmb_offline"  # lm-eval tag naming every pack task at once
# The tasks whose data comes from the training world (items.py); the safety
# tasks (safety.py), the many-choice task (truthful.py) and the request-shape
# tasks (shapes.py) are listed apart because their documents come from there.
TASKS: tuple[str, ...] = ("slmb_facts", "slmb_story", "slmb_yesno", "slmb_arith", "slmb_code")
ALL_TASKS: tuple[str, ...] = TASKS + safety.TASKS + truthful.TASKS + shapes.TASKS
_MC_METRICS = [
    {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
    {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
]


def _jinja(task: str) -> str:
    """``doc_to_text`` for lm-eval, from the same format string the corpus renders."""
    return items.PROMPTS[task].replace("{", "{{").replace("}", "}}")


def _task_config(name: str, data_file: Path) -> dict[str, Any]:
    short = name.removeprefix("slmb_")
    base: dict[str, Any] = {
        "task": name,
        "tag": [TAG],
        "dataset_path": "json",
        # lm-eval hands these to datasets.load_dataset("json", ...): must be absolute
        "dataset_kwargs": {"data_files": {"test": str(data_file)}},
        "test_split": "test",
        "num_fewshot": 0,
    }
    if name in safety.TASKS:
        return safety.task_config(name, base, _Function)
    if name in truthful.TASKS:  # scored by lm-eval's own TruthfulQA-MC2 function (pack_utils.py)
        return truthful.task_config(name, base) | {"process_results": _Function("utils.process_results_mc2")}
    if name in shapes.TASKS:
        return shapes.task_config(name, base, _Function)
    base["doc_to_text"] = _jinja(short)
    if short in ("facts", "story"):
        return base | {
            "output_type": "multiple_choice",
            "doc_to_choice": "{{choices}}",
            "doc_to_target": "{{label}}",
            "metric_list": _MC_METRICS,
        }
    if short == "yesno":
        return base | {
            "output_type": "multiple_choice",
            "doc_to_choice": ["no", "yes"],
            "doc_to_target": "{{label}}",
            "metric_list": _MC_METRICS[:1],
        }
    if short == "arith":
        return base | {
            "output_type": "generate_until",
            "doc_to_target": "{{result}}",
            "generation_kwargs": {"until": ["\n", "question:"], "max_gen_toks": 32, "do_sample": False},
            # as gsm8k: strict reads the "#### n" line, flexible the last number
            "filter_list": [
                {
                    "name": "strict-match",
                    "filter": [
                        {"function": "regex", "regex_pattern": "#### (\\-?[0-9]+)"},
                        {"function": "take_first"},
                    ],
                },
                {
                    "name": "flexible-extract",
                    "filter": [
                        {"function": "regex", "group_select": -1, "regex_pattern": "(-?[0-9]+)"},
                        {"function": "take_first"},
                    ],
                },
            ],
            "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
        }
    if short == "code":
        return base | {
            "output_type": "generate_until",
            "doc_to_target": "{{test}}",
            "generation_kwargs": {
                "until": ["\ndef", "\nclass", "\nif", "\nprint", "\n#", "\nassert", "\n\n"],
                "max_gen_toks": 48,
                "do_sample": False,
            },
            # process_results replaces lm-eval's code_eval (a hub download) with our sandbox; it also
            # returns the sandbox's verdict per program, logged with each sample and counted, not scored
            "process_results": _Function("utils.process_results"),
            "metric_list": [
                {"metric": "pass@1", "aggregation": "mean", "higher_is_better": True},
                {"metric": "sandbox", "aggregation": _Function("utils.verdicts"), "higher_is_better": True},
            ],
        }
    raise ValueError(f"unknown pack task {name!r}; known: {', '.join(ALL_TASKS)}")


class _Dumper(yaml.SafeDumper):
    """Writes strings with a newline as one double-quoted line (``"a\\nb"``), as lm-eval's own YAMLs do,
    and :class:`_Function` as lm-eval's ``!function`` tag."""


class _Function(str):
    """A ``module.function`` lm-eval resolves from the pack's folder (``!function utils.process_results``)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if "\n" in value else None)


def _function(dumper: yaml.SafeDumper, value: _Function) -> yaml.ScalarNode:
    return dumper.represent_scalar("!function", str(value))


_Dumper.add_representer(str, _str)
_Dumper.add_representer(_Function, _function)


def _yaml(config: dict[str, Any]) -> bytes:
    text = yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=False, width=1000)
    return (text + "metadata:\n  version: " + GENERATOR_VERSION + ".0\n").encode()


def _jsonl(docs: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(d, sort_keys=True, ensure_ascii=True) + "\n" for d in docs).encode()


def _utils_source() -> bytes:
    source = (Path(__file__).parent / "pack_utils.py").read_text()
    evals_parent = str(Path(__file__).resolve().parents[3])
    marker = '_EVALS_PARENT = ""'
    if marker not in source:
        raise RuntimeError(f"pack_utils.py lost its {marker!r} line; build_pack fills it in")
    return source.replace(marker, f"_EVALS_PARENT = {evals_parent!r}", 1).encode()


def render(dest: Path) -> dict[str, bytes]:
    """Every file of the pack as it will be written under ``dest`` (paths inside are absolute)."""
    docs = items.eval_docs() | safety.docs() | truthful.docs() | shapes.docs()
    files: dict[str, bytes] = {"utils.py": _utils_source()}
    for name in ALL_TASKS:
        short = name.removeprefix("slmb_")
        files[f"data/{short}.jsonl"] = _jsonl(docs[short])
        files[f"{name}.yaml"] = _yaml(_task_config(name, dest / "data" / f"{short}.jsonl"))
    return files


def digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256(f"slmb-taskpack/{GENERATOR_VERSION}\n".encode())
    for rel in sorted(files):
        h.update(f"{rel}\n{len(files[rel])}\n".encode())
        h.update(files[rel])
    return h.hexdigest()


def read_manifest(pack: Path) -> dict[str, Any] | None:
    """The pack's manifest, or None when there is none or it is unreadable."""
    try:
        return json.loads((pack / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _is_current(pack: Path, files: dict[str, bytes], expected: str) -> bool:
    manifest = read_manifest(pack)
    if manifest is None or manifest.get("digest") != expected:
        return False
    # a file edited or deleted by hand invalidates the cache too
    return all((pack / rel).is_file() and (pack / rel).read_bytes() == data for rel, data in files.items())


def build_pack(dest: Path | None = None, force: bool = False) -> Path:
    """Build the pack at ``dest`` (default ``paths.taskpack_dir()``), reusing an identical one.

    Returns the pack folder, to pass to lm-eval as ``--include_path``.
    """
    dest = Path(dest if dest is not None else paths.taskpack_dir()).resolve()
    files = render(dest)
    expected = digest(files)
    if not force and _is_current(dest, files, expected):
        return dest
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "digest": expected,
        "tasks": list(TASKS),
        "safety_tasks": list(safety.TASKS),
        "many_choice_tasks": list(truthful.TASKS),
        "shape_tasks": list(shapes.TASKS),
        "files": {rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(files.items())},
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex}"
    try:
        for rel, data in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(data)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _swap_in(tmp, dest, files, expected)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _swap_in(tmp: Path, dest: Path, files: dict[str, bytes], expected: str) -> None:
    """Replace ``dest`` by ``tmp`` with renames; a concurrent builder of the same pack may win."""
    old = dest.parent / f".{dest.name}.old-{uuid.uuid4().hex}"
    if dest.exists():
        dest.rename(old)
    try:
        tmp.rename(dest)
    except OSError:
        # another process put a pack there between our two renames; fine if it is ours
        if not _is_current(dest, files, expected):
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
