"""The training corpus for the demo models, drawn from the task pack's own world.

``training_texts`` renders the same items the offline tasks ask, in the exact
prompt + answer formats, from train-only people, held-out question wordings
and held-out code names, so a tiny model trained on it for a minute learns
what the tasks measure without ever seeing an eval item. Any drawn document
whose prompt is an eval prompt is dropped, so the split is disjoint by
construction, not by luck.
"""

from __future__ import annotations

import functools
import random

from evals.catalog.pack import items, world

MAX_CHARS = 200  # the demo models train on short sequences

# Share of each document kind, tuned on the demo recipe (600 steps of 16 x 64
# tokens): stories are learned from few examples, facts (162 subject/value
# pairs) and word problems need the most.
_MIX: dict[str, float] = {
    "fact_statements": 0.15,
    "fact_questions": 0.15,
    "story": 0.10,
    "yesno": 0.22,
    "arith": 0.20,
    "arith_drill": 0.03,
    "code": 0.15,
}


@functools.cache
def _eval_prompts() -> frozenset[str]:
    return frozenset(items.prompt_of(task, doc) for task, docs in items.eval_docs().items() for doc in docs)


def _fact_statements(rng: random.Random) -> str:
    """One to three true sentences: facts of the relations, or yes/no properties."""
    sentences = []
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.7:
            rel = rng.choice(world.RELATIONS)
            subject, value = rng.choice(rel.facts)
            sentences.append(rng.choice(rel.statements).format(s=subject, v=value))
        else:
            prop = rng.choice(world.PROPERTIES)
            holds = rng.random() < 0.5
            sentences.append(prop.statement(rng.choice(prop.yes if holds else prop.no), holds))
    return " ".join(sentences)


def _fact_question(rng: random.Random) -> tuple[str, str]:
    rel = rng.choice(world.RELATIONS)
    subject, value = rng.choice(rel.facts)
    held_out = world.eval_question_index(rel, subject)
    index = rng.choice([i for i in range(len(rel.questions)) if i != held_out])
    return items.PROMPTS["facts"].format(question=rel.questions[index].format(s=subject)), " " + value


def _story(rng: random.Random) -> tuple[str, str]:
    doc = items.story_doc(rng, world.TRAIN_PEOPLE)
    return items.prompt_of("story", doc), " " + doc["choices"][doc["label"]]


def _yesno(rng: random.Random) -> tuple[str, str]:
    doc = items.yesno_doc(rng, rng.random() < 0.5)
    return items.prompt_of("yesno", doc), " yes" if doc["label"] else " no"


def _arith(rng: random.Random) -> tuple[str, str]:
    doc = items.arith_doc(rng, world.TRAIN_PEOPLE)
    return items.prompt_of("arith", doc), " " + doc["answer"]


def _arith_drill(rng: random.Random) -> str:
    """Bare equations: the addition and times tables the word problems rely on."""
    lines = []
    for _ in range(rng.randint(3, 6)):
        op = rng.choice("+-*")
        a, b, c = world.arith_operands(op, [rng.randrange(100), rng.randrange(100)])
        lines.append(f"{a} {op} {b} = {c}.")
    return " ".join(lines)


@functools.cache
def _train_code_combos() -> tuple[items.CodeCombo, ...]:
    held_out = set(items.eval_code_combos(random.Random(f"{items.EVAL_SEED}/code"), items.EVAL_SIZES["code"]))
    return tuple(c for c in items.all_code_combos() if c not in held_out)


def _code(rng: random.Random) -> tuple[str, str]:
    doc = items.code_doc(rng.choice(_train_code_combos()), "train")
    return doc["prompt"], doc["canonical_solution"]


def _draw(kind: str, rng: random.Random) -> str | None:
    """One document of ``kind``, or None when it collides with the eval split."""
    if kind == "fact_statements":
        return _fact_statements(rng)
    if kind == "arith_drill":
        return _arith_drill(rng)
    make = {"fact_questions": _fact_question, "story": _story, "yesno": _yesno, "arith": _arith, "code": _code}[kind]
    prompt, answer = make(rng)
    return None if prompt in _eval_prompts() else prompt + answer


def training_texts(seed: int = 0, n: int = 20000) -> list[str]:
    """``n`` short documents (< 200 characters) in the pack's formats, deterministic in ``seed``.

    Each document is one item rendered as prompt + reference answer (or a few
    fact sentences / equations). None contains an eval prompt.
    """
    if n < 0:
        raise ValueError(f"training_texts: n must be >= 0, got {n}")
    rng = random.Random(f"slmb-corpus/{seed}")
    kinds = list(_MIX)
    weights = [_MIX[k] for k in kinds]
    texts: list[str] = []
    while len(texts) < n:
        text = _draw(rng.choices(kinds, weights)[0], rng)
        if text is not None and len(text) < MAX_CHARS:
            texts.append(text)
    return texts
