"""Process-wide defaults for the embedded mode: offline, no telemetry.

Set before any of the libraries is imported; a value the user already set
wins, so a cluster or a hub run can opt back in.
"""

from __future__ import annotations

import logging
import os

DEFAULTS = {
    # No phone-home from any library.
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DISABLE_DOCKER_CPUS_WARNING": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # Offline first: nothing reaches a hub unless a hub model was asked for
    # (evals.models.variants lifts HF_HUB_OFFLINE for that one download).
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # Prefect's ephemeral server: quiet and local.
    "PREFECT_LOGGING_LEVEL": "WARNING",
    # Flow and task run logs reach the API (the UI's Logs tab) from INFO up, while the
    # console shows only warnings: the CLI's own lines are printed (tasks.logs.say).
    "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "INFO",
    "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "INFO",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
}


# Libraries that log routine INFO lines to the console.
QUIET_LOGGERS = ("great_expectations", "datasets", "filelock", "httpx")


class _UserErrorsWithoutTraceback(logging.Filter):
    """Prefect logs every task and flow exception with its traceback; for bad input
    (a :class:`UserError`) the message alone is the useful part."""

    def filter(self, record: logging.LogRecord) -> bool:
        from contracts.errors import UserError

        if record.exc_info and isinstance(record.exc_info[1], UserError):
            record.exc_info = None
            record.exc_text = None
        return True


def apply_defaults() -> None:
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _UserErrorsWithoutTraceback) for f in logger.filters):
            logger.addFilter(_UserErrorsWithoutTraceback())
