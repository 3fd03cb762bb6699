"""lm-eval's logged samples as rows of the samples table (evals/results/samples.py).

The records below have the shape lm-eval 0.4.13 logs (``evaluator.py``: arguments,
resps, filtered_resps, target, the per-sample metrics); the real ones, from real
runs, are checked against their published scores in tests/flows/test_benchmark.py.
"""

from __future__ import annotations

import json

import polars as pl

from contracts.tables import SAMPLES
from evals.results.samples import SampleRule, unit_sample_rows

MC_CONFIG = {"configs": {"arc_easy": {"output_type": "multiple_choice", "target_delimiter": " "}}}


def _mc(lls: list[float], choices: list[str], target: int, acc: float, acc_norm: float, doc_id: int = 0) -> dict:
    context = "Question: Which is longest?\nAnswer:"
    return {
        "doc_id": doc_id,
        "doc": {"question": "Which is longest?", "category": "length", "label": target},
        "target": target,
        "arguments": [[context, " " + c] for c in choices],
        "resps": [[[ll, False]] for ll in lls],
        "filtered_resps": [[ll, False] for ll in lls],
        "filter": "none",
        "metrics": ["acc", "acc_norm"],
        "acc": acc,
        "acc_norm": acc_norm,
    }


def _rows(results: dict, samples: list[dict], rule: SampleRule, subtask: str = "arc_easy", task: str = "arc") -> list:
    rows = unit_sample_rows("run-1", "m--FP32", task, subtask, results, samples, rule)
    SAMPLES.conform(pl.DataFrame(rows, schema=SAMPLES.schema))  # every row fits the table
    return rows


def test_multiple_choice_keeps_prompt_choices_loglikelihoods_and_the_metric_s_pick() -> None:
    # by total log-likelihood "a" wins; per character (acc_norm) "abcdefgh" does: -4/8 > -1/1
    sample = _mc([-1.0, -4.0, -9.0], ["a", "abcdefgh", "xyz"], target=1, acc=0.0, acc_norm=1.0)
    by_acc = _rows(MC_CONFIG, [sample], SampleRule("acc", "category"))[0]
    by_norm = _rows(MC_CONFIG, [sample], SampleRule("acc_norm", "category"))[0]
    assert by_acc["prompt"] == "Question: Which is longest?\nAnswer:"
    assert json.loads(by_acc["choices"]) == [" a", " abcdefgh", " xyz"]  # as scored, delimiter included
    assert json.loads(by_acc["loglikelihoods"]) == [-1.0, -4.0, -9.0]
    assert (by_acc["pick"], by_acc["correct"]) == (0, False)
    assert (by_norm["pick"], by_norm["correct"]) == (1, True)  # lm-eval divides by the choice's characters
    assert by_acc["target"] == "1" and by_acc["category"] == "length"
    assert json.loads(by_acc["metrics"]) == {"acc": 0.0, "acc_norm": 1.0}
    assert by_acc["generation"] is None and by_acc["sandbox"] is None


def test_unconditional_requests_of_mutual_information_are_not_choices() -> None:
    sample = _mc([-1.0, -2.0], ["yes", "no"], target=0, acc=1.0, acc_norm=1.0)
    sample["arguments"] += [["", " yes"], ["", " no"]]
    sample["filtered_resps"] += [[-3.0, False], [-0.5, False]]
    row = _rows(MC_CONFIG, [sample], SampleRule("acc"))[0]
    assert json.loads(row["choices"]) == [" yes", " no"] and json.loads(row["loglikelihoods"]) == [-1.0, -2.0]
    assert row["pick"] == 0


def test_generation_keeps_the_raw_text_and_what_each_filter_extracted() -> None:
    results = {"configs": {"gsm8k": {"output_type": "generate_until"}}}
    base = {
        "doc_id": 7,
        "doc": {"question": "2+2?"},
        "target": "4",
        "arguments": [["Q: 2+2?\nA:", {"until": ["\n"], "do_sample": False}]],
        "resps": [[" 2 plus 2 is 4. #### 4"]],
        "metrics": ["exact_match"],
    }
    strict = base | {"filter": "strict-match", "filtered_resps": ["4"], "exact_match": 1.0}
    flexible = base | {"filter": "flexible-extract", "filtered_resps": ["[invalid]"], "exact_match": 0.0}
    rows = _rows(results, [strict, flexible], SampleRule("exact_match"), subtask="gsm8k", task="gsm8k")
    assert [(r["filter"], r["extracted"], r["correct"]) for r in rows] == [
        ("strict-match", "4", True),
        ("flexible-extract", "[invalid]", False),
    ]
    assert rows[0]["generation"] == " 2 plus 2 is 4. #### 4" and rows[0]["choices"] is None


def test_code_items_keep_the_program_and_the_sandbox_s_verdict() -> None:
    results = {"configs": {"humaneval_sandboxed": {"output_type": "generate_until"}}}
    verdict = "timed out: ran past the 10 s wall-clock limit"
    sample = {
        "doc_id": 0,
        "doc": {"prompt": "def f():\n"},
        "target": "def check(c): ...",
        "arguments": [["def f():\n", {"until": ["\ndef"]}]],
        "resps": [["    while True: pass"]],
        "filtered_resps": [["def f():\n    while True: pass"]],  # the create_test filter keeps a list
        "filter": "create_test",
        "metrics": ["pass@1", "sandbox"],
        "pass@1": 0.0,
        "sandbox": verdict,
    }
    row = _rows(results, [sample], SampleRule("pass@1"), subtask="humaneval_sandboxed", task="humaneval")[0]
    assert row["extracted"] == "def f():\n    while True: pass" and row["generation"] == "    while True: pass"
    assert (row["sandbox"], row["correct"]) == (verdict, False)


def test_categories_and_metrics_that_are_not_right_or_wrong() -> None:
    sample = _mc([-1.0, -2.0], ["a", "b"], target=0, acc=1.0, acc_norm=1.0) | {"metrics": ["mc2"], "mc2": 0.62}
    group = _rows(MC_CONFIG, [sample], SampleRule("mc2", "category", by_subtask=True))[0]
    assert group["category"] == "arc_easy"  # a split group's items go by subtask
    assert group["correct"] is None  # a probability is neither right nor wrong
    assert group["value"] == 0.62  # ... but it is a per-item value, for paired tests
    plain = _rows(MC_CONFIG, [sample], SampleRule("acc", "no_such_field"))[0]
    assert plain["category"] is None


def test_choices_that_are_contexts_of_their_own_read_as_the_shared_start_and_each_ending() -> None:
    """winogrande: one context per option, the same continuation scored after each."""
    start = "The trophy doesn't fit into the brown suitcase because the "
    sample = {
        "doc_id": 3,
        "doc": {"sentence": "..."},
        "target": 0,
        "arguments": [[start + "trophy", " is too large."], [start + "suitcase", " is too large."]],
        "filtered_resps": [[-9.5, False], [-11.0, False]],
        "filter": "none",
        "metrics": ["acc"],
        "acc": 1.0,
    }
    results = {"configs": {"winogrande": {"output_type": "multiple_choice"}}}
    row = _rows(results, [sample], SampleRule("acc"), subtask="winogrande", task="winogrande")[0]
    assert row["prompt"] == start
    assert json.loads(row["choices"]) == ["trophy is too large.", "suitcase is too large."]
    assert (row["pick"], row["correct"]) == (0, True)


def test_items_about_one_passage_share_a_cluster() -> None:
    passage = "Water boils at 100 degrees at sea level."
    first = _mc([-1.0, -2.0], ["a", "b"], target=0, acc=1.0, acc_norm=1.0) | {"doc": {"passage": passage}}
    second = _mc([-2.0, -1.0], ["a", "b"], target=0, acc=0.0, acc_norm=0.0) | {"doc": {"passage": passage}, "doc_id": 1}
    other = _mc([-1.0, -2.0], ["a", "b"], target=0, acc=1.0, acc_norm=1.0) | {
        "doc": {"passage": "Ice is cold."},
        "doc_id": 2,
    }
    rows = _rows(MC_CONFIG, [first, second, other], SampleRule("acc", cluster_field="passage"))
    assert rows[0]["cluster"] == rows[1]["cluster"] != rows[2]["cluster"]
    assert len(rows[0]["cluster"]) == 16  # a digest, not the passage
    assert [r["value"] for r in rows] == [1.0, 0.0, 1.0]
    alone = _rows(MC_CONFIG, [first], SampleRule("acc"))[0]
    assert alone["cluster"] is None
