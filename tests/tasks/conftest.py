"""Task tests run their tasks under the session's one Prefect test server (tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _prefect(prefect_server: None) -> None:
    """Every test here runs real Prefect tasks and flows."""
