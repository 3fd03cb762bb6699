"""Escaping and number formatting: the only way a value reaches a page.

Every string that came from a submission (model names, repos, licenses, run
ids) goes through :func:`md_text` (Markdown pages) or :func:`attr`/:func:`html`
(raw HTML and SVG). Markdown's own characters are written as numeric entities
rather than backslash escapes: mkdocs un-escapes backslash escapes when it
derives a page title, which would turn ``\\<img>`` back into a tag.

Formats are fixed per quantity (``FORMATS``); the browser scripts receive the
same table so a number looks the same in every view. A missing value is
:data:`MISSING` and never 0.
"""

from __future__ import annotations

import html as _html
import math
import re
from typing import Any

import polars as pl

MISSING = "—"

# Digits after the point for each quantity, shared with the browser scripts.
FORMATS: dict[str, int] = {
    "score": 1,  # category scores, aggregates and their intervals, 0-100
    "task": 1,  # task scores and standard errors, shown x100
    "coverage": 0,  # percent of the category weight
    "retention": 1,  # percent of the full-precision aggregate
    "tokens_per_s": 1,
    "latency_ms": 0,
    "peak_memory_gb": 2,
}

# Characters Markdown (and the tables extension) would interpret, as entities.
_MD_SPECIAL = {c: f"&#{ord(c)};" for c in "\\`*_{}[]()#+-.!|~>^$:"}
_MD_RE = re.compile("[" + re.escape("".join(_MD_SPECIAL)) + "]")


def html(value: object) -> str:
    """Text for an HTML element body."""
    return _html.escape(str(value), quote=False)


def attr(value: object) -> str:
    """Text for a quoted HTML attribute value."""
    return _html.escape(str(value), quote=True)


def md_text(value: object) -> str:
    """Literal text inside Markdown: HTML-escaped, then Markdown syntax as entities."""
    escaped = _html.escape(str(value), quote=True)
    # '&' of the entities just made must survive: only touch Markdown characters.
    return _MD_RE.sub(lambda m: _MD_SPECIAL[m.group(0)], escaped).replace("\n", " ")


# A spreadsheet opening a CSV runs a cell that starts with one of these as a formula
# (OWASP "CSV injection"); such cells get a leading apostrophe, which shows as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame for a CSV download: text cells a spreadsheet would run as formulas, quoted.

    Only string columns change; Parquet and JSON downloads keep the raw values.
    """
    cells = [
        pl.when(pl.any_horizontal(pl.col(name).str.starts_with(c) for c in _FORMULA_START))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    ]
    return frame.with_columns(cells) if cells else frame


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def number(value: Any, digits: int) -> str:
    """Fixed precision, or the missing mark."""
    if is_missing(value):
        return MISSING
    return f"{float(value):.{digits}f}"


def fmt(value: Any, kind: str) -> str:
    """A value in the fixed format of its quantity (see ``FORMATS``)."""
    return number(value, FORMATS[kind])


def percent(value: Any, kind: str = "coverage") -> str:
    """A share in [0, 1] as a percentage."""
    return MISSING if is_missing(value) else f"{100.0 * float(value):.{FORMATS[kind]}f}%"


def parameters_label(count: Any) -> str:
    """260000 -> "260K", 3700000 -> "3.7M", 1500000000 -> "1.5B" (3 significant digits)."""
    if is_missing(count):
        return MISSING
    count = int(count)
    for scale, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if count >= scale:
            value = count / scale
            text = f"{value:.3g}" if value < 1000 else f"{value:.0f}"
            return f"{text}{suffix}"
    return str(count)


# The leaderboard's parameter buckets: (label, lower bound inclusive, upper bound exclusive).
BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("<100M", 0, 100_000_000),
    ("100–500M", 100_000_000, 500_000_000),
    ("0.5–1B", 500_000_000, 1_000_000_000),
    ("1–3B", 1_000_000_000, 3_000_000_001),
)


def parameters_bucket(count: Any) -> str | None:
    """The bucket label of a parameter count; None when unknown or outside every bucket."""
    if is_missing(count):
        return None
    for label, low, high in BUCKETS:
        if low <= int(count) < high:
            return label
    return None


def slug(name: str) -> str:
    """A URL-safe page name: lowercase letters, digits and dashes."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text[:60].strip("-") or "model"


def md_table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    """A Markdown table of cells that are already escaped (``md_text``/``fmt``)."""
    align = align or ["l"] * len(header)
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(cell or MISSING for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def html_table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    """A raw HTML table of cells that are already escaped (``html``/``fmt``), on one line.

    Raw HTML costs Markdown almost nothing (it is stashed, not parsed inline),
    which is what keeps thousands of model pages fast to build.
    """
    align = align or ["l"] * len(header)
    css = {"l": "", "r": ' style="text-align:right"', "c": ' style="text-align:center"'}
    head = "".join(f"<th{css[a]}>{h}</th>" for h, a in zip(header, align, strict=True))
    body = "".join(
        "<tr>" + "".join(f"<td{css[a]}>{c or MISSING}</td>" for c, a in zip(row, align, strict=True)) + "</tr>"
        for row in rows
    )
    return f'<div class="slmb-scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>\n'
