"""What one leaderboard version changed: the rows that are new or moved since the version before.

The publish report on a pull request shows it (``flows.chatops.reporting``).
"""

from __future__ import annotations

from contracts.safe_text import visible
from contracts.tables import LEADERBOARD
from evals.site.text import md_text
from evals.warehouse.storage import read_table

MAX_ROWS = 15


def leaderboard_change(warehouse: str, version: int | None) -> str:
    """The rows of leaderboard ``version`` that are new or moved since the version before, as markdown."""
    if version is None:
        return "The leaderboard did not change."
    after = read_table(warehouse, LEADERBOARD.name, version=version)
    before = read_table(warehouse, LEADERBOARD.name, version=version - 1) if version > 0 else after.clear()
    old = {(r["model_name"], r["variant_id"]): r for r in before.iter_rows(named=True)}
    lines = ["| rank | model | variant | aggregate | change |", "|---:|---|---|---:|---|"]
    for row in sorted(after.iter_rows(named=True), key=lambda r: r["rank"]):
        prior = old.get((row["model_name"], row["variant_id"]))
        if prior is None:
            change = "new"
        elif prior["rank"] != row["rank"] or prior["aggregate"] != row["aggregate"]:
            change = f"was #{prior['rank']} ({_num(prior['aggregate'])})"
        else:
            continue
        # Model names come from pull requests: escaped, so a pipe, HTML or a bidi override stays text.
        cells = (row["rank"], _text(row["model_name"]), _text(row["variant_id"]), _num(row["aggregate"]), change)
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    shown = lines[: MAX_ROWS + 2]
    more = len(lines) - len(shown)
    return f"Leaderboard v{version}:\n\n" + "\n".join(shown) + (f"\n\n…and {more} more rows changed." if more else "")


def _text(value: object) -> str:
    return md_text(visible(str(value)))


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"
