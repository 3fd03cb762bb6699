"""lm-eval's Minerva Math, scored by lm-eval's own code on a process's main thread.

lm-eval 0.4.13 scores each answer with ``is_equiv`` (sympy under a SIGALRM
timeout) and ``math_verify`` (``parse``/``verify``, SIGALRM again). Python installs
signal handlers on a process's main thread only, and our Ray actors run units on
a worker thread (they keep a second slot for health queries): there ``is_equiv``
swallows the error and scores every answer that is not the gold string verbatim
as wrong, and ``math_verify`` raises. So :func:`process_results` hands each
document to lm-eval's own ``process_results`` in a one-process pool (spawned, so
the child is a fresh interpreter whose main thread runs it, timeouts and all),
and calls it in place when already on the main thread. Prompts, few-shot
examples and answer extraction are lm-eval's, imported unchanged.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from typing import Any

from lm_eval.tasks.minerva_math import utils as lm_eval_minerva
from lm_eval.tasks.minerva_math.utils import doc_to_text, list_fewshot_samples, process_docs  # noqa: F401 (the YAMLs')

SCORE_TIMEOUT_S = 60.0  # per document; lm-eval's own timeouts inside are 5 s per comparison


@cache
def _main_thread_scorer() -> ProcessPoolExecutor:
    """One child process per worker for the whole run (its imports take seconds once)."""
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, int]:
    if threading.current_thread() is threading.main_thread():
        return lm_eval_minerva.process_results(doc, results)
    plain = {k: v for k, v in doc.items()}  # a datasets row: plain values pickle to the child
    return (
        _main_thread_scorer()
        .submit(lm_eval_minerva.process_results, plain, list(results))
        .result(timeout=SCORE_TIMEOUT_S)
    )
