"""Characters that must never reach a terminal or a page raw, and how to show them instead.

Control characters (C0, DEL, C1: ESC starts ANSI sequences, CR rewrites a line), format
characters (right-to-left overrides and isolates, zero-width joiners, the BOM), surrogates and
the Unicode line and paragraph separators let a string rewrite what is printed around it: an
"ok" line forged after a failure, a file name that reads backwards. Submissions refuse them
(:func:`first_hidden`); anything that prints text which came from outside shows them as
escapes (:func:`visible`).
"""

from __future__ import annotations

import unicodedata

# Cc: C0/C1 controls and DEL; Cf: format (bidi overrides, zero-width, BOM); Cs: lone
# surrogates; Zl/Zp: U+2028/U+2029, which editors and terminals treat as line breaks.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def is_hidden(char: str) -> bool:
    return unicodedata.category(char) in HIDDEN_CATEGORIES


def first_hidden(text: str) -> tuple[int, str] | None:
    """The position and character of the first hidden character in ``text``, or None."""
    for index, char in enumerate(text):
        if is_hidden(char):
            return index, char
    return None


def escape_char(char: str) -> str:
    r"""``\x1b``, ``\u202e``: how a hidden character is shown."""
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def describe(char: str) -> str:
    r"""``\x1b (ESCAPE)``: the escape and, where Unicode has one, the character's name."""
    name = unicodedata.name(char, "") or {"\x1b": "ESCAPE", "\x00": "NUL", "\r": "CARRIAGE RETURN"}.get(char, "")
    return f"{escape_char(char)} ({name})" if name else escape_char(char)


def visible(text: str, keep_newlines: bool = False) -> str:
    """``text`` with every hidden character written as an escape (newlines kept if asked)."""
    if first_hidden(text) is None:
        return text
    return "".join(
        char if not is_hidden(char) or (keep_newlines and char == "\n") else escape_char(char) for char in text
    )
