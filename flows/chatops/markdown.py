"""Everything the bot writes to GitHub that came from outside goes through here.

A PR author controls file names, model names, submission text and, through error messages,
parts of every refusal. Written raw into a comment, a backtick ends a code span early, a pipe
splits a table cell, HTML renders, and a right-to-left override reverses what follows. Three
shapes cover what the bot writes; each first makes hidden characters visible
(``contracts.safe_text``), because an HTML entity for U+202E still renders as U+202E:

- :func:`text`: inline text (a table cell, a name in a sentence): the site's own escaping,
  ``evals.site.text.md_text`` (HTML escaped, Markdown syntax as numeric entities);
- :func:`code`: an inline code span whose fence is longer than any backtick run inside;
- :func:`block`: a fenced block for messages of several lines (refusal reasons, errors).
"""

from __future__ import annotations

import re

from contracts.safe_text import visible
from evals.site.text import md_text

_BACKTICKS = re.compile(r"`+")
LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")


def text(value: object) -> str:
    """Literal inline text: nothing in it is Markdown, HTML or a hidden character."""
    return md_text(visible(str(value)))


def code(value: object) -> str:
    """An inline code span holding ``value`` literally (on one line)."""
    content = visible(str(value))
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(content)), default=0) + 1)
    pad = " " if content.startswith(("`", " ")) or content.endswith(("`", " ")) else ""
    return f"{fence}{pad}{content}{pad}{fence}"


def block(value: object) -> str:
    """A fenced block holding ``value`` literally, lines kept: no line inside can close it."""
    content = visible(str(value), keep_newlines=True)
    fence = "`" * max(3, max((len(run) for run in _BACKTICKS.findall(content)), default=0) + 1)
    return f"{fence}text\n{content}\n{fence}"


def mention(login: str) -> str:
    """``@login`` for a GitHub login (which notifies its owner); anything else as inert text."""
    return f"@{login}" if LOGIN_RE.match(login) else text(login)
