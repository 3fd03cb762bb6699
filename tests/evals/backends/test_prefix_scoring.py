"""Shared-prefix scoring gives HFLM's log-likelihoods, greedy flags and answers, on less work.

The transformers backend's default scorer (``evals.backends.prefix_scoring``) runs each
shared token prefix once; lm-eval's HFLM runs every request whole. On float32 both sum
the same logits rows, computed in different passes, so they differ by float rounding:
the bound is the one batch sizes already meet (tests/evals/backends/test_batch_size.py):
1e-5 nats absolute, widened by 1e-6 of the value beyond 10 nats; greedy flags and every
document's chosen answer identical.

Requests come from lm-eval itself: the offline pack's tasks (including the HellaSwag-,
TruthfulQA-MC2- and WinoGrande-shaped ones), and lm-eval's own ARC, HellaSwag, PIQA and
WinoGrande task configs (their prompts, few-shot contexts and partial evaluation)
over a few hand-written documents in each dataset's own fields, since their data is
on the hub.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from evals.backends import BackendSpec, load_backend
from evals.backends.prefix_scoring import CHUNK_REQUESTS, SharedPrefixScorer

PACK_TASKS = ("slmb_hellaswag", "slmb_truthful", "slmb_winogrande", "slmb_story", "slmb_yesno")
LIMIT = 6


def _requests(tasks: list[str], include: Path, limit: int = LIMIT) -> list:
    from lm_eval.tasks import TaskManager, get_task_dict

    manager = TaskManager(include_path=[str(include)], include_defaults=False)
    found = []
    for name, task in sorted(get_task_dict(list(tasks), manager).items()):
        task.build_all_requests(limit=limit, rank=0, world_size=1)
        found += [(name, request) for request in task.instances]
    return found


@pytest.fixture(scope="module")
def pack_requests() -> list:
    from evals.catalog.pack import build_pack

    return _requests(list(PACK_TASKS), build_pack())


def _score(path: Path, scorer: str, requests: list, batch_size: int = 4, n_ctx: int | None = None):
    lm = load_backend(
        BackendSpec(backend="transformers", path=path, scorer=scorer, batch_size=batch_size, n_threads=1, n_ctx=n_ctx)
    )
    assert lm.scorer_name == scorer
    return lm.loglikelihood([r for _, r in requests], disable_tqdm=True), lm


def assert_same_scores(requests: list, hflm: list, shared: list) -> None:
    a, b = np.array([x for x, _ in hflm]), np.array([x for x, _ in shared])
    gap = np.abs(a - b)
    print(f"{len(a)} requests, max |gap| {gap.max():.3g} nats")
    assert np.isclose(b, a, rtol=1e-6, atol=1e-5).all(), (gap.max(), a[gap.argmax()])
    assert [g for _, g in hflm] == [g for _, g in shared]
    choices: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
    for (task, request), x, y in zip(requests, a, b, strict=True):
        choices[(task, request.doc_id)].append((x, y))
    for key, pairs in choices.items():
        assert np.argmax([x for x, _ in pairs]) == np.argmax([y for _, y in pairs]), key


@pytest.mark.parametrize("model", ["demo-trained", "demo-untrained"])
def test_demo_models_score_the_pack_as_hflm_does_on_fewer_tokens(model: str, demo_models, pack_requests) -> None:
    path = Path(demo_models[model].hf_dir)
    hflm, _ = _score(path, "hflm", pack_requests)
    shared, lm = _score(path, "shared-prefix", pack_requests)
    assert_same_scores(pack_requests, hflm, shared)
    counts = lm.scorer.counts
    print(f"tokens computed {counts.computed} vs HFLM {counts.hflm}")
    assert counts.requests == len(pack_requests) and counts.computed < 0.5 * counts.hflm


def test_each_pack_shape_computes_fewer_tokens(demo_models, pack_requests) -> None:
    path = Path(demo_models["demo-trained"].hf_dir)
    ratios = {}
    for task in ("slmb_hellaswag", "slmb_truthful", "slmb_winogrande"):
        mine = [r for r in pack_requests if r[0] == task]
        _, lm = _score(path, "shared-prefix", mine)
        ratios[task] = lm.scorer.counts.ratio
    print(ratios)
    # four endings behind one long context; ~8 answers behind a 6-shot preamble; a shared sentence start
    assert ratios["slmb_hellaswag"] < 0.4 and ratios["slmb_truthful"] < 0.3 and ratios["slmb_winogrande"] < 0.9


def test_stories260k_from_gguf_scores_as_hflm_does(stories260k_path: Path, pack_requests) -> None:
    hflm, _ = _score(stories260k_path, "hflm", pack_requests)
    shared, _ = _score(stories260k_path, "shared-prefix", pack_requests)
    assert_same_scores(pack_requests, hflm, shared)


def test_left_truncation_to_the_window_and_batch_sizes(demo_models, pack_requests) -> None:
    """A 48-token window cuts every long context on the left as HFLM does; batch 1 and 7 agree too."""
    path = Path(demo_models["demo-trained"].hf_dir)
    requests = [r for r in pack_requests if r[0] in ("slmb_hellaswag", "slmb_truthful")]
    hflm, _ = _score(path, "hflm", requests, n_ctx=48)
    for batch_size in (1, 7):
        shared, _ = _score(path, "shared-prefix", requests, batch_size=batch_size, n_ctx=48)
        assert_same_scores(requests, hflm, shared)


def test_requests_cut_into_chunks_score_the_same(demo_models, pack_requests, monkeypatch) -> None:
    """Past the chunk size the sorted requests are cut into several tries; nothing changes."""
    import evals.backends.prefix_scoring as prefix_scoring

    path = Path(demo_models["demo-untrained"].hf_dir)
    whole, _ = _score(path, "shared-prefix", pack_requests)
    monkeypatch.setattr(prefix_scoring, "CHUNK_REQUESTS", 8)
    cut, _ = _score(path, "shared-prefix", pack_requests)
    assert CHUNK_REQUESTS > 8
    assert_same_scores(pack_requests, whole, cut)


# -- lm-eval's own tasks, on hand-written documents in their datasets' fields ---------------

ARC = [
    {"id": f"a{i}", "question": q, "choices": {"text": c, "label": ["A", "B", "C", "D"]}, "answerKey": k}
    for i, (q, c, k) in enumerate(
        [
            ("What does a cow say?", ["moo", "woof", "meow", "quack"], "A"),
            ("Where does a bee live?", ["in a pond", "in a hive", "in a nest of sticks", "under the sea"], "B"),
            ("What do plants need to grow?", ["sand only", "darkness", "water and light", "ice"], "C"),
            ("What is ice made of?", ["wood", "stone", "metal", "frozen water"], "D"),
            ("Which one is a baby dog?", ["a kitten", "a puppy", "a calf", "a chick"], "B"),
            ("What keeps you dry in the rain?", ["an umbrella", "a spoon", "a sock", "a book"], "A"),
        ]
    )
]
HELLASWAG = [
    {
        "ind": i,
        "activity_label": a,
        "ctx_a": ca,
        "ctx_b": cb,
        "ctx": f"{ca} {cb}",
        "endings": e,
        "source_id": f"s{i}",
        "split": "val",
        "split_type": "indomain",
        "label": str(k),
    }
    for i, (a, ca, cb, e, k) in enumerate(
        [
            (
                "Baking",
                "Lily mixed flour and sugar in a bowl.",
                "she",
                ["put the cookies in the oven.", "ran to the park.", "fell asleep.", "sang a song [title] loud."],
                0,
            ),
            (
                "Playing",
                "Tom kicked the red ball across the park.",
                "the dog",
                ["read a book.", "ran after the ball and brought it back.", "baked a cake.", "went to bed."],
                1,
            ),
            (
                "Washing",
                "Mia had dirty hands after playing outside.",
                "she",
                ["climbed a tree.", "ate the mud.", "washed them with soap and water.", "flew away."],
                2,
            ),
            (
                "Sleeping",
                "Ben was very tired at the end of the day.",
                "he",
                ["ran a race.", "cooked dinner for ten.", "jumped in the pool.", "went to bed and fell asleep."],
                3,
            ),
            (
                "Gardening",
                "Zoe planted seeds in the garden.",
                "every day she",
                ["gave them some water.", "hid them in a box.", "threw them away.", "painted them blue."],
                0,
            ),
            (
                "Reading",
                "Sam found a big book about the stars.",
                "he",
                ["ate it.", "read it under the tree.", "threw it in the lake.", "sold it to a cat."],
                1,
            ),
        ]
    )
]
PIQA = [
    {"goal": g, "sol1": s1, "sol2": s2, "label": k}
    for g, s1, s2, k in [
        ("To keep ice cream cold,", "put it in the freezer.", "put it in the oven.", 0),
        ("To dry wet hands,", "wave them in the rain.", "rub them with a towel.", 1),
        ("To see in a dark room,", "turn on the light.", "close your eyes.", 0),
        ("To open a locked door,", "use a banana.", "use the key.", 1),
        ("To cut paper,", "use scissors.", "use a spoon.", 0),
        ("To make tea,", "pour cold sand on the leaves.", "pour hot water on the leaves.", 1),
    ]
]
WINOGRANDE = [
    {"sentence": s, "option1": o1, "option2": o2, "answer": k}
    for s, o1, o2, k in [
        ("Lily gave Tom the cake because _ was hungry.", "Lily", "Tom", "2"),
        ("The ball did not fit in the box because the _ was too big.", "ball", "box", "1"),
        ("The ball did not fit in the box because the _ was too small.", "ball", "box", "2"),
        ("Mia helped Ben with his homework because _ was good at math.", "Mia", "Ben", "1"),
        ("The dog chased the cat up the tree, so the _ was scared.", "dog", "cat", "2"),
        ("Sam lent Zoe his coat because _ was cold.", "Sam", "Zoe", "2"),
    ]
]
# lm-eval task -> (its documents, the splits its config reads, its few-shot count in the Open LLM Leaderboard, cut)
LM_EVAL_TASKS = {
    "arc_challenge": (ARC, ("train", "validation", "test"), 3),
    "hellaswag": (HELLASWAG, ("train", "validation"), 3),
    "piqa": (PIQA, ("train", "validation"), 2),
    "winogrande": (WINOGRANDE, ("train", "validation"), 2),
}


def _lm_eval_task_folder(root: Path) -> Path:
    """One YAML per lm-eval task: its own config (``include``), reading the documents from local files."""
    import lm_eval.tasks

    tasks_dir = Path(lm_eval.tasks.__file__).parent
    own = {"arc_challenge": "arc/arc_challenge.yaml", "hellaswag": "hellaswag/hellaswag.yaml"}
    own |= {"piqa": "piqa/piqa.yaml", "winogrande": "winogrande/default.yaml"}
    for task, (docs, splits, shots) in LM_EVAL_TASKS.items():
        data = root / f"{task}.jsonl"
        data.write_text("".join(json.dumps(d) + "\n" for d in docs))
        lines = [f"include: {tasks_dir / own[task]}", f"task: local_{task}", "dataset_path: json", "dataset_name: null"]
        lines += ["dataset_kwargs:", "  data_files:"] + [f"    {s}: {data}" for s in splits]
        lines += [f"num_fewshot: {shots}", "tag: []"]
        (root / f"local_{task}.yaml").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.parametrize("model", ["demo-trained", "stories260k"])
def test_lm_eval_arc_hellaswag_piqa_winogrande_shapes(model: str, demo_models, stories260k_path, tmp_path) -> None:
    folder = _lm_eval_task_folder(tmp_path)
    requests = _requests([f"local_{t}" for t in LM_EVAL_TASKS], folder, limit=None)
    assert {t for t, _ in requests} == {f"local_{t}" for t in LM_EVAL_TASKS}
    path = stories260k_path if model == "stories260k" else Path(demo_models[model].hf_dir)
    hflm, _ = _score(path, "hflm", requests)
    shared, lm = _score(path, "shared-prefix", requests)
    assert_same_scores(requests, hflm, shared)
    assert lm.scorer.counts.computed < lm.scorer.counts.hflm


def test_a_request_that_is_a_prefix_of_another_and_a_shared_choice_start(demo_models) -> None:
    """Continuations sharing their first tokens, one input inside another, duplicates: HFLM's numbers.

    The reference is HFLM on each request alone: together, HFLM's ``logits_cache`` gives
    " a sandwich" after "...she made" the log-prob of the first four rows of " made a
    sandwich" (same ``context + continuation[:-1]``, another split: its gather takes the
    leading rows where its greedy check takes the trailing ones), -45.2 for -0.09.
    """
    from lm_eval.api.instance import Instance

    pairs = [
        ("mia was hungry, so she", " made a sandwich and ate it."),
        ("mia was hungry, so she", " made a sandwich"),
        ("mia was hungry, so she", " made a cake"),
        ("mia was hungry, so she", " made a cake"),
        ("mia was hungry, so she made", " a sandwich"),
        ("leo", " was"),
        ("", "once upon a time"),
    ]
    requests = [Instance("loglikelihood", {}, p, i) for i, p in enumerate(pairs)]
    path = Path(demo_models["demo-trained"].hf_dir)
    hflm = load_backend(BackendSpec(backend="transformers", path=path, scorer="hflm", n_threads=1))
    alone = [hflm.loglikelihood([r], disable_tqdm=True)[0] for r in requests]
    shared, _ = _score(path, "shared-prefix", [("t", r) for r in requests], batch_size=3)
    a, b = np.array([x for x, _ in alone]), np.array([x for x, _ in shared])
    assert np.isclose(b, a, rtol=1e-6, atol=1e-5).all() and [g for _, g in alone] == [g for _, g in shared]
    assert hflm.loglikelihood(requests, disable_tqdm=True)[4][0] < a[4] - 40  # HFLM's batch, as said above


def test_auto_batch_size_is_for_cuda_only(demo_models) -> None:
    with pytest.raises(ValueError, match="batch_size: 'auto' sizes batches to a CUDA device's memory"):
        BackendSpec(backend="transformers", path=demo_models["demo-trained"].hf_dir, batch_size="auto")
    import transformers

    model = transformers.LlamaForCausalLM(
        transformers.LlamaConfig(
            hidden_size=8, intermediate_size=8, num_hidden_layers=1, num_attention_heads=2, vocab_size=16
        )
    )
    with pytest.raises(ValueError, match="'auto' sizes batches"):
        SharedPrefixScorer(model, max_length=8, batch_size="auto")


def test_the_runs_table_names_every_scorer_a_spec_can_have() -> None:
    from contracts.tables import RUNS, SCORERS
    from evals.backends.spec import scorer_name

    assert "scorer" in RUNS.schema
    names = {scorer_name("transformers", "shared-prefix"), scorer_name("transformers", "hflm"), scorer_name("llamacpp")}
    assert names == set(SCORERS) and scorer_name("transformers") == "hflm"  # the default, until it passes every test
