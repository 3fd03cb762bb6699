"""The submission contract: what ``models/submissions/<id>.yaml`` may say.

The original design's format is accepted unchanged::

    model:
      name: "MyModel-1B"
      hf_repo: "username/mymodel-1b"
      parameters: "1.1B"
      quantizations:
        - name: "FP16"
          format: "safetensors"
      categories: ["reasoning", "coding"]

and extended with what a reproducible run needs (``revision``, ``local_path``,
per-quantization ``gguf_file``/``source``, ``family``, ``architecture``,
``context_length``, ``license``, ``submitted_by``) plus ``test_model: true``,
the explicit mark that lets a fixture or test model be smaller than 1M
parameters. ``local_path`` may be ``fixture://<name>``: a demo model the
project builds itself (see ``evals.fixtures``).

Reading a file never raises for bad input: :func:`load_submission` returns the
model or a list of :class:`Problem`, each naming the field and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from contracts.errors import UserError
from contracts.names import did_you_mean

MAX_SUBMISSION_BYTES = 64 * 1024
MIN_PARAMETERS = 1_000_000
MAX_PARAMETERS = 3_000_000_000

# The category names are the catalog's; kept here too because the contract is
# checked in CI without loading the engine. tests/contracts checks they agree.
CATEGORIES = ("reasoning", "coding", "math", "language", "edge", "safety")

# Quantization name -> the weight formats it can come in.
FLOAT_PRECISIONS = {"FP32": "float32", "FP16": "float16", "BF16": "bfloat16"}
GGUF_QUANTS = ("Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_0", "Q3_K_M", "Q2_K", "IQ4_XS")
QUANTIZATIONS = tuple(FLOAT_PRECISIONS) + GGUF_QUANTS

HF_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
REVISION_RE = re.compile(r"^[A-Za-z0-9._/-]{1,100}$")
PARAMETERS_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMB]?)\s*$", re.IGNORECASE)
_SCALE = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}


def parse_parameters(value: str | int | float) -> int:
    """``"260K"`` -> 260_000, ``"1.1B"`` -> 1_100_000_000; plain numbers pass through."""
    if isinstance(value, bool):
        raise ValueError('must be a count such as "135M" or "1.1B", not true/false')
    if isinstance(value, int | float):
        return int(value)
    match = PARAMETERS_RE.match(str(value))
    if not match:
        raise ValueError(f'cannot read {value!r} as a parameter count; write it like "260K", "135M" or "1.1B"')
    number, suffix = match.groups()
    return round(float(number) * _SCALE[suffix.upper()])


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_strip), Field(min_length=1, max_length=200)]


class Quantization(BaseModel):
    """One variant of the model to evaluate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Precision or quantization: " + ", ".join(QUANTIZATIONS))
    format: Literal["safetensors", "gguf"] = Field(description="Weight format: safetensors or gguf")
    gguf_file: Text | None = Field(
        default=None,
        description="GGUF file name: inside `local_path` (a folder), or inside the hub repo (`source` or `hf_repo`)",
    )
    source: Text | None = Field(
        default=None, description="Hub repo (owner/name) holding `gguf_file` when it is not `hf_repo`"
    )

    @field_validator("name")
    @classmethod
    def _known_name(cls, name: str) -> str:
        upper = name.strip().upper()
        if upper not in QUANTIZATIONS:
            raise ValueError(
                f"unknown quantization {name!r}{did_you_mean(upper, QUANTIZATIONS)}; known: {', '.join(QUANTIZATIONS)}"
            )
        return upper

    @field_validator("source")
    @classmethod
    def _source_is_repo(cls, source: str | None) -> str | None:
        if source is not None and not HF_REPO_RE.match(source):
            raise ValueError(f"{source!r} is not a hub repo; write it as owner/name")
        return source

    @model_validator(mode="after")
    def _format_matches(self) -> Quantization:
        if self.name in GGUF_QUANTS and self.format != "gguf":
            raise ValueError(f"format: {self.name} is a GGUF quantization; set format: gguf")
        if self.format == "safetensors" and (self.gguf_file or self.source):
            raise ValueError(
                "gguf_file: gguf_file and source apply to format: gguf only; remove them or set format: gguf"
            )
        return self

    @property
    def backend(self) -> str:
        """safetensors run on transformers, GGUF on llama.cpp."""
        return "transformers" if self.format == "safetensors" else "llamacpp"


class ModelCard(BaseModel):
    """The ``model:`` block of a submission."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Declared first so the parameter check below can see it.
    test_model: bool = Field(default=False, description="true marks a fixture or test model: allows < 1M parameters")
    name: Text = Field(description="Display name, e.g. SmolLM2-135M")
    hf_repo: Text | None = Field(default=None, description="Hub repository, owner/name")
    revision: Text | None = Field(default=None, description="Pinned hub revision (commit sha or tag)")
    local_path: Text | None = Field(
        default=None,
        description="Offline model: a folder of safetensors, a .gguf file, or fixture://<name>; relative to the working directory",
    )
    parameters: int = Field(description='Parameter count: "260K", "135M", "1.1B" or a number')
    quantizations: list[Quantization] = Field(min_length=1, description="Variants to evaluate")
    categories: list[str] = Field(default_factory=lambda: list(CATEGORIES), description="Categories to evaluate")
    family: Text | None = Field(default=None, description="Model family, e.g. SmolLM2")
    architecture: Text | None = Field(default=None, description="Architecture, e.g. llama")
    context_length: int | None = Field(default=None, gt=0, le=1_048_576, description="Context window in tokens")
    license: Text | None = Field(default=None, description="License, e.g. apache-2.0")
    submitted_by: Text | None = Field(default=None, description="GitHub handle of the submitter")

    @field_validator("parameters", mode="before")
    @classmethod
    def _parse_parameters(cls, value: Any, info: ValidationInfo) -> int:
        count = parse_parameters(value)
        if not info.data.get("test_model") and not MIN_PARAMETERS <= count <= MAX_PARAMETERS:
            raise ValueError(
                f"{count:,} lies outside 1M–3B; SLM Bench ranks models of 1M to 3B parameters "
                "(a fixture or test model may be smaller: mark it with test_model: true)"
            )
        return count

    @field_validator("hf_repo")
    @classmethod
    def _repo_shape(cls, repo: str | None) -> str | None:
        if repo is not None and not HF_REPO_RE.match(repo):
            raise ValueError(f"{repo!r} is not a hub repo; write it as owner/name, e.g. HuggingFaceTB/SmolLM2-135M")
        return repo

    @field_validator("revision")
    @classmethod
    def _revision_shape(cls, revision: str | None) -> str | None:
        if revision is not None and not REVISION_RE.match(revision):
            raise ValueError("a revision is a commit sha, branch or tag (letters, digits, . _ / -)")
        return revision

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, categories: list[str]) -> list[str]:
        cleaned = [c.strip().lower() for c in categories]
        for category in cleaned:
            if category not in CATEGORIES:
                raise ValueError(
                    f"unknown category {category!r}{did_you_mean(category, CATEGORIES)}; known: {', '.join(CATEGORIES)}"
                )
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("a category is listed twice; list each once")
        if not cleaned:
            raise ValueError("list at least one category, or leave the key out for all of them")
        return cleaned

    @model_validator(mode="after")
    def _whole_card(self) -> ModelCard:
        if not self.hf_repo and not self.local_path:
            raise ValueError("local_path: say where the weights are: set hf_repo (owner/name) or local_path")
        names = [q.name for q in self.quantizations]
        if len(set(names)) != len(names):
            raise ValueError("quantizations: a variant is listed twice; list each name once")
        return self


class Submission(BaseModel):
    """A whole submission file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: ModelCard


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a submission: where, what, and how to fix it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SubmissionError(UserError):
    """A submission file that cannot be used; ``problems`` lists every reason."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(str(p) for p in problems))


_FIELDS: dict[str, tuple[str, ...]] = {
    "": tuple(Submission.model_fields),
    "model": tuple(ModelCard.model_fields),
    "quantizations": tuple(Quantization.model_fields),
}


def _problems_from(error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        where = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", ".".join(loc)) or "(file)"
        if item["type"] == "extra_forbidden":
            parent = "quantizations" if "quantizations" in loc else ("model" if loc[:1] == ["model"] else "")
            message = f"unknown key{did_you_mean(loc[-1], _FIELDS[parent])}; remove it or fix its spelling"
        elif item["type"] == "missing":
            message = f"required; add `{loc[-1]}:` " + _field_hint(loc)
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            # Whole-object checks name their field as "field: ..." (pydantic places them on the object).
            field, sep, rest = message.partition(": ")
            if sep and re.fullmatch(r"[a-z_]+", field) and field in _FIELDS["model"] + _FIELDS["quantizations"]:
                where, message = f"{where}.{field}", rest
        problems.append(Problem(where, message))
    return problems


def _field_hint(loc: list[str]) -> str:
    owner = Quantization if "quantizations" in loc else ModelCard
    info = owner.model_fields.get(loc[-1])
    return f"({info.description})" if info and info.description else ""


def parse_submission(text: str, source: str = "<text>") -> Submission:
    """Parse YAML text; raises :class:`SubmissionError` listing every problem."""
    if len(text.encode()) > MAX_SUBMISSION_BYTES:
        raise SubmissionError(
            source,
            [Problem("(file)", f"larger than {MAX_SUBMISSION_BYTES // 1024} KiB; a submission is a short YAML file")],
        )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise SubmissionError(
            source, [Problem(where, f"not valid YAML ({getattr(exc, 'problem', exc)}); check indentation and quotes")]
        ) from None
    if not isinstance(data, dict):
        raise SubmissionError(source, [Problem("(file)", "expected a mapping with a top-level `model:` key")])
    try:
        return Submission.model_validate(data)
    except ValidationError as exc:
        raise SubmissionError(source, _problems_from(exc)) from None


def load_submission(path: str | Path) -> Submission:
    """Read and validate a submission file; raises :class:`SubmissionError`."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_SUBMISSION_BYTES:
            raise SubmissionError(
                str(path),
                [
                    Problem(
                        "(file)", f"larger than {MAX_SUBMISSION_BYTES // 1024} KiB; a submission is a short YAML file"
                    )
                ],
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SubmissionError(str(path), [Problem("(file)", "no such file; check the path")]) from None
    except UnicodeDecodeError:
        raise SubmissionError(str(path), [Problem("(file)", "not UTF-8 text; save the YAML as UTF-8")]) from None
    except IsADirectoryError:
        raise SubmissionError(str(path), [Problem("(file)", "is a folder; give the path of a .yaml file")]) from None
    return parse_submission(text, str(path))
