"""Names: the one "did you mean" of the project, and how names compare.

Every layer answers a mistyped name the same way (:func:`did_you_mean`). Model and
task names are compared after Unicode NFKC normalization and case folding
(:func:`name_key`), and a name that could pass for another on a page (an invisible
letter, letters of two scripts) is refused (:func:`name_problem`).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable

# How alike a name must be to be offered (difflib's ratio): "codng" -> "coding", not "math".
CUTOFF = 0.6


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices``, or ``""``: append it to the error."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=CUTOFF)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- how names compare, and names that could pass for another


def name_key(name: str) -> str:
    """The form two names are compared in: NFKC, case folded, NFKC again (Unicode's NFKC_Casefold, less the
    default-ignorable characters, which :func:`name_problem` refuses). ``"ＳｍｏｌＬＭ2"`` and ``"smollm2"`` agree."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold()).strip()


def slug(text: str) -> str:
    """A file-name-safe id: ``"SmolLM2-135M (base)"`` -> ``"smollm2-135m-base"`` (variant ids, site paths)."""
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.") or "model"


# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): drawn as nothing. Most are format
# characters, which submissions refuse already (contracts.safe_text); the Hangul fillers and a few others are
# letters, so a name "SmolLM2\u3164" shows as "SmolLM2". U+2800 (braille blank) is drawn blank too.
_INVISIBLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)

# The scripts one name may mix (UTS #39's "highly restrictive" level): Latin with the scripts written beside it.
_SCRIPT_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
# The first word of a letter's Unicode name that is not its script.
_NOT_SCRIPTS = frozenset({"MODIFIER", "SMALL", "CAPITAL", "LETTER", "COMBINING"})


def is_invisible(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _INVISIBLE)


def script_of(char: str) -> str | None:
    """The script of a letter, from its Unicode name (``CYRILLIC SMALL LETTER O`` -> ``CYRILLIC``); None for
    digits, punctuation, symbols and marks, which every script shares."""
    if not unicodedata.category(char).startswith("L"):
        return None
    words = unicodedata.name(char, "").split()
    if not words or words[0] in _NOT_SCRIPTS:
        return None
    if words[0] == "CJK" or words[:2] == ["IDEOGRAPHIC", "ITERATION"]:
        return "HAN"
    return words[0]


def name_problem(name: str) -> str | None:
    """Why a name could pass for another one on a page, or None: an invisible character, or letters of more than
    one script (a Cyrillic ``о`` in ``SmоlLM2``). Checked after NFKC, so a full-width name is Latin."""
    for index, char in enumerate(name):
        if is_invisible(char):
            return (
                f"holds the invisible character U+{ord(char):04X} ({unicodedata.name(char, 'unnamed')}) at character "
                f"{index + 1}; a name with invisible characters reads as another name: remove it"
            )
    normal = unicodedata.normalize("NFKC", name)
    first: dict[str, tuple[int, str]] = {}
    for index, char in enumerate(normal):
        script = script_of(char)
        if script is not None:
            first.setdefault(script, (index, char))
    scripts = frozenset(first)
    if len(scripts) < 2 or any(scripts <= allowed for allowed in _SCRIPT_MIXES):
        return None
    main = max(scripts, key=lambda s: sum(script_of(c) == s for c in normal))
    odd = min((s for s in scripts if s != main), key=lambda s: first[s][0])
    index, char = first[odd]
    return (
        f"mixes letters of the {main.title()} and {odd.title()} scripts ({char!r} at character {index + 1} is "
        f"{unicodedata.name(char, 'unnamed')}); such a name can pass for another model's: write it in one script"
    )
