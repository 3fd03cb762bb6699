"""One "did you mean" for every layer; names compared as one, and names refused for passing as another."""

from __future__ import annotations

import pytest

from contracts.names import did_you_mean, name_key, name_problem
from contracts.submission import SubmissionError, parse_submission


def test_the_closest_name_or_nothing() -> None:
    assert did_you_mean("codng", ["reasoning", "coding", "math"]) == " (did you mean 'coding'?)"
    assert did_you_mean("vision", ["reasoning", "coding", "math"]) == ""
    assert did_you_mean("/test-benchmrk", ("/test-benchmark", "/push-results")) == " (did you mean '/test-benchmark'?)"


# --- issue 20: names that compare as one, and names that pass for another


def test_names_compare_after_nfkc_and_case_folding() -> None:
    assert (
        name_key("SLMB-Demo-Trained") == name_key("slmb-demo-trained") == name_key("ＳＬＭＢ-Ｄｅｍｏ-Ｔｒａｉｎｅｄ")
    )
    assert name_key("SLMB_YESNO") == name_key("slmb_yesno")
    assert name_key("Straße") == name_key("STRASSE")  # full case folding, not lower()
    assert name_key("SmolLM2") != name_key("SmolLM3")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("SLMB-Demo-Trained\u3164", "invisible character U+3164 (HANGUL FILLER) at character 18"),
        ("Smol\u115fLM2", "invisible character U+115F"),
        ("\u2800SmolLM2", "invisible character U+2800"),
        ("Sm\u043elLM2", "mixes letters of the Latin and Cyrillic scripts ('о' at character 3 is CYRILLIC SMALL"),
        ("Qw\u0435n2-0.5B", "Latin and Cyrillic"),
        ("SmolLM\u03b1", "Latin and Greek"),
    ],
)
def test_a_name_that_could_pass_for_another_is_refused(name: str, reason: str) -> None:
    problem = name_problem(name)
    assert problem is not None and reason in problem
    text = f'model:\n  name: "{name}"\n  hf_repo: "a/b"\n  parameters: "135M"\n  quantizations: [{{name: FP16, format: safetensors}}]\n'
    with pytest.raises(SubmissionError, match="model.name: ") as refused:
        parse_submission(text)
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    "name",
    [
        "SmolLM2-135M",
        "Qwen2.5-0.5B-Instruct",
        "Llama 3.2 (1B)",
        "Модель-один",
        "日本語モデル-1B",
        "한국어-LM",
        "ＳｍｏｌＬＭ2",
    ],
)
def test_names_in_one_script_or_a_usual_cjk_mix_pass(name: str) -> None:
    assert name_problem(name) is None
