"""Building a site from a warehouse the test fills: the demo-like site (tests/conftest.py) and the large one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BuiltSite:
    warehouse: str
    pages: Path
    site: Path
    seconds: float


def build(root: Path, fill: Callable[[str], None]) -> BuiltSite:
    from evals.site import builder
    from evals.site.generate import generate_site

    warehouse = str(root / "warehouse")
    fill(warehouse)
    began = time.perf_counter()
    generate_site(warehouse, root / "pages")
    builder.build(root / "pages", root / "site")
    return BuiltSite(warehouse, root / "pages", root / "site", time.perf_counter() - began)
