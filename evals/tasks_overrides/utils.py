"""Metrics of the sandboxed HumanEval and MBPP: lm-eval's prompts and pass@1, our execution.

lm-eval scores both with ``evaluate.load("code_eval")``, which downloads from
the hub and runs model output in the evaluating process. Here each program
(the completion plus the task's own tests, assembled as code_eval does it)
runs in ``evals.sandbox`` instead; greedy decoding with one sample per problem
makes pass@1 the share of problems whose program passes.
"""

from __future__ import annotations

from evals.sandbox import run_python

TIMEOUT_S = 10.0  # code_eval's default timeout is 3 s per problem; generous for slow machines


def _passed(program: str) -> bool:
    return run_python(program, timeout_s=TIMEOUT_S).passed


def build_predictions(resps: list[list[str]], docs: list[dict]) -> list[list[str]]:
    """As lm-eval's humaneval filter: the prompt (signature + docstring) completed by the model."""
    return [[doc["prompt"] + r for r in resp] for resp, doc in zip(resps, docs, strict=True)]


def pass_at_k(references: list[str], predictions: list[list[str]], k: list[int] | None = None) -> dict[str, float]:
    """HumanEval: ``candidate + "\\n" + test + check(entry_point)``, as code_eval builds it."""
    ks = [k] if isinstance(k, int) else (k or [1])
    if ks != [1]:
        raise ValueError(f"only pass@1 is computed (greedy, one sample); got k={ks}")
    results = [
        _passed(candidates[0] + "\n" + reference) for reference, candidates in zip(references, predictions, strict=True)
    ]
    return {"pass@1": sum(results) / len(results)}


def pass_at_1(references: str | list[str], predictions: str | list[list[str]]) -> float:
    """MBPP: the generated code followed by the three asserts."""
    if isinstance(references, str):
        references = [references]
    if isinstance(predictions[0], str):
        predictions = [[p] for p in predictions]  # type: ignore[misc]
    results = [
        _passed(candidates[0] + "\n" + reference) for reference, candidates in zip(references, predictions, strict=True)
    ]
    return sum(results) / len(results)


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
