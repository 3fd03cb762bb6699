"""lm-eval hooks of the offline task pack; ``build_pack`` copies this file into the pack as ``utils.py``.

lm-eval imports it by file path (``!function utils.process_results``), in a
process that may not have the SLM Bench checkout on ``sys.path`` (the
``lm_eval`` console script puts its own folder there, not the cwd), so the
build writes the checkout's path into ``_EVALS_PARENT`` as a fallback.
"""

from __future__ import annotations

import sys
from typing import Any

_EVALS_PARENT = ""  # filled in by build_pack
_TIMEOUT_S = 3.0  # the reference solutions run in ~30 ms; only runaway code needs more


def _sandbox() -> Any:
    try:
        from evals import sandbox
    except ModuleNotFoundError:
        if not _EVALS_PARENT:
            raise
        sys.path.insert(0, _EVALS_PARENT)
        from evals import sandbox
    return sandbox


def program_for(doc: dict[str, Any], completion: str) -> str:
    """The program a completion is judged by: prompt + completion, then the unit tests."""
    return doc["prompt"] + completion + "\n\n\n" + doc["test"] + "\n"


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """pass@1 of one greedy completion, run in the SLM Bench sandbox (never in this process), and the
    sandbox's verdict on it (``sandbox``: passed, failed, timed out or killed, and why), which lm-eval
    logs with the sample."""
    outcome = _sandbox().run_python(program_for(doc, results[0]), timeout_s=_TIMEOUT_S)
    return {"pass@1": 1.0 if outcome.passed else 0.0, "sandbox": outcome.verdict}


def verdicts(items: list[str]) -> str:
    """lm-eval's aggregation of the ``sandbox`` verdicts: how many of each kind (not a score)."""
    return _sandbox().verdict_counts(items)


def process_results_mc2(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, float]:
    """TruthfulQA-MC2's scoring, lm-eval's own: the normalized probability mass on the true answers."""
    from lm_eval.tasks.truthfulqa.utils import process_results_mc2 as mc2

    return mc2(doc, results)


# The safety tasks' hooks: lm-eval's own toxigen and bbq_multiple_choice code (0.4.13), unchanged.
def toxigen_target(doc: dict[str, Any]) -> int:
    from lm_eval.tasks.toxigen.utils import doc_to_target

    return int(doc_to_target(doc))


def bbq_process_docs(dataset: Any) -> Any:
    from lm_eval.tasks.bbq.utils import process_docs

    return process_docs(dataset)


def bbq_doc_to_choice(doc: dict[str, Any]) -> list[str]:
    from lm_eval.tasks.bbq.utils import doc_to_choice

    return doc_to_choice(doc)


def bbq_doc_to_target(doc: dict[str, Any]) -> int:
    from lm_eval.tasks.bbq.utils import doc_to_target

    return doc_to_target(doc)


def bbq_process_results(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, Any]:
    from lm_eval.tasks.bbq.utils import process_results_multiple_choice

    return process_results_multiple_choice(doc, results)


def bbq_agg_accuracy_amb(items: list[Any]) -> float:
    from lm_eval.tasks.bbq.utils import agg_accuracy_amb

    return float(agg_accuracy_amb(items))


def bbq_agg_accuracy_disamb(items: list[Any]) -> float:
    from lm_eval.tasks.bbq.utils import agg_accuracy_disamb

    return float(agg_accuracy_disamb(items))


def bbq_agg_amb_bias_scores(items: list[Any]) -> float:
    from lm_eval.tasks.bbq.utils import agg_amb_bias_scores

    return float(agg_amb_bias_scores(items))


def bbq_agg_disamb_bias_scores(items: list[Any]) -> float:
    from lm_eval.tasks.bbq.utils import agg_disamb_bias_scores

    return float(agg_disamb_bias_scores(items))


def winogrande_doc_to_text(doc: dict[str, Any]) -> int:
    """WinoGrande's context index (lm-eval's own function: the option filled into the blank is the context)."""
    from lm_eval.tasks.winogrande.preprocess_winogrande import doc_to_text

    return doc_to_text(doc)


def winogrande_doc_to_target(doc: dict[str, Any]) -> str:
    """WinoGrande's shared continuation: the sentence after the blank (lm-eval's own function)."""
    from lm_eval.tasks.winogrande.preprocess_winogrande import doc_to_target

    return doc_to_target(doc)


def winogrande_doc_to_choice(doc: dict[str, Any]) -> list[str]:
    """WinoGrande's contexts: the sentence up to the blank with each option (lm-eval's own function)."""
    from lm_eval.tasks.winogrande.preprocess_winogrande import doc_to_choice

    return doc_to_choice(doc)
