"""Lines a run shows its reader: on the terminal for the CLI, and in the Prefect UI's Logs tab.

``print`` alone reaches only the terminal, and Prefect's ``log_prints`` only the logger (whose
console handler ``flows.settings`` keeps at WARNING so the CLI is not buried under Prefect's
own INFO lines): :func:`say` does both, so ``slmbench run`` reads as before and a maintainer
following a served run sees the same lines in the UI.
"""

from __future__ import annotations

from prefect import get_run_logger


def say(text: str) -> None:
    """Print ``text`` and log it at INFO on the current flow or task run's logger."""
    print(text, flush=True)
    get_run_logger().info(text)
