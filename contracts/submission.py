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
project builds itself (see ``evals.models.fixtures``).

Reading a file never raises for bad input: :func:`load_submission` returns the
model or a list of :class:`Problem`, each naming the field and the fix.

The file is untrusted (it comes from pull requests), so reading it is bounded: a
regular file (never through a symbolic link) of at most 64 KiB, YAML nested at most ``MAX_DEPTH`` deep, no aliases
or merge keys, no key given twice, and no control or formatting character in any
key or value (they could rewrite what a terminal or a page shows around them).
A submission that comes from a pull request may name hub weights or files in its
own folder only (:func:`pull_request_problems`); local paths are for maintainers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
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

from contracts.backends import backend_for_format
from contracts.errors import UserError
from contracts.files import NotARegularFile, SymbolicLink, read_regular
from contracts.names import did_you_mean, name_problem
from contracts.quantizations import GGUF_QUANTS, canonical
from contracts.safe_text import describe, first_hidden, visible

MAX_SUBMISSION_BYTES = 64 * 1024
MIN_PARAMETERS = 1_000_000
MAX_PARAMETERS = 3_000_000_000
# A test model may be smaller than MIN_PARAMETERS, but it still has parameters.
MIN_TEST_PARAMETERS = 1
# The deepest real submission is 4 levels (model > quantizations > [i] > key); anything
# much deeper is an attack on the parser (5,000 nested "[" overflow its recursion).
MAX_DEPTH = 16

# Where pull requests add submission files; local weights of a PR must lie inside it.
SUBMISSIONS_DIR = "models/submissions/"
FIXTURE_SCHEME = "fixture://"
FIXTURE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")

# The category names are the catalog's; kept here too because the contract is
# checked in CI without loading the engine. tests/contracts checks they agree.
CATEGORIES = ("reasoning", "coding", "math", "language", "edge", "safety")

# The longest system instruction a submission may set (the Open LLM Leaderboard's are a sentence or two).
MAX_SYSTEM_INSTRUCTION = 2000

HF_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
REVISION_RE = re.compile(r"^[A-Za-z0-9._/-]{1,100}$")
PARAMETERS_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMB]?)\s*$", re.IGNORECASE)
_SCALE = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}


def parse_parameters(value: str | int | float) -> int:
    """``"260K"`` -> 260_000, ``"1.1B"`` -> 1_100_000_000; plain numbers pass through."""
    if isinstance(value, bool):
        raise ValueError('must be a count such as "135M" or "1.1B", not true/false')
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = PARAMETERS_RE.match(value)
        if not match:
            raise ValueError(f'cannot read {value!r} as a parameter count; write it like "260K", "135M" or "1.1B"')
        number, suffix = match.groups()
        value = float(number) * _SCALE[suffix.upper()]
    if not isinstance(value, float) or not math.isfinite(value):  # "1e999" and .inf alike
        raise ValueError(f'{str(value)[:20]} is not a parameter count; write it like "260K", "135M" or "1.1B"')
    return round(value)


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_strip), Field(min_length=1, max_length=200)]


class ChatTemplate(BaseModel):
    """lm-eval's chat template options for a variant: ``chat_template: true`` takes the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fewshot_as_multiturn: bool = Field(
        default=True,
        description="few-shot examples as alternating user and assistant turns (lm-eval's default with a template)",
    )
    system_instruction: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SYSTEM_INSTRUCTION,
        description="a system message put before every prompt (one line)",
    )


class Quantization(BaseModel):
    """One variant of the model to evaluate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(
        default=None,
        description="Precision or quantization: FP32, FP16, BF16, or a GGUF type llama.cpp loads (Q4_K_M, Q4_1, "
        "IQ4_XS, ...; the Submit page lists them); for format: gguf it may be left out and is read from the file",
    )
    format: Literal["safetensors", "gguf"] = Field(description="Weight format: safetensors or gguf")
    gguf_file: Text | None = Field(
        default=None,
        description="GGUF file name: inside `local_path` (a folder), or inside the hub repo (`source` or `hf_repo`)",
    )
    source: Text | None = Field(
        default=None, description="Hub repo (owner/name) holding `gguf_file` when it is not `hf_repo`"
    )
    chat_template: ChatTemplate | None = Field(
        default=None,
        description="true: prompts go through the model's own chat template (its tokenizer's chat_template, or "
        "the GGUF's tokenizer.chat_template), as lm-eval's --apply_chat_template; or a mapping of its options",
    )

    @field_validator("name")
    @classmethod
    def _known_name(cls, name: str | None) -> str | None:
        return None if name is None else canonical(name)

    @field_validator("gguf_file")
    @classmethod
    def _plain_file_name(cls, name: str | None) -> str | None:
        # A path here would reach past local_path (../, /abs) to any .gguf on the machine that runs it.
        if name is not None and ("/" in name or "\\" in name or name in (".", "..") or ":" in name):
            raise ValueError(
                f"{name!r} is not a plain file name; give the file's name only (no folders, no ..), "
                "and put the folder in local_path"
            )
        return name

    @field_validator("source")
    @classmethod
    def _source_is_repo(cls, source: str | None) -> str | None:
        if source is not None and not HF_REPO_RE.match(source):
            raise ValueError(f"{source!r} is not a hub repo; write it as owner/name")
        return source

    @field_validator("chat_template", mode="before")
    @classmethod
    def _template_switch(cls, value: Any) -> Any:
        if value is True:
            return {}
        if value is False or value is None:
            return None
        if isinstance(value, dict):
            return value
        raise ValueError(
            "write chat_template: true, false, or a mapping with fewshot_as_multiturn and system_instruction"
        )

    @model_validator(mode="after")
    def _format_matches(self) -> Quantization:
        if self.name in GGUF_QUANTS and self.format != "gguf":
            raise ValueError(f"format: {self.name} is a GGUF quantization; set format: gguf")
        if self.name is None and self.format != "gguf":
            raise ValueError(
                "name: a safetensors variant says its precision; add name: FP32, FP16 or BF16 "
                "(only a GGUF's name may be left out, to be read from the file)"
            )
        if self.format == "safetensors" and (self.gguf_file or self.source):
            raise ValueError(
                "gguf_file: gguf_file and source apply to format: gguf only; remove them or set format: gguf"
            )
        return self

    @property
    def backend(self) -> str:
        """The backend this format runs on (safetensors on transformers, GGUF on llama.cpp)."""
        return backend_for_format(self.format).name

    @property
    def label(self) -> str:
        """How messages name the variant: its name, else its file, else "GGUF (name read from the file)"."""
        return self.name or self.gguf_file or "GGUF (name read from the file)"


class ModelCard(BaseModel):
    """The ``model:`` block of a submission."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Declared first so the parameter check below can see it.
    test_model: bool = Field(
        default=False,
        description="true marks a fixture or test model: allows < 1M parameters; the leaderboard hides its rows "
        "unless the reader asks for test models",
    )
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

    @field_validator("name")
    @classmethod
    def _name_reads_as_itself(cls, name: str) -> str:
        if problem := name_problem(name):
            raise ValueError(problem)
        return name

    @field_validator("parameters", mode="before")
    @classmethod
    def _parse_parameters(cls, value: Any, info: ValidationInfo) -> int:
        count = parse_parameters(value)
        if info.data.get("test_model"):
            if not MIN_TEST_PARAMETERS <= count <= MAX_PARAMETERS:
                raise ValueError(
                    f"{_count(count)} is not a model size; a test model has from 1 to 3B parameters: "
                    'write its real count, e.g. "260K"'
                )
        elif not MIN_PARAMETERS <= count <= MAX_PARAMETERS:
            raise ValueError(
                f"{_count(count)} lies outside 1M–3B; SLM Bench ranks models of 1M to 3B parameters "
                "(a fixture or test model may be smaller: mark it with test_model: true)"
            )
        return count

    @field_validator("hf_repo")
    @classmethod
    def _repo_shape(cls, repo: str | None) -> str | None:
        if repo is not None and not HF_REPO_RE.match(repo):
            raise ValueError(f"{repo!r} is not a hub repo; write it as owner/name, e.g. HuggingFaceTB/SmolLM2-135M")
        return repo

    @field_validator("local_path")
    @classmethod
    def _fixture_shape(cls, local_path: str | None) -> str | None:
        if local_path is not None and local_path.startswith(FIXTURE_SCHEME):
            name = local_path.removeprefix(FIXTURE_SCHEME)
            if not FIXTURE_NAME_RE.match(name):
                raise ValueError(
                    f"{local_path!r} names no fixture; write fixture://<name> with a demo model's name "
                    "(lowercase letters, digits and dashes; `slmbench fixtures` lists them)"
                )
        return local_path

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
        # A variant is its weights and whether prompts go through the chat template: the same file may run both ways.
        variants = [(q.name or q.gguf_file, q.chat_template is not None) for q in self.quantizations]
        if len(set(variants)) != len(variants):
            raise ValueError(
                "quantizations: a variant is listed twice; list each name once "
                "(or twice, once with chat_template: true and once without)"
            )
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
        # Both parts may quote the file: shown escaped, so a problem line cannot rewrite the terminal.
        return visible(f"{self.field}: {self.message}")


class SubmissionError(UserError):
    """A submission file that cannot be used; ``problems`` lists every reason."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{visible(str(path))}: " + "; ".join(str(p) for p in problems))


def _count(count: int) -> str:
    """A parameter count for a message; a huge one by its length (an int may exceed any float)."""
    digits = len(str(abs(count)))
    return f"{count:,}" if digits <= 15 else f"{'-' if count < 0 else ''}a {digits}-digit number"


_FIELDS: dict[str, tuple[str, ...]] = {
    "": tuple(Submission.model_fields),
    "model": tuple(ModelCard.model_fields),
    "quantizations": tuple(Quantization.model_fields),
    "chat_template": tuple(ChatTemplate.model_fields),
}


# A key longer than any field name is shown by its length only: a file that is not a submission
# (a secret read through a link, say) must not be printed back key by key.
MAX_SHOWN_KEY = 40


def _shown_key(key: str) -> str:
    return key if len(key) <= MAX_SHOWN_KEY else f"<a key of {len(key):,} characters>"


def _where(loc: list[str | int]) -> str:
    """``["model", "quantizations", 0, "name"]`` -> ``model.quantizations[0].name``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{_shown_key(part)}" if text else _shown_key(part))
    return text or "(file)"


def _problems_from(error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        where = _where(list(item["loc"]))
        if item["type"] == "extra_forbidden":
            parent = next(
                (p for p in ("chat_template", "quantizations") if p in loc[:-1]),
                "model" if loc[:1] == ["model"] else "",
            )
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


class _OverLimit(yaml.MarkedYAMLError):
    """Valid YAML that a submission may not use; ``problem`` says what to write instead."""


class _SubmissionLoader(yaml.SafeLoader):
    """PyYAML's safe loader, bounded: nesting depth, no aliases, huge integers as YAML errors."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):  # aliases could expand a 64 KiB file into gigabytes
            raise _OverLimit(
                None, None, "anchors and aliases (&name, *name) are not allowed; write the values out", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _OverLimit(
                    None,
                    None,
                    f"nested deeper than {MAX_DEPTH} levels; a submission is a mapping a few levels deep",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # Python refuses integers of more than 4,300 digits
            raise _OverLimit(
                None,
                None,
                f"the number {node.value[:12]}... has too many digits; write a short number",
                node.start_mark,
            ) from None


_SubmissionLoader.add_constructor("tag:yaml.org,2002:int", _SubmissionLoader.construct_yaml_int)


def _node_problems(node: yaml.Node, loc: list[str | int]) -> list[Problem]:
    """Keys given twice, merge keys, and hidden characters anywhere in the document (depth is bounded)."""
    if isinstance(node, yaml.ScalarNode):
        return _hidden_problem(_where(loc), node.value, node, "value")
    if isinstance(node, yaml.SequenceNode):
        return [p for i, item in enumerate(node.value) for p in _node_problems(item, [*loc, i])]
    problems: list[Problem] = []
    seen: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            problems.append(Problem(_where(loc), f"merge key `<<` (line {_line(key_node)}); write each key out"))
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            problems.append(
                Problem(_where(loc), f"a key at line {_line(key_node)} is not a name; keys are plain words")
            )
            continue
        key = key_node.value
        where = _where([*loc, key])
        if hidden := _hidden_problem(where, key, key_node, "key"):
            problems += hidden
            continue
        if key in seen:
            problems.append(
                Problem(where, f"given twice (lines {_line(seen[key])} and {_line(key_node)}); keep one of them")
            )
        seen[key] = key_node
        problems += _node_problems(value_node, [*loc, key])
    return problems


def _hidden_problem(where: str, text: str, node: yaml.Node, what: str) -> list[Problem]:
    found = first_hidden(text)
    if found is None:
        return []
    index, char = found
    return [
        Problem(
            where,
            f"the {what} at line {_line(node)} holds the control character {describe(char)} at character {index + 1}; "
            "remove control and formatting characters (ANSI escapes, NUL, right-to-left overrides)",
        )
    ]


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _read_yaml(text: str, source: str) -> Any:
    loader = _SubmissionLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if problems := _node_problems(node, []):
            raise SubmissionError(source, problems)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        message = (
            problem if isinstance(exc, _OverLimit) else f"not valid YAML ({problem}); check indentation and quotes"
        )
        raise SubmissionError(source, [Problem(where, message)]) from None
    finally:
        loader.dispose()


def pull_request_problems(submission: Submission) -> list[Problem]:
    """What a submission from a pull request may not say, checked from its text alone.

    A PR's submission names hub weights (``hf_repo``, no ``local_path``), a demo fixture (a
    closed list of models the project builds), or files inside the PR's own folder
    (``models/submissions/``). Nothing here looks at a disk, so the answer is the same
    whichever paths exist where the benchmark runs.
    """
    local = submission.model.local_path
    if local is None or local.startswith(FIXTURE_SCHEME):
        return []
    path = PurePosixPath(local)
    inside = path.parts[:2] == ("models", "submissions") and len(path.parts) > 2
    if not inside or path.is_absolute() or ".." in path.parts or "\\" in local or ":" in local:
        return [
            Problem(
                "model.local_path",
                f"a submission from a pull request may not read local files outside {SUBMISSIONS_DIR}; "
                "remove local_path and give the hub repo in hf_repo (with revision), or use fixture://<name>",
            )
        ]
    return []


def parse_submission(text: str, source: str = "<text>", from_pull_request: bool = False) -> Submission:
    """Parse YAML text; raises :class:`SubmissionError` listing every problem.

    ``from_pull_request`` adds the rules for files that came from a PR (:func:`pull_request_problems`).
    """
    if len(text.encode()) > MAX_SUBMISSION_BYTES:
        raise SubmissionError(source, [_too_large()])
    data = _read_yaml(text, source)
    if not isinstance(data, dict):
        raise SubmissionError(source, [Problem("(file)", "expected a mapping with a top-level `model:` key")])
    try:
        submission = Submission.model_validate(data)
    except ValidationError as exc:
        raise SubmissionError(source, _problems_from(exc)) from None
    if from_pull_request and (problems := pull_request_problems(submission)):
        raise SubmissionError(source, problems)
    return submission


def _too_large() -> Problem:
    return Problem("(file)", f"larger than {MAX_SUBMISSION_BYTES // 1024} KiB; a submission is a short YAML file")


def load_submission(path: str | Path, from_pull_request: bool = False) -> Submission:
    """Read and validate a submission file; raises :class:`SubmissionError`."""
    try:
        raw = read_regular(path, MAX_SUBMISSION_BYTES, follow_links=False)
    except FileNotFoundError:
        raise SubmissionError(str(path), [Problem("(file)", "no such file; check the path")]) from None
    except SymbolicLink:
        # git stores a link as a file; followed, it would read (and echo) whatever it points at
        raise SubmissionError(
            str(path), [Problem("(file)", "is a symbolic link; a submission is a regular file, commit its content")]
        ) from None
    except NotARegularFile as exc:
        fix = "give the path of a .yaml file" if exc.kind == "a folder" else "only regular files are read"
        raise SubmissionError(str(path), [Problem("(file)", f"is {exc.kind}; {fix}")]) from None
    except OSError as exc:
        raise SubmissionError(
            str(path), [Problem("(file)", f"cannot be read ({exc.strerror}); check the path")]
        ) from None
    if len(raw) > MAX_SUBMISSION_BYTES:
        raise SubmissionError(str(path), [_too_large()])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SubmissionError(str(path), [Problem("(file)", "not UTF-8 text; save the YAML as UTF-8")]) from None
    return parse_submission(text, str(path), from_pull_request)
