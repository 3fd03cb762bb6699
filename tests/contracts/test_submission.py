"""The submission contract against a table of good and bad YAML files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from contracts.submission import CATEGORIES, SubmissionError, load_submission, parse_parameters, parse_submission
from evals.catalog.suites import load_catalog

ROOT = Path(__file__).resolve().parents[2]

ORIGINAL = """
model:
  name: "MyModel-1B"
  hf_repo: "username/mymodel-1b"
  parameters: "1.1B"
  quantizations:
    - name: "FP16"
      format: "safetensors"
  categories: ["reasoning", "coding"]
"""

FULL = """
model:
  name: "SmolLM2-135M"
  hf_repo: "HuggingFaceTB/SmolLM2-135M"
  revision: "93efa2f097d58c2a74874c7e644dbc9b0cee75a2"
  parameters: "135M"
  family: "SmolLM2"
  architecture: "LlamaForCausalLM"
  context_length: 8192
  license: "apache-2.0"
  submitted_by: "someone"
  quantizations:
    - {name: "BF16", format: "safetensors"}
    - {name: "Q4_K_M", format: "gguf", gguf_file: "smollm2-135m-q4_k_m.gguf", source: "someone/SmolLM2-135M-GGUF"}
"""


def _with(line_from: str, line_to: str) -> str:
    assert line_from in ORIGINAL
    return ORIGINAL.replace(line_from, line_to)


def test_original_format_is_accepted_unchanged() -> None:
    card = parse_submission(ORIGINAL).model
    assert card.parameters == 1_100_000_000
    assert card.quantizations[0].name == "FP16" and card.quantizations[0].backend == "transformers"
    assert card.categories == ["reasoning", "coding"]


def test_extended_format() -> None:
    card = parse_submission(FULL).model
    assert card.revision.startswith("93efa2")
    assert card.quantizations[1].backend == "llamacpp"
    assert card.categories == list(CATEGORIES)  # all categories when the key is left out


@pytest.mark.parametrize(
    ("text", "value"),
    [("260K", 260_000), ("135M", 135_000_000), ("1.1B", 1_100_000_000), ("2b", 2_000_000_000), (5000, 5000)],
)
def test_parameter_strings_parse(text: str | int, value: int) -> None:
    assert parse_parameters(text) == value


BAD = [
    # (yaml text, field path named, words the fix must contain)
    (_with('parameters: "1.1B"', 'parameters: "260K"'), "model.parameters", "test_model: true"),
    (_with('parameters: "1.1B"', 'parameters: "7B"'), "model.parameters", "1M–3B"),
    (_with('parameters: "1.1B"', 'parameters: "lots"'), "model.parameters", '"1.1B"'),
    (_with('hf_repo: "username/mymodel-1b"', 'hf_repo: "mymodel"'), "model.hf_repo", "owner/name"),
    (_with('name: "FP16"', 'name: "Q4_KM"'), "model.quantizations[0].name", "did you mean 'Q4_K_M'"),
    (_with('name: "FP16"', 'name: "Q8_0"'), "model.quantizations[0].format", "format: gguf"),
    (_with('format: "safetensors"', 'format: "pickle"'), "model.quantizations[0].format", "safetensors"),
    (_with('["reasoning", "coding"]', '["reasoning", "codng"]'), "model.categories", "did you mean 'coding'"),
    (_with('  parameters: "1.1B"', '  paramters: "1.1B"'), "model.paramters", "did you mean 'parameters'"),
    (_with('  parameters: "1.1B"', '  parameters: "1.1B"\n  colour: red'), "model.colour", "unknown key"),
    (ORIGINAL.replace('  hf_repo: "username/mymodel-1b"\n', ""), "model.local_path", "hf_repo"),
    (_with("  quantizations:", "  quantizations: []\n  old_quantizations:"), "model.quantizations", "at least 1"),
    ("model: [1, 2", "line", "YAML"),
    ("- just\n- a list\n", "(file)", "model:"),
    ("model:\n  name: x\n  bogus: !!python/object:os.system echo\n", "line", "YAML"),
    (ORIGINAL + "extra_top: 1\n", "extra_top", "unknown key"),
]


@pytest.mark.parametrize(("text", "field", "fix"), BAD, ids=[b[1] + ":" + b[2][:20] for b in BAD])
def test_bad_submissions_name_their_field_and_fix(text: str, field: str, fix: str) -> None:
    with pytest.raises(SubmissionError) as info:
        parse_submission(text)
    messages = [str(p) for p in info.value.problems]
    assert any(p.field.startswith(field) and fix in p.message for p in info.value.problems), messages


def test_every_problem_is_reported_at_once() -> None:
    text = ORIGINAL.replace('"1.1B"', '"9B"').replace('"FP16"', '"FP17"').replace('"coding"', '"codng"')
    with pytest.raises(SubmissionError) as info:
        parse_submission(text)
    fields = {p.field for p in info.value.problems}
    assert {"model.parameters", "model.quantizations[0].name", "model.categories"} <= fields


def test_size_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(ORIGINAL + "#" * 100_000)
    with pytest.raises(SubmissionError, match="larger than"):
        load_submission(big)


def test_contract_categories_are_the_catalogs() -> None:
    assert set(CATEGORIES) == set(load_catalog().categories)


def test_validate_command_on_examples_and_broken_copies(tmp_path: Path) -> None:
    examples = sorted((ROOT / "models" / "submissions").glob("*.yaml"))
    assert len(examples) >= 3
    ok = subprocess.run(
        [sys.executable, "-m", "flows.cli", "validate", *map(str, examples)], cwd=ROOT, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr

    broken = tmp_path / "broken.yaml"
    broken.write_text(examples[0].read_text().replace("parameters:", "params:"))
    bad = subprocess.run(
        [sys.executable, "-m", "flows.cli", "validate", str(broken)], cwd=ROOT, capture_output=True, text=True
    )
    assert bad.returncode != 0
    assert "model.params: unknown key (did you mean 'parameters'?)" in bad.stdout
    assert "model.parameters: required" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr
