"""Item generators: one function per task, shared by the eval split and the corpus.

Each generator draws one item from the world with a given ``random.Random``
and people pool. The eval split (``eval_docs``) calls them with the eval seed
and the eval people; ``corpus.py`` calls them with its own seed and the train
people, then drops any item whose prompt the eval split holds.

``PROMPTS`` is the one definition of each task's prompt: the corpus renders
it with ``str.format`` and ``pack.py`` turns it into the lm-eval Jinja
``doc_to_text``, so training text and eval prompts cannot drift apart.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from evals.catalog.pack import world

Doc = dict[str, Any]
People = tuple[tuple[str, str, str], ...]

EVAL_SEED = 20_240_601

# Eval split sizes: small enough that a tiny model runs a task in seconds on
# two CPU cores; facts uses every fact of the world once.
EVAL_SIZES: dict[str, int] = {"story": 160, "yesno": 160, "arith": 160, "code": 40}

PROMPTS: dict[str, str] = {
    "facts": "question: {question}\nanswer:",
    "story": "{context}",
    "yesno": "{passage}\nquestion: {question}\nanswer:",
    "arith": "question: {question}\nanswer:",
    "code": "{prompt}",
}


def prompt_of(task: str, doc: Doc) -> str:
    """The exact text lm-eval will feed the model for ``doc`` (its ``doc_to_text``)."""
    return PROMPTS[task].format(**doc)


def _with_article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _other_values(relation: world.Relation) -> list[str]:
    return sorted({v for rel in world.RELATIONS if rel is not relation for _, v in rel.facts})


# --- facts ---------------------------------------------------------------------
def facts_doc(rng: random.Random, relation: world.Relation, fact: tuple[str, str], question_index: int) -> Doc:
    """One question, its answer and three distractors.

    One distractor answers the same kind of question (another animal's sound),
    two answer other kinds (a color, a number): knowing what kind of answer is
    asked lifts a model to 1/2, knowing the fact to 1. This graded difficulty
    is what lets a one-minute demo model show progress over chance (1/4).
    """
    subject, value = fact
    near = rng.choice(sorted({v for _, v in relation.facts if v != value}))
    far = rng.sample([v for v in _other_values(relation) if v not in (value, near)], 2)
    choices = [value, near, *far]
    rng.shuffle(choices)
    question = relation.questions[question_index].format(s=subject)
    return {"relation": relation.name, "question": question, "choices": choices, "label": choices.index(value)}


def eval_facts(rng: random.Random) -> list[Doc]:
    """Every fact once, asked with its held-out wording."""
    return [
        facts_doc(rng, rel, fact, world.eval_question_index(rel, fact[0]))
        for rel in world.RELATIONS
        for fact in rel.facts
    ]


# --- story -----------------------------------------------------------------------
def story_doc(rng: random.Random, people: People) -> Doc:
    name, pronoun, possessive = rng.choice(people)
    names = {"n": name, "p": pronoun, "ps": possessive}
    index = rng.randrange(len(world.SCENARIOS))
    others = rng.sample([i for i in range(len(world.SCENARIOS)) if i != index], 3)
    setup, ending = world.SCENARIOS[index]
    choices = [ending.format(**names)] + [world.SCENARIOS[i][1].format(**names) for i in others]
    rng.shuffle(choices)
    return {"context": setup.format(**names), "choices": choices, "label": choices.index(ending.format(**names))}


# --- yes/no ------------------------------------------------------------------------
def yesno_doc(rng: random.Random, answer: bool) -> Doc:
    """A two-sentence passage and a yes/no question whose answer is ``answer``.

    One sentence settles the question (stated as it holds, "a dog cannot
    fly."); the other is a true statement about something else, negated half
    the time, so spotting a "not" alone is not enough: the model must tie it
    to the subject asked about, or know the fact.
    """
    prop = rng.choice(world.PROPERTIES)
    subject = rng.choice(prop.yes if answer else prop.no)
    other = rng.choice(world.PROPERTIES)
    holds = rng.random() < 0.5
    other_subject = rng.choice([s for s in (other.yes if holds else other.no) if s != subject])
    sentences = [prop.statement(subject, answer), other.statement(other_subject, holds)]
    rng.shuffle(sentences)
    return {"passage": " ".join(sentences), "question": prop.question.format(s=subject), "label": int(answer)}


# --- arithmetic ---------------------------------------------------------------------
def arith_doc(rng: random.Random, people: People) -> Doc:
    op, template = rng.choice(world.ARITH_TEMPLATES)
    a, b, c = world.arith_operands(op, [rng.randrange(100), rng.randrange(100)])
    name, pronoun, _ = rng.choice(people)
    question = template.format(n=name, p=pronoun, t=rng.choice(world.ARITH_THINGS), a=a, b=b)
    return {"question": question, "answer": world.arith_answer(a, op, b, c), "result": str(c)}


# --- code ---------------------------------------------------------------------------
CodeCombo = tuple[int, str, tuple[str, ...]]  # (kind index, function name, argument names)


def code_doc(combo: CodeCombo, task_id: str) -> Doc:
    kind_index, name, args = combo
    kind = world.CODE_KINDS[kind_index]
    return {
        "task_id": task_id,
        "prompt": world.code_signature(kind, name, args),
        "canonical_solution": world.code_body(kind, args),
        "test": world.code_tests(kind, name),
        "entry_point": name,
    }


def all_code_combos() -> list[CodeCombo]:
    return [
        (k, name, args)
        for k, kind in enumerate(world.CODE_KINDS)
        for name in kind.names
        for args in world.ARG_NAMES[kind.arg]
    ]


def eval_code_combos(rng: random.Random, n: int) -> list[CodeCombo]:
    """``n`` held-out combos, cycling through the kinds so every kind is asked."""
    combos: list[CodeCombo] = []
    while len(combos) < n:
        k = len(combos) % len(world.CODE_KINDS)
        kind = world.CODE_KINDS[k]
        combo = (k, rng.choice(kind.names), rng.choice(world.ARG_NAMES[kind.arg]))
        if combo not in combos:
            combos.append(combo)
    return combos


# --- the eval split -----------------------------------------------------------------
def _unique(task: str, n: int, draw: Callable[[int], Doc]) -> list[Doc]:
    """Draw until ``n`` docs with distinct prompts (a repeated item would count twice)."""
    docs: list[Doc] = []
    seen: set[str] = set()
    while len(docs) < n:
        doc = draw(len(docs))
        if prompt_of(task, doc) not in seen:
            seen.add(prompt_of(task, doc))
            docs.append(doc)
    return docs


def eval_docs() -> dict[str, list[Doc]]:
    """The eval split of every task, deterministic (one seed per task, so tasks are independent)."""
    people = world.EVAL_PEOPLE
    rngs = {task: random.Random(f"{EVAL_SEED}/{task}") for task in PROMPTS}
    code_combos = eval_code_combos(rngs["code"], EVAL_SIZES["code"])
    return {
        "facts": eval_facts(rngs["facts"]),
        "story": _unique("story", EVAL_SIZES["story"], lambda i: story_doc(rngs["story"], people)),
        # alternate answers so the split is exactly balanced and "always yes" scores 0.5
        "yesno": _unique("yesno", EVAL_SIZES["yesno"], lambda i: yesno_doc(rngs["yesno"], i % 2 == 0)),
        "arith": _unique("arith", EVAL_SIZES["arith"], lambda i: arith_doc(rngs["arith"], people)),
        "code": _unique("code", len(code_combos), lambda i: code_doc(code_combos[i], f"slmb_code/{i}")),
    }
