"""Batch size 1 and 8 give the same per-sample log-likelihoods on the transformers backend (FP32, both demo models).

lm-eval's HFLM pads a batch on the right and never looks past a request's own tokens
(a causal model), so padding cannot leak into a score. What it does change is the shape
of each forward pass: PyTorch's CPU attention (SDPA) tiles the padded key range
differently, so the float32 sums round differently, by one float32 step (ulp) per logit,
about 1e-7 relative. Measured over the whole offline pack (1,626 requests): at most
7.6e-6 nats (demo-trained) and 1.5e-5 (demo-untrained, on a log-likelihood of -107,
where float32 steps by 7.6e-6: two steps), relative at most 4.2e-7; eager attention
removes most of it. So the tolerance is 1e-5 absolute, widened by 1e-6 of the value
for log-likelihoods beyond 10 nats (under float32's own resolution otherwise), and the
greedy flags and each document's chosen answer must be identical.

llama.cpp has no batch size here: it scores one request at a time (reusing the KV
cache of the prefix a request shares with the previous one), so a spec refuses one.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from evals.backends import BackendSpec, load_backend

TASKS = ("slmb_story", "slmb_facts", "slmb_yesno", "slmb_bbq", "slmb_toxigen")  # multiple choice, 2 to 4 options
LIMIT = 40


@pytest.fixture(scope="module")
def requests() -> list:
    from lm_eval.tasks import TaskManager, get_task_dict

    from evals.catalog.pack import build_pack

    manager = TaskManager(include_path=[str(build_pack())], include_defaults=False)
    found = []
    for name, task in get_task_dict(list(TASKS), manager).items():
        task.build_all_requests(limit=LIMIT, rank=0, world_size=1)
        found += [(name, request) for request in task.instances]
    return found


def _loglikelihoods(hf_dir: str, batch_size: int, requests: list) -> list[tuple[float, bool]]:
    lm = load_backend(BackendSpec(backend="transformers", path=hf_dir, batch_size=batch_size, n_threads=1))
    return lm.loglikelihood([r for _, r in requests], disable_tqdm=True)


@pytest.mark.parametrize("model", ["demo-trained", "demo-untrained"])
def test_batch_sizes_1_and_8_give_the_same_loglikelihoods(model: str, demo_models, requests: list) -> None:
    hf_dir = str(demo_models[model].hf_dir)
    one, eight = _loglikelihoods(hf_dir, 1, requests), _loglikelihoods(hf_dir, 8, requests)
    a, b = np.array([x for x, _ in one]), np.array([x for x, _ in eight])
    gap = np.abs(a - b)
    print(f"{model}: {len(a)} requests, max |gap| {gap.max():.3g} nats, max relative {(gap / np.abs(a)).max():.3g}")
    assert np.isclose(b, a, rtol=1e-6, atol=1e-5).all(), (gap.max(), a[gap.argmax()])
    assert [g for _, g in one] == [g for _, g in eight]  # greedy flags
    choices: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
    for (task, request), x, y in zip(requests, a, b, strict=True):
        choices[(task, request.doc_id)].append((x, y))
    for key, pairs in choices.items():  # each document's answer (acc) is the same
        assert np.argmax([x for x, _ in pairs]) == np.argmax([y for _, y in pairs]), key


def test_llama_cpp_refuses_a_batch_size() -> None:
    with pytest.raises(ValueError, match="batch_size: applies to backend 'transformers' only; llama.cpp here scores"):
        BackendSpec(backend="llamacpp", path="model.gguf", batch_size=8)
