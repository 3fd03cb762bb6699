"""The submission contract's quantization names and chat template options, without any weights.

What a name means for a file (read from it, contradicted by it) is tested on real GGUFs in
``tests/evals/models/test_gguf_types.py``, which also checks these names against llama.cpp's own list.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.quantizations import ALIASES, GGUF_QUANTS, QUANTIZATIONS, canonical, file_type_name
from contracts.submission import SubmissionError, parse_submission

HUB = """
model:
  name: "SmolLM2-135M-Instruct"
  hf_repo: "HuggingFaceTB/SmolLM2-135M-Instruct"
  parameters: "135M"
  quantizations:
{variants}
"""


def _parse(*variants: str) -> object:
    return parse_submission(HUB.format(variants="\n".join(f"    - {v}" for v in variants)))


def _problems(*variants: str) -> list[str]:
    with pytest.raises(SubmissionError) as info:
        _parse(*variants)
    return [str(p) for p in info.value.problems]


# The names the issue found missing, and the rest of llama.cpp's quantize tool list.
IN_THE_WILD = ["Q4_1", "Q5_1", "Q3_K_S", "Q3_K_L", "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_M", "IQ3_XXS", "IQ3_M"]
IN_THE_WILD += ["IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "MXFP4_MOE", "Q2_K_S", "Q6_K", "Q8_0"]


@pytest.mark.parametrize("name", IN_THE_WILD)
def test_every_gguf_type_in_the_wild_is_a_name(name: str) -> None:
    quant = _parse(f"{{name: {name.lower()}, format: gguf, gguf_file: model-{name}.gguf}}").model.quantizations[0]
    assert (quant.name, quant.backend) == (name, "llamacpp")


@pytest.mark.parametrize(("alias", "name"), list(ALIASES.items()))
def test_aliases_are_the_canonical_name(alias: str, name: str) -> None:
    assert canonical(alias) == name
    assert _parse(f"{{name: {alias}, format: gguf, gguf_file: m.gguf}}").model.quantizations[0].name == name


def test_names_and_file_type_values() -> None:
    assert QUANTIZATIONS[:3] == ("FP32", "FP16", "BF16") and "FP32" not in GGUF_QUANTS
    assert file_type_name(0) == "FP32" and file_type_name(3) == "Q4_1" and file_type_name(15) == "Q4_K_M"
    assert file_type_name(3 | 1024) == "Q4_1"  # llama.cpp's "guessed" bit
    assert file_type_name(4) is None  # MOSTLY_Q4_1_SOME_F16, long removed: llama.cpp does not name it


def test_a_gguf_name_may_be_left_out_and_is_then_read_from_the_file() -> None:
    quant = _parse("{format: gguf, gguf_file: smollm2-135m-instruct-q4_1.gguf}").model.quantizations[0]
    assert (quant.name, quant.label) == (None, "smollm2-135m-instruct-q4_1.gguf")
    # the pull-request check validates it without the file, with the same contract
    parse_submission(HUB.format(variants="    - {format: gguf, gguf_file: a.gguf}"), from_pull_request=True)


@pytest.mark.parametrize(
    ("variants", "problem"),
    [
        (
            ["{name: Q4_KM, format: gguf, gguf_file: a.gguf}"],
            "model.quantizations[0].name: unknown quantization 'Q4_KM' (did you mean 'Q4_K_M'?); known: FP32, FP16,",
        ),
        (
            ["{format: safetensors}"],
            "model.quantizations[0].name: a safetensors variant says its precision; add name: FP32, FP16 or BF16",
        ),
        (
            ["{name: Q4_1, format: safetensors}"],
            "model.quantizations[0].format: Q4_1 is a GGUF quantization; set format: gguf",
        ),
        (
            ["{format: gguf, gguf_file: a.gguf}", "{format: gguf, gguf_file: a.gguf}"],
            "model.quantizations: a variant is listed twice",
        ),
    ],
)
def test_bad_names_are_refused_with_the_fix(variants: list[str], problem: str) -> None:
    assert any(p.startswith(problem) for p in _problems(*variants)), _problems(*variants)


# --- chat templates ----------------------------------------------------------------------------------


def test_chat_template_true_takes_lm_evals_defaults() -> None:
    plain, chat = _parse(
        "{name: BF16, format: safetensors}", "{name: BF16, format: safetensors, chat_template: true}"
    ).model.quantizations
    assert plain.chat_template is None
    assert (chat.chat_template.fewshot_as_multiturn, chat.chat_template.system_instruction) == (True, None)


def test_chat_template_options() -> None:
    chat = _parse(
        "{name: Q4_1, format: gguf, gguf_file: a.gguf, "
        'chat_template: {fewshot_as_multiturn: false, system_instruction: "You are a careful assistant."}}'
    ).model.quantizations[0]
    assert chat.chat_template.fewshot_as_multiturn is False
    assert chat.chat_template.system_instruction == "You are a careful assistant."
    assert (
        _parse("{name: FP16, format: safetensors, chat_template: false}").model.quantizations[0].chat_template is None
    )


@pytest.mark.parametrize(
    ("variants", "problem"),
    [
        (
            ["{name: FP16, format: safetensors, chat_template: yes please}"],
            "model.quantizations[0].chat_template: write chat_template: true, false, or a mapping",
        ),
        (
            ["{name: FP16, format: safetensors, chat_template: {sytem_instruction: hi}}"],
            "model.quantizations[0].chat_template.sytem_instruction: unknown key (did you mean 'system_instruction'?)",
        ),
        (
            ["{name: FP16, format: safetensors, chat_template: {system_instruction: " + "x" * 2001 + "}}"],
            "model.quantizations[0].chat_template.system_instruction: String should have at most 2000 characters",
        ),
        (
            [
                "{name: FP16, format: safetensors, chat_template: true}",
                "{name: FP16, format: safetensors, chat_template: {system_instruction: hi}}",
            ],
            "model.quantizations: a variant is listed twice; list each name once (or twice, once with "
            "chat_template: true and once without)",
        ),
    ],
)
def test_bad_chat_template_settings_are_refused(variants: list[str], problem: str) -> None:
    assert any(p.startswith(problem) for p in _problems(*variants)), _problems(*variants)


def test_a_system_instruction_with_a_control_character_is_refused() -> None:
    problems = _problems('{name: FP16, format: safetensors, chat_template: {system_instruction: "hi\\u202e"}}')
    assert "control character \\u202e" in problems[0]


# What each package the pull-request workflow installs brings in (its import name and its dependencies').
_PROVIDES = {
    "pydantic": {"pydantic", "pydantic_core", "annotated_types", "typing_extensions", "typing_inspection"},
    "pyyaml": {"yaml"},
    "gguf": {"gguf", "numpy", "yaml", "tqdm", "requests"},
}
_PROBE = """
import runpy, sys
sys.argv = ["slmbench", "validate", "--pull-request", *sys.argv[1:]]
try:
    runpy.run_module("flows.cli", run_name="__main__")
except SystemExit as exit:
    code = exit.code
import json
print("MODULES", json.dumps(sorted({m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names))), code)
"""


def test_the_pull_request_check_needs_only_what_its_workflow_installs() -> None:
    """The PR check installs pydantic, PyYAML and gguf only (infra/github/validate-submissions.yml): validating
    a submission, quantization names included, must import nothing else from outside the standard library."""
    root = Path(__file__).resolve().parents[2]
    workflow = (root / "infra" / "github" / "validate-submissions.yml").read_text()
    installed = re.search(r"run: pip install (.+)", workflow).group(1).split()  # type: ignore[union-attr]
    allowed = set().union(*(_PROVIDES[p.split("==")[0]] for p in installed))
    allowed |= {"flows", "contracts", "evals"}  # the checkout itself
    files = [str(root / "models" / "submissions" / "example-hub-model.yaml")]
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *files], capture_output=True, text=True, timeout=120, cwd=root, check=True
    ).stdout
    modules, code = re.search(r"MODULES (\[.*\]) (\d+)", out).groups()  # type: ignore[union-attr]
    imported = {m for m in json.loads(modules) if not m.startswith("_")}
    assert code == "0" and imported <= allowed | {"cython_runtime"}, imported - allowed
