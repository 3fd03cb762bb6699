"""The small world the offline tasks and the demo training corpus are drawn from.

One definition serves both sides: the eval items (``items.py``) and the
training documents (``corpus.py``) render the same facts, scenarios, word
problems and functions, so a tiny model trained on the corpus can learn what
the tasks ask. The two sides are kept apart by *item*, never by topic: people
names are split in two pools, each fact is asked with a held-out question
wording, and code tasks hold out whole (function name, argument names) pairs.

Everything is lowercase ASCII: the demo models use small byte-level BPE
tokenizers, and case would only split their tiny vocabularies.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# --- people ------------------------------------------------------------------
# (name, subject pronoun, possessive). Eval and train pools never overlap, so a
# story or word problem about an eval name cannot appear in the corpus.
# fmt: off
EVAL_PEOPLE: tuple[tuple[str, str, str], ...] = (
    ("mia", "she", "her"), ("leo", "he", "his"), ("zoe", "she", "her"),
    ("max", "he", "his"), ("ivy", "she", "her"), ("sam", "he", "his"),
    ("ada", "she", "her"), ("ben", "he", "his"), ("eva", "she", "her"),
    ("tom", "he", "his"), ("lily", "she", "her"), ("jack", "he", "his"),
)
TRAIN_PEOPLE: tuple[tuple[str, str, str], ...] = (
    ("anna", "she", "her"), ("bob", "he", "his"), ("cara", "she", "her"),
    ("dan", "he", "his"), ("ella", "she", "her"), ("finn", "he", "his"),
    ("gina", "she", "her"), ("hugo", "he", "his"), ("iris", "she", "her"),
    ("jon", "he", "his"), ("kate", "she", "her"), ("luke", "he", "his"),
    ("nora", "she", "her"), ("omar", "he", "his"), ("pia", "she", "her"),
    ("ray", "he", "his"), ("rosa", "she", "her"), ("tim", "he", "his"),
    ("uma", "she", "her"), ("vic", "he", "his"), ("wendy", "she", "her"),
    ("yuri", "he", "his"), ("amy", "she", "her"), ("ned", "he", "his"),
)
# fmt: on


# --- facts -------------------------------------------------------------------
@dataclass(frozen=True)
class Relation:
    """One kind of fact, with every way the world states or asks it.

    ``questions`` holds three wordings of one question; each fact is asked in
    the eval split with exactly one of them (``eval_question_index``) and in
    the corpus only with the other two.
    """

    name: str
    questions: tuple[str, str, str]
    statements: tuple[str, ...]
    yesno: str  # a yes/no question whose {v} is the value being checked
    facts: tuple[tuple[str, str], ...]  # (subject, value)


# fmt: off
RELATIONS: tuple[Relation, ...] = (
    Relation(
        "sound",
        ("what sound does {s} make?", "which sound does {s} make?", "{s} makes what sound?"),
        ("{s} says {v}.", "you can hear {s} say {v}.", "the sound of {s} is {v}."),
        "does {s} say {v}?",
        (
            ("a cow", "moo"), ("a dog", "woof"), ("a cat", "meow"), ("a duck", "quack"),
            ("a sheep", "baa"), ("a pig", "oink"), ("a horse", "neigh"), ("an owl", "hoot"),
            ("a lion", "roar"), ("a snake", "hiss"), ("a bee", "buzz"), ("a frog", "croak"),
            ("a mouse", "squeak"), ("a crow", "caw"), ("a wolf", "howl"), ("a hen", "cluck"),
        ),
    ),
    Relation(
        "color",
        ("what color is {s}?", "which color is {s}?", "{s} has what color?"),
        ("{s} is {v}.", "the color of {s} is {v}.", "{v} is the color of {s}."),
        "is {s} {v}?",
        (
            ("a banana", "yellow"), ("a lemon", "yellow"), ("the sun", "yellow"),
            ("grass", "green"), ("a leaf", "green"), ("a lime", "green"),
            ("the sky", "blue"), ("the sea", "blue"), ("snow", "white"), ("milk", "white"),
            ("a cloud", "white"), ("coal", "black"), ("a crow", "black"), ("the night", "black"),
            ("a cherry", "red"), ("a tomato", "red"), ("a strawberry", "red"), ("blood", "red"),
            ("a carrot", "orange"), ("a pumpkin", "orange"), ("an orange", "orange"),
            ("a plum", "purple"), ("a grape", "purple"), ("an eggplant", "purple"),
            ("chocolate", "brown"), ("mud", "brown"), ("a flamingo", "pink"),
            ("a pig", "pink"), ("ash", "gray"), ("an elephant", "gray"),
        ),
    ),
    Relation(
        "young",
        ("what is a baby {s} called?", "a baby {s} is called what?", "what do we call a young {s}?"),
        ("a baby {s} is called a {v}.", "a young {s} is a {v}.", "the {v} is a baby {s}."),
        "is a baby {s} called a {v}?",
        (
            ("cow", "calf"), ("dog", "puppy"), ("cat", "kitten"), ("sheep", "lamb"),
            ("horse", "foal"), ("duck", "duckling"), ("frog", "tadpole"), ("hen", "chick"),
            ("bear", "cub"), ("goat", "kid"), ("pig", "piglet"), ("deer", "fawn"),
            ("kangaroo", "joey"), ("owl", "owlet"), ("swan", "cygnet"), ("goose", "gosling"),
        ),
    ),
    Relation(
        "home",
        ("where does {s} live?", "{s} lives where?", "what is the home of {s}?"),
        ("{s} lives in {v}.", "the home of {s} is {v}.", "{v} is the home of {s}."),
        "does {s} live in {v}?",
        (
            ("a bird", "a nest"), ("a bee", "a hive"), ("a spider", "a web"),
            ("a rabbit", "a burrow"), ("a bear", "a cave"), ("a fox", "a den"),
            ("a horse", "a stable"), ("a pig", "a sty"), ("a dog", "a kennel"),
            ("an ant", "an anthill"), ("a fish", "a pond"), ("a cow", "a barn"),
            ("a hen", "a coop"), ("a beaver", "a lodge"),
        ),
    ),
    Relation(
        "use",
        ("what is {s} used for?", "{s} is used for what?", "why do people use {s}?"),
        ("{s} is used for {v}.", "people use {s} for {v}.", "we need {s} for {v}."),
        "is {s} used for {v}?",
        (
            ("a knife", "cutting"), ("a pen", "writing"), ("a broom", "sweeping"),
            ("a cup", "drinking"), ("a bed", "sleeping"), ("a key", "locking doors"),
            ("soap", "washing"), ("a comb", "combing hair"), ("a ladder", "climbing"),
            ("a shovel", "digging"), ("a needle", "sewing"), ("a brush", "painting"),
            ("a chair", "sitting"), ("a towel", "drying"), ("an oven", "baking"),
            ("a clock", "telling time"), ("a map", "finding the way"),
            ("an umbrella", "staying dry"), ("a camera", "taking photos"),
            ("a phone", "calling friends"),
        ),
    ),
    Relation(
        "legs",
        ("how many legs does {s} have?", "{s} has how many legs?", "count the legs of {s}. how many?"),
        ("{s} has {v} legs.", "there are {v} legs on {s}.", "{s} walks on {v} legs."),
        "does {s} have {v} legs?",
        (
            ("a spider", "eight"), ("an ant", "six"), ("a bee", "six"), ("a beetle", "six"),
            ("a fly", "six"), ("a dog", "four"), ("a cat", "four"), ("a horse", "four"),
            ("a cow", "four"), ("a bird", "two"), ("a duck", "two"), ("a hen", "two"),
            ("a person", "two"), ("a snake", "zero"), ("a fish", "zero"), ("a worm", "zero"),
        ),
    ),
    Relation(
        "kind",
        ("what kind of thing is {s}?", "{s} is what kind of thing?", "{s} belongs to which group?"),
        ("{s} is a kind of {v}.", "{s} is a {v}.", "one kind of {v} is {s}."),
        "is {s} a kind of {v}?",
        (
            ("an apple", "fruit"), ("a pear", "fruit"), ("a peach", "fruit"),
            ("a carrot", "vegetable"), ("a potato", "vegetable"), ("an onion", "vegetable"),
            ("a rose", "flower"), ("a tulip", "flower"), ("a daisy", "flower"),
            ("an oak", "tree"), ("a pine", "tree"), ("a maple", "tree"),
            ("a salmon", "fish"), ("a trout", "fish"), ("a shark", "fish"),
            ("an eagle", "bird"), ("a robin", "bird"), ("a parrot", "bird"),
            ("an ant", "insect"), ("a beetle", "insect"), ("a butterfly", "insect"),
            ("a hammer", "tool"), ("a saw", "tool"), ("a drill", "tool"),
            ("milk", "drink"), ("tea", "drink"), ("juice", "drink"),
            ("a doll", "toy"), ("a kite", "toy"), ("a yo-yo", "toy"),
        ),
    ),
    Relation(
        "opposite",
        ("what is the opposite of {s}?", "the opposite of {s} is what?", "which word means the opposite of {s}?"),
        ("the opposite of {s} is {v}.", "{s} and {v} are opposites.", "{s} is the opposite of {v}."),
        "is {v} the opposite of {s}?",
        (
            ("hot", "cold"), ("big", "small"), ("up", "down"), ("fast", "slow"),
            ("day", "night"), ("open", "closed"), ("happy", "sad"), ("wet", "dry"),
            ("light", "dark"), ("full", "empty"), ("loud", "quiet"), ("hard", "soft"),
            ("early", "late"), ("tall", "short"), ("near", "far"), ("rich", "poor"),
            ("clean", "dirty"), ("young", "old"), ("thick", "thin"), ("left", "right"),
        ),
    ),
)
# fmt: on


def stable_index(key: str, n: int) -> int:
    """A seed-free, platform-stable choice in ``range(n)`` (``hash()`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % n


def eval_question_index(relation: Relation, subject: str) -> int:
    """Which of the three wordings asks this fact in the eval split."""
    return stable_index(f"{relation.name}/{subject}", len(relation.questions))


# --- stories (HellaSwag-like) ------------------------------------------------
# (setup, ending): {n} name, {p} subject pronoun, {ps} possessive. The setup
# is the context; the ending is the continuation a model should prefer.
SCENARIOS: tuple[tuple[str, str], ...] = (
    ("{n} was very hungry, so {p}", "made a sandwich and ate it."),
    ("{n} was thirsty after the run, so {p}", "drank a big glass of water."),
    ("{n} was tired at the end of the day, so {p}", "went to bed and fell asleep."),
    ("it started to rain on {n}, so {p}", "opened {ps} umbrella."),
    ("{n} was cold in the snow, so {p}", "put on a warm coat and a hat."),
    ("{n} was hot in the sun, so {p}", "jumped into the cool pool."),
    ("{n} dropped a glass on the floor, so {p}", "swept up the broken pieces."),
    ("{n} heard a knock at the door, so {p}", "went to see who was there."),
    ("the phone rang, so {n}", "picked it up and said hello."),
    ("{n} wanted to read a book, so {p}", "went to the library."),
    ("{n} had dirty hands, so {p}", "washed them with soap."),
    ("{n} wanted to fly a kite, so {p}", "waited for a windy day."),
    ("the room was dark, so {n}", "turned on the light."),
    ("{n} missed the bus, so {p}", "walked to school."),
    ("the dog of {n} was hungry, so {p}", "filled its bowl with food."),
    ("{n} wanted to grow flowers, so {p}", "planted seeds in the garden."),
    ("{n} had a test the next day, so {p}", "studied {ps} notes all evening."),
    ("{n} saw a friend across the street, so {p}", "waved and called out hello."),
    ("{n} lost a tooth, so {p}", "put it under {ps} pillow."),
    ("the shoes of {n} were untied, so {p}", "bent down and tied the laces."),
    ("{n} wanted to make a snowman, so {p}", "rolled three big balls of snow."),
    ("{n} spilled juice on the table, so {p}", "wiped it up with a towel."),
    ("the plant looked dry, so {n}", "gave it some water."),
    ("{n} wanted to bake cookies, so {p}", "mixed flour, sugar and butter."),
    ("{n} was bored on a rainy day, so {p}", "built a fort out of blankets."),
    ("the bike of {n} had a flat tire, so {p}", "pumped air into the tire."),
    ("{n} wanted to go swimming, so {p}", "put on {ps} swimsuit."),
    ("{n} could not see the board, so {p}", "put on {ps} glasses."),
    ("{n} found a lost puppy, so {p}", "looked for its owner."),
    ("{n} had a bad cold, so {p}", "stayed home and rested."),
    ("{n} wanted to catch a fish, so {p}", "took a rod to the lake."),
    ("the ice cream was melting, so {n}", "ate it very quickly."),
    ("the room of {n} was messy, so {p}", "put the toys back in the box."),
    ("{n} wanted to paint a picture, so {p}", "got out a brush and paints."),
    ("{n} heard a loud noise at night, so {p}", "hid under the blanket."),
    ("{n} was late for school, so {p}", "ran as fast as {p} could."),
    ("{n} got a letter from grandma, so {p}", "wrote a letter back to her."),
    ("{n} wanted to see the stars, so {p}", "went outside after dark."),
    ("the hair of {n} was too long, so {p}", "went to get a haircut."),
    ("the baby was crying, so {n}", "sang a soft song to it."),
    ("{n} wanted to buy a toy, so {p}", "saved coins in a jar."),
    ("{n} was lost in the city, so {p}", "asked a police officer for help."),
    ("{n} got sand in {ps} shoes, so {p}", "shook them out on the beach."),
    ("{n} wanted to learn to swim, so {p}", "took lessons at the pool."),
    ("the cat was stuck in a tree, so {n}", "climbed up and brought it down."),
    ("the milk smelled bad, so {n}", "poured it down the sink."),
    ("{n} wanted a pet, so {p}", "asked {ps} parents for a puppy."),
    ("{n} woke up early, so {p}", "watched the sun come up."),
)


# --- yes/no passages (BoolQ-like) --------------------------------------------
@dataclass(frozen=True)
class Property:
    """A yes/no property: the question, how a passage states it either way, and who has it."""

    question: str
    positive: str
    negative: str
    yes: tuple[str, ...]
    no: tuple[str, ...]

    def statement(self, subject: str, holds: bool) -> str:
        return (self.positive if holds else self.negative).format(s=subject)


# fmt: off
PROPERTIES: tuple[Property, ...] = (
    Property("can {s} fly?", "{s} can fly.", "{s} cannot fly.",
             ("a bird", "an eagle", "a duck", "an owl", "a bee", "a butterfly", "a bat", "a crow"),
             ("a dog", "a cat", "a cow", "a fish", "a snake", "a pig", "a horse", "a worm")),
    Property("can {s} swim?", "{s} can swim.", "{s} cannot swim.",
             ("a fish", "a duck", "a frog", "a whale", "a seal", "a dolphin", "a swan", "a shark"),
             ("a hen", "a bee", "a spider", "an ant", "a snail", "a butterfly", "a bat", "a worm")),
    Property("does {s} have fur?", "{s} has fur.", "{s} has no fur.",
             ("a dog", "a cat", "a bear", "a rabbit", "a fox", "a sheep", "a mouse", "a lion"),
             ("a fish", "a snake", "a frog", "a bird", "a worm", "a duck", "a shark", "an ant")),
    Property("is {s} good to eat?", "{s} is good to eat.", "{s} is not good to eat.",
             ("an apple", "bread", "cheese", "a carrot", "rice", "an egg", "a pear", "soup"),
             ("a rock", "a shoe", "soap", "sand", "a sock", "a spoon", "a key", "glue")),
    Property("is {s} hot?", "{s} is hot.", "{s} is not hot.",
             ("fire", "the sun", "an oven", "a stove", "lava", "a candle flame", "a desert", "hot soup"),
             ("ice", "snow", "a fridge", "ice cream", "frost", "a snowman", "the north pole", "cold milk")),
    Property("is {s} alive?", "{s} is alive.", "{s} is not alive.",
             ("a tree", "a dog", "a flower", "a bird", "a fish", "a frog", "a horse", "a mouse"),
             ("a rock", "a chair", "a spoon", "a cup", "a book", "a shoe", "a car", "a coin")),
    Property("does {s} have wheels?", "{s} has wheels.", "{s} has no wheels.",
             ("a car", "a bike", "a bus", "a train", "a truck", "a wagon", "a skateboard", "a tractor"),
             ("a boat", "a horse", "a chair", "a kite", "a table", "a bed", "a sled", "a canoe")),
)
# fmt: on


# --- word problems (GSM8K-like) ----------------------------------------------
# (op, template). {n} name, {p} pronoun, {t} a countable thing (plural by +s).
ARITH_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("+", "{n} has {a} {t}s. {p} gets {b} more. how many {t}s does {n} have now?"),
    ("+", "there are {a} {t}s in a box and {b} {t}s on the table. how many {t}s are there in all?"),
    ("+", "{n} found {a} {t}s in the morning and {b} {t}s at night. how many {t}s did {n} find?"),
    ("-", "{n} has {a} {t}s. {p} gives {b} to a friend. how many {t}s does {n} have left?"),
    ("-", "there were {a} {t}s on a shelf. {b} fell off. how many {t}s are on the shelf now?"),
    ("*", "{n} has {a} bags with {b} {t}s in each bag. how many {t}s does {n} have?"),
)
# fmt: off
ARITH_THINGS: tuple[str, ...] = (
    "apple", "egg", "ball", "book", "coin", "shell", "card", "marble", "pencil",
    "cookie", "flower", "sticker",
)
# fmt: on


def arith_operands(op: str, draw: list[int]) -> tuple[int, int, int]:
    """Map two raw draws in [0, 100) to operands whose result stays small and positive.

    Numbers start at 2 so no template reads "1 apples".
    """
    if op == "*":
        a, b = 2 + draw[0] % 4, 2 + draw[1] % 4
        return a, b, a * b
    if op == "-":
        a = 3 + draw[0] % 7  # 3..9
        b = 1 + draw[1] % (a - 1)  # 1..a-1, so the answer is at least 1
        return a, b, a - b
    a, b = 2 + draw[0] % 8, 2 + draw[1] % 8
    return a, b, a + b


def arith_answer(a: int, op: str, b: int, c: int) -> str:
    """The answer text: one worked step, then GSM8K's ``#### <n>`` line marker."""
    return f"{a} {op} {b} = {c}. #### {c}"


# --- code (HumanEval/MBPP-like) ----------------------------------------------
@dataclass(frozen=True)
class CodeKind:
    """A one-line function: names it may go by, its docstring, body and tests.

    ``arg`` picks the argument family (``num2``, ``num1``, ``list``, ``str1``,
    ``str2``); ``doc`` and ``body`` use {a} and {b} for the argument names.
    ``cases`` are (args, expected) literals for the unit tests.
    """

    names: tuple[str, ...]
    arg: str
    doc: str
    body: str
    cases: tuple[tuple[str, str], ...]


ARG_NAMES: dict[str, tuple[tuple[str, ...], ...]] = {
    "num2": (("a", "b"), ("x", "y"), ("m", "n"), ("p", "q")),
    "num1": (("n",), ("x",), ("k",), ("num",)),
    "list": (("xs",), ("items",), ("values",), ("nums",)),
    "str1": (("s",), ("text",), ("word",), ("name",)),
    "str2": (("a", "b"), ("s", "t"), ("left", "right"), ("first", "second")),
}

# fmt: off
CODE_KINDS: tuple[CodeKind, ...] = (
    CodeKind(("add", "plus", "sum_two", "total"), "num2", "return the sum of {a} and {b}.", "{a} + {b}",
             (("2, 3", "5"), ("10, -4", "6"), ("0, 0", "0"))),
    CodeKind(("subtract", "minus", "difference"), "num2", "return {a} minus {b}.", "{a} - {b}",
             (("5, 3", "2"), ("1, 4", "-3"), ("0, 0", "0"))),
    CodeKind(("multiply", "times", "product"), "num2", "return {a} times {b}.", "{a} * {b}",
             (("2, 3", "6"), ("-4, 5", "-20"), ("7, 0", "0"))),
    CodeKind(("bigger", "larger", "max_of_two"), "num2", "return the larger of {a} and {b}.", "max({a}, {b})",
             (("2, 3", "3"), ("9, -1", "9"), ("4, 4", "4"))),
    CodeKind(("smaller", "lesser", "min_of_two"), "num2", "return the smaller of {a} and {b}.", "min({a}, {b})",
             (("2, 3", "2"), ("9, -1", "-1"), ("4, 4", "4"))),
    CodeKind(("double", "twice", "times_two"), "num1", "return {a} times two.", "{a} * 2",
             (("3", "6"), ("-2", "-4"), ("0", "0"))),
    CodeKind(("square", "squared", "sq"), "num1", "return {a} squared.", "{a} * {a}",
             (("3", "9"), ("-2", "4"), ("0", "0"))),
    CodeKind(("negate", "neg", "flip_sign"), "num1", "return {a} with its sign flipped.", "-{a}",
             (("3", "-3"), ("-2", "2"), ("0", "0"))),
    CodeKind(("add_one", "inc", "next_number"), "num1", "return {a} plus one.", "{a} + 1",
             (("3", "4"), ("-1", "0"), ("99", "100"))),
    CodeKind(("sub_one", "dec", "prev_number"), "num1", "return {a} minus one.", "{a} - 1",
             (("3", "2"), ("0", "-1"), ("100", "99"))),
    CodeKind(("is_even", "even", "check_even"), "num1", "return true if {a} is even.", "{a} % 2 == 0",
             (("4", "True"), ("7", "False"), ("0", "True"))),
    CodeKind(("is_odd", "odd", "check_odd"), "num1", "return true if {a} is odd.", "{a} % 2 == 1",
             (("4", "False"), ("7", "True"), ("0", "False"))),
    CodeKind(("is_positive", "positive", "above_zero"), "num1", "return true if {a} is above zero.", "{a} > 0",
             (("4", "True"), ("-7", "False"), ("0", "False"))),
    CodeKind(("absolute", "abs_value", "magnitude"), "num1", "return the absolute value of {a}.", "abs({a})",
             (("4", "4"), ("-7", "7"), ("0", "0"))),
    CodeKind(("first", "head", "first_item"), "list", "return the first item of {a}.", "{a}[0]",
             (("[3, 1, 2]", "3"), ("[9]", "9"), ("['a', 'b']", "'a'"))),
    CodeKind(("last", "tail_item", "last_item"), "list", "return the last item of {a}.", "{a}[-1]",
             (("[3, 1, 2]", "2"), ("[9]", "9"), ("['a', 'b']", "'b'"))),
    CodeKind(("length", "size", "count_items"), "list", "return the number of items in {a}.", "len({a})",
             (("[3, 1, 2]", "3"), ("[]", "0"), ("['a']", "1"))),
    CodeKind(("total_of", "sum_all", "add_all"), "list", "return the sum of the items in {a}.", "sum({a})",
             (("[3, 1, 2]", "6"), ("[]", "0"), ("[-5, 5, 1]", "1"))),
    CodeKind(("is_empty", "empty", "has_none"), "list", "return true if {a} is empty.", "len({a}) == 0",
             (("[]", "True"), ("[1]", "False"), ("[0, 0]", "False"))),
    CodeKind(("reverse", "backwards", "flip"), "str1", "return {a} reversed.", "{a}[::-1]",
             (("'abc'", "'cba'"), ("''", "''"), ("'noon'", "'noon'"))),
    CodeKind(("shout", "upper", "to_upper"), "str1", "return {a} in upper case.", "{a}.upper()",
             (("'abc'", "'ABC'"), ("''", "''"), ("'Hi'", "'HI'"))),
    CodeKind(("whisper", "lower", "to_lower"), "str1", "return {a} in lower case.", "{a}.lower()",
             (("'ABC'", "'abc'"), ("''", "''"), ("'Hi'", "'hi'"))),
    CodeKind(("join_two", "concat", "glue"), "str2", "return {a} followed by {b}.", "{a} + {b}",
             (("'ab', 'cd'", "'abcd'"), ("'', 'x'", "'x'"), ("'x', ''", "'x'"))),
)
# fmt: on


def code_signature(kind: CodeKind, name: str, args: tuple[str, ...]) -> str:
    """The prompt: a signature and a one-line docstring, ending at the closing quotes.

    It stops *before* the newline on purpose: with a byte-level BPE the
    newline and the body's indent merge into one token in training text, so a
    prompt ending in a bare newline would start the model on a token boundary
    it never saw. The completion therefore starts with ``"\\n    return"``.
    """
    names = {"a": args[0], "b": args[-1]}
    doc = kind.doc.format(**names)
    return f'def {name}({", ".join(args)}):\n    """{doc}"""'


def code_body(kind: CodeKind, args: tuple[str, ...]) -> str:
    """The reference completion (what follows the prompt)."""
    return "\n    return " + kind.body.format(a=args[0], b=args[-1])


def code_tests(kind: CodeKind, name: str) -> str:
    """Unit tests as plain asserts, run after the function definition."""
    return "\n".join(f"assert {name}({args}) == {expected}" for args, expected in kind.cases)
