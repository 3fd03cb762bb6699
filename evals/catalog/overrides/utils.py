"""Metrics of the sandboxed HumanEval and MBPP: lm-eval's prompts and pass@1, our execution.

lm-eval scores both with ``evaluate.load("code_eval")``, which downloads from
the hub and runs model output in the evaluating process. Here each program
(the completion plus the task's own tests, assembled as code_eval does it)
runs in ``evals.sandbox`` instead; greedy decoding with one sample per problem
makes pass@1 the share of problems whose program passes.

Each task scores a document with ``process_results`` (below), which returns
pass@1 and the sandbox's verdict on the program (``sandbox``: passed, failed,
timed out or killed, and why), so lm-eval logs the verdict with every sample;
the ``sandbox`` "metric" aggregates to a count of verdicts, not a score.
"""

from __future__ import annotations

from typing import Any

from evals.sandbox import run_python, verdict_counts  # noqa: F401  (verdict_counts: the YAMLs' aggregation)

TIMEOUT_S = 10.0  # code_eval's default timeout is 3 s per problem; generous for slow machines


def judge(program: str, metric: str) -> dict[str, Any]:
    """``metric`` (pass@1 of the one greedy program) and the sandbox's verdict on it."""
    outcome = run_python(program, timeout_s=TIMEOUT_S)
    return {metric: 1.0 if outcome.passed else 0.0, "sandbox": outcome.verdict}


def build_predictions(resps: list[list[str]], docs: list[dict]) -> list[list[str]]:
    """As lm-eval's humaneval filter: the prompt (signature + docstring) completed by the model."""
    return [[doc["prompt"] + r for r in resp] for resp, doc in zip(resps, docs, strict=True)]


def humaneval_reference(doc: dict) -> str:
    """The task's ``doc_to_target`` (``{{test}}\ncheck({{entry_point}})``): the tests the program ends with."""
    return f"{doc['test']}\ncheck({doc['entry_point']})"


def process_humaneval(doc: dict, results: list[list[str]]) -> dict[str, Any]:
    """HumanEval: ``candidate + "\n" + test + check(entry_point)``, as code_eval builds it.

    ``results[0]`` is the create_test filter's output for the document: the prompt completed by the model.
    """
    return judge(results[0][0] + "\n" + humaneval_reference(doc), "pass@1")


def mbpp_reference(doc: dict) -> str:
    """The task's ``doc_to_target`` for an evaluated (not few-shot) document: its three asserts."""
    return "\n".join(doc["test_list"][:3])


def process_mbpp(doc: dict, results: list[str]) -> dict[str, Any]:
    """MBPP: the generated code followed by the three asserts."""
    return judge(results[0] + "\n" + mbpp_reference(doc), "pass_at_1")


# Copied from lm-eval's tasks/mbpp/utils.py (importing that module loads code_eval from the hub).
def list_fewshot_samples():
    return [
        {
            "task_id": 2,
            "text": "Write a function to find the similar elements from the given two tuple lists.",
            "code": "def similar_elements(test_tup1, test_tup2):\r\n  res = tuple(set(test_tup1) & set(test_tup2))\r\n  return (res) ",
            "test_list": [
                "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)",
                "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)",
                "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)",
            ],
            "is_fewshot": True,
        },
        {
            "task_id": 3,
            "text": "Write a python function to identify non-prime numbers.",
            "code": "import math\r\ndef is_not_prime(n):\r\n    result = False\r\n    for i in range(2,int(math.sqrt(n)) + 1):\r\n        if n % i == 0:\r\n            result = True\r\n    return result",
            "test_list": [
                "assert is_not_prime(2) == False",
                "assert is_not_prime(10) == True",
                "assert is_not_prime(35) == True",
            ],
            "is_fewshot": True,
        },
        {
            "task_id": 4,
            "text": "Write a function to find the largest integers from a given list of numbers using heap queue algorithm.",
            "code": "import heapq as hq\r\ndef heap_queue_largest(nums,n):\r\n  largest_nums = hq.nlargest(n, nums)\r\n  return largest_nums",
            "test_list": [
                "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65] ",
                "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75] ",
                "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35]",
            ],
            "is_fewshot": True,
        },
    ]
