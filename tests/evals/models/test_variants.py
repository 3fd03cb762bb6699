"""Variants that apply their chat template: where the template is found, how the variant is named and keyed.

GGUF names read from the file are tested in ``tests/evals/models/test_gguf_types.py``; the whole run in
``tests/flows/test_model_variants.py``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from contracts.submission import load_submission, parse_submission
from evals.models.fixtures import TRAINED
from evals.models.fixtures.chat_template import DEMO_CHAT_TEMPLATE
from evals.models.variants import VariantError, check_local_weights, hf_chat_template, resolve_variants
from evals.plan.prepare import plan_submission
from evals.plan.units import PlanOptions

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "models" / "submissions" / "demo-trained-chat.yaml"


def _local(path: Path, fmt: str, name: str = "FP32", chat: str = "true") -> object:
    return parse_submission(
        f'model:\n  name: "m"\n  local_path: "{path}"\n  parameters: "1.7M"\n'
        f"  quantizations:\n    - {{name: {name}, format: {fmt}, chat_template: {chat}}}\n"
    )


def test_the_example_resolves_to_chat_and_plain_variants_with_their_own_cache_keys(demo_models) -> None:
    submission = load_submission(EXAMPLE)
    variants = {v.variant_id: v for v in resolve_variants(submission)}
    assert list(variants) == [
        "slmb-demo-trained--FP32",
        "slmb-demo-trained--FP32--chat",
        "slmb-demo-trained--Q4_1",  # its name read from the file
        "slmb-demo-trained--Q5_1--chat",
    ]
    digest = hashlib.sha256(DEMO_CHAT_TEMPLATE.encode()).hexdigest()
    chat, gguf_chat = variants["slmb-demo-trained--FP32--chat"], variants["slmb-demo-trained--Q5_1--chat"]
    assert (chat.chat_template_sha256, chat.fewshot_as_multiturn, chat.system_instruction) == (digest, True, None)
    assert (gguf_chat.chat_template_sha256, gguf_chat.system_instruction) == (digest, "Answer with the right word.")
    assert not variants["slmb-demo-trained--FP32"].chat_template
    assert variants["slmb-demo-trained--FP32"].weights_digest == chat.weights_digest  # same weights, two variants

    plan = plan_submission(submission, PlanOptions(suite="offline-quick", limit=4))
    keys = {u.name: u.cache_key for u in plan.units}
    plain, templated = keys["slmb-demo-trained--FP32/slmb_yesno"], keys["slmb-demo-trained--FP32--chat/slmb_yesno"]
    assert plain != templated
    # another system instruction is another prompt: another key
    other = json.loads(json.dumps(submission.model_dump()))
    other["model"]["quantizations"][1]["chat_template"] = {"system_instruction": "Be brief."}
    replanned = plan_submission(parse_submission(json.dumps(other)), PlanOptions(suite="offline-quick", limit=4))
    again = {u.name: u.cache_key for u in replanned.units}
    assert again["slmb-demo-trained--FP32--chat/slmb_yesno"] != templated
    assert again["slmb-demo-trained--FP32/slmb_yesno"] == plain


def test_weights_without_a_template_are_refused_before_anything_runs(demo_models, tmp_path: Path) -> None:
    folder = tmp_path / "hf"
    shutil.copytree(demo_models[TRAINED].hf_dir, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    del config["chat_template"]
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (problem,) = check_local_weights(_local(folder, "safetensors")).problems
    assert str(problem) == (
        "model.local_path: model 'm', quantization FP32 with its chat template: chat_template is set, but hf carries "
        "no chat template (no chat_template in tokenizer_config.json, nor a chat_template.jinja); remove "
        "chat_template, or use weights whose tokenizer ships one"
    )
    assert check_local_weights(_local(folder, "safetensors", chat="false")).problems == []


def test_a_gguf_without_a_template_is_refused(stories260k_path: Path) -> None:
    with pytest.raises(VariantError, match="stories260K.gguf carries no chat template .no tokenizer.chat_template"):
        resolve_variants(_local(stories260k_path, "gguf"))


def test_the_template_is_found_where_transformers_finds_it(demo_models, tmp_path: Path) -> None:
    """chat_template.jinja first, then chat_template.json, then tokenizer_config.json (a string, or a list of
    named templates whose "default" is used), checked against what AutoTokenizer loads."""
    import transformers

    folder = tmp_path / "hf"
    shutil.copytree(demo_models[TRAINED].hf_dir, folder)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    cases = {
        "tokenizer_config string": lambda: None,
        "tokenizer_config list": lambda: config_path.write_text(
            json.dumps({**config, "chat_template": [{"name": "default", "template": "{{ 'L' }}"}]})
        ),
        "chat_template.jinja": lambda: (folder / "chat_template.jinja").write_text("{{ 'J' }}"),
    }
    for case, change in cases.items():
        change()
        loaded = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True).chat_template
        loaded = loaded["default"] if isinstance(loaded, dict) else loaded
        assert hf_chat_template(folder) == loaded, case


def test_two_variants_resolving_to_one_variant_id_are_refused_at_plan_time(demo_models) -> None:
    """A GGUF whose name is read from the file, beside one that names the same type: one id, refused before any
    unit runs (it used to plan and run both, and fail the runs key at the very end), naming both."""
    submission = parse_submission(
        'model:\n  name: "Twice"\n  local_path: "fixture://demo-trained"\n  parameters: "1.7M"\n  test_model: true\n'
        "  quantizations:\n"
        '    - {format: gguf, gguf_file: "demo-trained-Q4_1.gguf"}\n'
        "    - {name: Q4_1, format: gguf}\n"
    )
    with pytest.raises(
        VariantError,
        match=r"quantizations\[0\] \(demo-trained-Q4_1.gguf\) and quantizations\[1\] "
        r"\(Q4_1\) both resolve to variant 'twice--Q4_1'",
    ):
        resolve_variants(submission)
    with pytest.raises(VariantError, match="both resolve"):
        plan_submission(submission, PlanOptions(suite="offline-quick", limit=2))


def test_a_gguf_file_linked_out_of_its_folder_is_refused(stories260k_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "models" / "submissions" / "mine"
    folder.mkdir(parents=True)
    (folder / "model.gguf").symlink_to(stories260k_path)  # any .gguf on the worker, through a link
    submission = parse_submission(
        f'model:\n  name: "m"\n  local_path: "{folder}"\n  test_model: true\n  parameters: "260K"\n'
        "  quantizations:\n    - {format: gguf, gguf_file: model.gguf}\n"
    )
    with pytest.raises(VariantError, match="gguf_file 'model.gguf' leads outside local_path"):
        resolve_variants(submission)
    (problem,) = check_local_weights(submission).problems
    assert "leads outside local_path" in str(problem)


def test_weights_carrying_an_oversized_chat_template_are_refused(demo_models, tmp_path: Path) -> None:
    from evals.backends.chat import MAX_TEMPLATE_BYTES
    from tests.evals.models.gguf_copies import copy_gguf

    huge = "{{ messages[0]['content'] }}" + " " * MAX_TEMPLATE_BYTES
    gguf = copy_gguf(
        Path(demo_models[TRAINED].gguf["F32"]), tmp_path / "big.gguf", metadata={"tokenizer.chat_template": huge}
    )
    with pytest.raises(VariantError, match="big.gguf: the chat template is 262,172 bytes; at most 262,144"):
        resolve_variants(_local(gguf, "gguf", name="F32", chat="false"))  # refused even when not used
    folder = tmp_path / "hf"
    shutil.copytree(demo_models[TRAINED].hf_dir, folder)
    (folder / "chat_template.jinja").write_text(huge)
    (problem,) = check_local_weights(_local(folder, "safetensors")).problems
    assert "the chat template is 262,172 bytes" in str(problem)
