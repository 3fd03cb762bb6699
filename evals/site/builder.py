"""The one module that knows the site generator: mkdocs with mkdocs-material.

Swapping the generator (mkdocs-material 9.x reaches end of life in May 2027)
means replacing this module and ``mkdocs.yml``: the pages are plain Markdown
with raw HTML, and the scripts and styles are the project's own.

``build`` runs ``mkdocs build --strict`` in a child process (the exact
command a maintainer would run) with a config derived from the repository's
``mkdocs.yml``, pointed at the chosen sources and output folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from contracts.errors import UserError

CONFIG = Path(__file__).resolve().parents[2] / "mkdocs.yml"
TIMEOUT_S = 1800


class SiteBuildError(UserError):
    """``mkdocs build --strict`` failed; the message carries its warnings."""


def build(pages_dir: Path, site_dir: Path, config: Path = CONFIG) -> Path:
    """Build the HTML site from ``pages_dir`` into ``site_dir``; returns the site's index.html."""
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["docs_dir"] = str(pages_dir.resolve())
    settings["site_dir"] = str(site_dir.resolve())
    derived = pages_dir.resolve().parent / f"mkdocs-{pages_dir.name}.yml"
    derived.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    # No --quiet: it drops warnings before --strict counts them, and the build would pass with broken links.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "--config-file", str(derived)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=TIMEOUT_S, check=False)
    if result.returncode != 0:
        lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        raise SiteBuildError("mkdocs build --strict failed:\n" + "\n".join(lines[-30:]))
    return site_dir / "index.html"
