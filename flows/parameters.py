"""Flow parameter types whose JSON schema gives the Prefect UI's run form a choice instead of a text box.

Prefect builds a deployment's ``parameter_openapi_schema`` from the flow's signature (pydantic)
and takes each parameter's description from the docstring's ``Args:`` section. These types stay
plain ``str`` at run time, so the CLI still passes what it passes today (a suite YAML file, any
submission path); only the schema, which the UI renders and the server enforces for deployment
runs, says more:

- ``SuiteName``: an ``enum`` of the catalog's suites, a dropdown. A deployment run (the UI,
  ChatOps) takes a catalog suite only; the CLI, calling the flow in process, may also name a
  suite file (``my_suite.yaml[:name]``), which ``evals.catalog.suites`` resolves.
- ``SubmissionFile``: ``anyOf`` a dropdown of the files under ``models/submissions/`` (as they
  were when the deployment was served) or any path, since a pull request's file is new to the
  serving machine (ChatOps passes its text beside its path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import WithJsonSchema

from evals.catalog.suites import load_catalog

REPO = Path(__file__).resolve().parent.parent
SUBMISSIONS_DIR = REPO / "models" / "submissions"


def suite_names() -> list[str]:
    """The catalog's suites, in catalog order."""
    return list(load_catalog().suites)


def submission_files() -> list[str]:
    """The submission files under ``models/submissions/``, relative to the repository (as ChatOps names them)."""
    return sorted(p.relative_to(REPO).as_posix() for p in SUBMISSIONS_DIR.glob("*.yaml") if p.is_file())


SuiteName = Annotated[str, WithJsonSchema({"type": "string", "enum": suite_names()})]

SubmissionFile = Annotated[
    str,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "title": "A file in models/submissions", "enum": submission_files()},
                {"type": "string", "title": "Another path (a pull request's file)"},
            ]
        }
    ),
]
