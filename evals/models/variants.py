"""From a submission to the concrete model variants to load.

A :class:`Variant` is one (model, quantization) pair with its weights found on
disk and fingerprinted, evaluated with or without the model's chat template. A
GGUF's quantization is read from the file (``evals.models.gguf_files``): a name the
submission leaves out is filled in from it, and a declared name the file
contradicts is refused, naming both; the file's tensor-type mix travels with the
variant to the runs table. Resolving checks everything a run needs from the
weights before any model loads: the path exists and is a regular file or a
folder (a FIFO or a device would block or never end), the format is one we
load (safetensors or GGUF, never pickle), a GGUF's header and sizes hold up
(``evals.models.gguf_files``), a fixture name is one the project builds (checked before
anything is built), a variant that asks for its chat template has one (of at most
``evals.backends.chat.MAX_TEMPLATE_BYTES``, whether it is used or not), and hub
downloads happen only when the submission names a hub model and the user let
the hub be reached. All of it runs before the
weights are hashed, so a bad file leaves no cache entry behind.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from contracts.errors import UserError
from contracts.files import NotARegularFile, kind_of
from contracts.names import slug
from contracts.quantizations import FLOAT_PRECISIONS
from contracts.submission import FIXTURE_SCHEME, ModelCard, Problem, Quantization, Submission
from evals import paths
from evals.cluster.shipping import tree_digest, tree_files

if TYPE_CHECKING:
    from evals.models.fixtures import DemoModel

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


class VariantError(UserError):
    """A variant's weights cannot be used; the message says which and how to fix it."""


class WeightsMissing(VariantError):
    """Nothing at the local path (a submission may be checked on one machine and run on another)."""


# The suffix of a variant evaluated through its chat template: the same weights without it are another variant.
CHAT_SUFFIX = "--chat"


@dataclass(frozen=True)
class Variant:
    """One model variant, its weights located and fingerprinted."""

    variant_id: str
    model_name: str
    quantization: str
    backend: str
    path: str
    dtype: str | None
    weights_digest: str
    revision: str | None
    # JSON: a GGUF's tensor-type mix (type -> tensors and elements); None for safetensors.
    tensor_types: str | None = None
    # Set when prompts go through the model's chat template: the template's sha256 and lm-eval's options.
    chat_template_sha256: str | None = None
    fewshot_as_multiturn: bool | None = None
    system_instruction: str | None = None

    @property
    def chat_template(self) -> bool:
        return self.chat_template_sha256 is not None

    def chat_options(self) -> dict[str, bool | str | None]:
        """lm-eval's options for this variant's prompts (``simple_evaluate``'s, as its CLI's
        ``--apply_chat_template``, ``--fewshot_as_multiturn``, ``--system_instruction``); none without a template."""
        if not self.chat_template:
            return {}
        return {
            "apply_chat_template": True,
            "fewshot_as_multiturn": bool(self.fewshot_as_multiturn),
            "system_instruction": self.system_instruction,
        }

    def to_dict(self) -> dict[str, str | bool | None]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class WeightFacts:
    """What the weights themselves say: the quantization, a GGUF's tensor types, the chat template they carry."""

    quantization: str
    tensor_types: dict[str, dict[str, int]] | None
    chat_template: str | None


def resolve_variants(submission: Submission) -> list[Variant]:
    """Every variant of the submission, located and fingerprinted, each with a variant id of its own."""
    card = submission.model
    variants = [_resolve(card, quant) for quant in card.quantizations]
    check_unique_variants(card, variants)
    return variants


def check_unique_variants(card: ModelCard, variants: list[Variant]) -> None:
    """Two quantizations may resolve to one variant id (a GGUF whose name is read from the file, beside one that
    names the same type): refused here, at plan time, rather than by the runs table's key after every unit ran."""
    first: dict[str, int] = {}
    for i, variant in enumerate(variants):
        j = first.setdefault(variant.variant_id, i)
        if j != i:
            a, b = card.quantizations[j], card.quantizations[i]
            raise VariantError(
                f"model {card.name!r}: quantizations[{j}] ({a.label}) and quantizations[{i}] ({b.label}) both resolve "
                f"to variant {variant.variant_id!r} ({variants[j].path} and {variant.path} are both "
                f"{variant.quantization}{' with the chat template' if variant.chat_template else ''}); "
                "list each variant once: remove one of them, or point its gguf_file at another quantization"
            )


@dataclass(frozen=True)
class LocalCheck:
    """What ``slmbench validate`` found in local weights: the problems, and each variant's name as its file says."""

    problems: list[Problem]
    names: list[str | None]  # per quantization, in order; None where no file was read


def check_local_weights(submission: Submission) -> LocalCheck:
    """What ``slmbench validate`` can tell about local weights without building or downloading anything.

    Local files are checked as a run would check them, where they exist (a missing path fails at plan
    time: a submission may be checked on one machine and run on another); a fixture only by its name;
    hub weights not at all.
    """
    card = submission.model
    names: list[str | None] = [None] * len(card.quantizations)
    if not card.local_path:
        return LocalCheck([], names)
    if card.local_path.startswith(FIXTURE_SCHEME):
        try:
            _known_fixture(card.local_path.removeprefix(FIXTURE_SCHEME), f"model {card.name!r}")
        except VariantError as exc:
            return LocalCheck([Problem("model.local_path", str(exc))], names)
        return LocalCheck([], names)
    problems = []
    for i, quant in enumerate(card.quantizations):
        where = _where(card, quant)
        try:
            names[i] = _check_weights(_local_path(card, quant, where), quant, where).quantization
        except WeightsMissing:
            continue
        except VariantError as exc:
            problems.append(Problem("model.local_path", str(exc)))
    return LocalCheck(problems, names)


def _where(card: ModelCard, quant: Quantization) -> str:
    chat = " with its chat template" if quant.chat_template is not None else ""
    return f"model {card.name!r}, quantization {quant.label}{chat}"


def _resolve(card: ModelCard, quant: Quantization) -> Variant:
    where = _where(card, quant)
    path = _locate(card, quant, where)
    facts = _check_weights(path, quant, where)
    chat = quant.chat_template
    # _check_weights refused a variant that asks for a template its weights do not carry.
    template = facts.chat_template if chat is not None else None
    return Variant(
        variant_id=f"{slug(card.name)}--{facts.quantization}" + (CHAT_SUFFIX if chat is not None else ""),
        model_name=card.name,
        quantization=facts.quantization,
        backend=quant.backend,
        path=str(path),
        dtype=FLOAT_PRECISIONS.get(facts.quantization) if quant.format == "safetensors" else None,
        weights_digest=weights_digest(path),
        revision=_hub_commit(path) or card.revision,
        tensor_types=json.dumps(facts.tensor_types) if facts.tensor_types is not None else None,
        chat_template_sha256=hashlib.sha256(template.encode()).hexdigest() if template is not None else None,
        fewshot_as_multiturn=chat.fewshot_as_multiturn if chat is not None else None,
        system_instruction=chat.system_instruction if chat is not None else None,
    )


def _check_weights(path: Path, quant: Quantization, where: str) -> WeightFacts:
    """The weights at ``path`` are what ``quant`` says, and readable: before anything hashes or loads them."""
    if quant.format == "safetensors":
        _check_hf_dir(path, where)
        if quant.name is None:  # the contract refuses this already; a hand-built Quantization may not
            raise VariantError(f"{where}: a safetensors variant needs its name (FP32, FP16 or BF16)")
        facts = WeightFacts(quant.name, None, hf_chat_template(path))
    else:
        facts = _check_gguf(path, quant, where)
    if facts.chat_template is not None:
        from evals.backends.chat import ChatTemplateLimit, check_template_size

        try:
            check_template_size(facts.chat_template)  # submitter's code, compiled and run for every request
        except ChatTemplateLimit as exc:
            raise VariantError(f"{where}: {path.name}: {exc}") from None
    if quant.chat_template is not None and facts.chat_template is None:
        carrier = (
            "tokenizer.chat_template in its metadata"
            if quant.format == "gguf"
            else "chat_template in tokenizer_config.json, nor a chat_template.jinja"
        )
        raise VariantError(
            f"{where}: chat_template is set, but {path.name} carries no chat template (no {carrier}); "
            "remove chat_template, or use weights whose tokenizer ships one"
        )
    return facts


def _check_gguf(path: Path, quant: Quantization, where: str) -> WeightFacts:
    if path.suffix != ".gguf":
        raise VariantError(f"{where}: {path} is not a .gguf file; point local_path or gguf_file at the GGUF weights")
    from evals.models.gguf_files import GGUFError, inspect_gguf, mix_text

    try:
        info = inspect_gguf(path)
    except (GGUFError, NotARegularFile) as exc:
        raise VariantError(
            f"{where}: {path} is not usable GGUF weights: {exc}; point local_path or gguf_file at a complete .gguf file"
        ) from None
    found, mix = info.quantization, info.tensor_types()
    if quant.name is not None and quant.name != found.name:
        raise VariantError(
            f"{where}: the submission says {quant.name}, but {path.name} is {found.describe()} "
            f"(tensor types: {mix_text(mix)}); set name: {found.name}, or leave name out to take it from the file"
        )
    return WeightFacts(found.name, mix, info.chat_template)


def hf_chat_template(folder: Path) -> str | None:
    """The chat template an HF model folder ships, where transformers finds it: ``chat_template.jinja``,
    ``chat_template.json``, or ``chat_template`` in ``tokenizer_config.json`` (a list of named templates:
    the one named "default")."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    for name in ("chat_template.json", "tokenizer_config.json"):
        try:
            template = json.loads((folder / name).read_text(encoding="utf-8")).get("chat_template")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(template, list):
            template = next(
                (t.get("template") for t in template if isinstance(t, dict) and t.get("name") == "default"), None
            )
        if isinstance(template, str) and template.strip():
            return template
    return None


def _locate(card: ModelCard, quant: Quantization, where: str) -> Path:
    if card.local_path and card.local_path.startswith(FIXTURE_SCHEME):
        return _fixture_path(card.local_path.removeprefix(FIXTURE_SCHEME), quant, where)
    if card.local_path:
        return _local_path(card, quant, where)
    return _download(card, quant, where)


def _local_path(card: ModelCard, quant: Quantization, where: str) -> Path:
    """The local file or folder of a variant: it must exist and be a regular file or a folder.

    ``os.stat`` reads the inode only, so a FIFO is recognized without opening (and blocking on) it.
    """
    base = Path(str(card.local_path)).expanduser()
    if not base.is_absolute():
        base = Path.cwd() / base
    in_folder = quant.format == "gguf" and base.is_dir() and bool(quant.gguf_file)
    path = base / str(quant.gguf_file) if in_folder else base
    try:
        mode = path.stat().st_mode
    except OSError:
        raise WeightsMissing(
            f"{where}: local_path {path} does not exist; build or download the model there, or fix model.local_path"
        ) from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise VariantError(
            f"{where}: local_path {path} is {kind_of(mode)}; only regular files and folders are read: "
            "point it at a model folder or a .gguf file"
        )
    resolved = path.resolve()
    if in_folder and not resolved.is_relative_to(base.resolve()):
        # the contract keeps gguf_file a plain name; a link inside the folder could still point anywhere
        raise VariantError(
            f"{where}: gguf_file {quant.gguf_file!r} leads outside local_path {card.local_path} (a symbolic "
            "link); put the .gguf file itself in the folder, or point local_path at the file"
        )
    return resolved


def _known_fixture(name: str, where: str) -> str:
    """Checked before anything is built, so an unknown name costs nothing."""
    from evals.models.fixtures import MODEL_NAMES

    if name not in MODEL_NAMES:
        known = ", ".join(FIXTURE_SCHEME + n for n in MODEL_NAMES)
        raise VariantError(f"{where}: unknown fixture {name!r}; the project builds {known}")
    return name


@functools.cache
def _fixtures(root: Path) -> dict[str, DemoModel]:
    """The demo models under ``root``, built or checked once per process.

    The check regenerates the training corpus to compare recipe digests (about a second), and a
    submission names a fixture once per variant, checked again by the flow.
    """
    from evals.models.fixtures import build_all

    return build_all(root)


def _fixture_path(name: str, quant: Quantization, where: str) -> Path:
    name = _known_fixture(name, where)
    model = _fixtures(paths.fixtures_dir())[name]
    if quant.format == "safetensors":
        return Path(model.hf_dir)
    if quant.gguf_file is not None:  # the file named, whose type _check_gguf compares with any declared name
        by_file = {p.name: p for p in model.gguf.values()}
        if quant.gguf_file not in by_file:
            raise VariantError(
                f"{where}: fixture {name!r} has no GGUF file {quant.gguf_file!r}; set gguf_file to one of "
                f"{sorted(by_file)}, or set name to one of {sorted(model.gguf)}"
            )
        return Path(by_file[quant.gguf_file])
    gguf_name = "F32" if quant.name == "FP32" else quant.name
    if gguf_name not in model.gguf:
        raise VariantError(f"{where}: fixture {name!r} has no {quant.name} GGUF; it has {sorted(model.gguf)}")
    return Path(model.gguf[gguf_name])


def _download(card: ModelCard, quant: Quantization, where: str) -> Path:
    """Fetch a hub model: only reached when the submission names no local_path."""
    from huggingface_hub import constants, hf_hub_download, snapshot_download

    if constants.HF_HUB_OFFLINE:
        raise VariantError(
            f"{where}: the weights are on the hub ({card.hf_repo}) and SLM Bench runs offline by default; "
            "run with HF_HUB_OFFLINE=0 to download them, or set model.local_path to a local copy"
        )
    if quant.format == "gguf":
        if not quant.gguf_file:
            raise VariantError(f"{where}: set gguf_file to the GGUF file name in the hub repo")
        return Path(hf_hub_download(quant.source or card.hf_repo, quant.gguf_file, revision=card.revision))
    return Path(
        snapshot_download(
            card.hf_repo,
            revision=card.revision,
            # safetensors only: pickle weights are never fetched, let alone loaded; chat_template.jinja is text
            allow_patterns=["*.safetensors", "*.json", "tokenizer*", "*.model", "*.txt", "*.jinja"],
        )
    )


def _hub_commit(path: Path) -> str | None:
    """The commit a hub download resolved to (its snapshot folder's name), so an unpinned
    submission still records exactly which weights ran; None for local weights."""
    for part in (path, *path.parents):
        if part.parent.name == "snapshots":
            return part.name
    return None


def _check_hf_dir(path: Path, where: str) -> None:
    if not path.is_dir():
        raise VariantError(
            f"{where}: {path} is not a model folder; safetensors variants need a folder with config.json"
        )
    for entry in path.rglob("*"):  # a FIFO or a device where a loader expects a file would block it
        mode = entry.stat().st_mode if entry.exists() else 0
        if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise VariantError(
                f"{where}: {entry} is {kind_of(mode)}; a model folder holds regular files only: remove it"
            )
    if not (path / "config.json").exists():
        raise VariantError(f"{where}: {path} has no config.json; point local_path at a Hugging Face model folder")
    if not any(path.glob("*.safetensors")):
        pickles = [p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES]
        hint = f" (found pickle weights {pickles}: convert them to safetensors)" if pickles else ""
        raise VariantError(f"{where}: {path} holds no .safetensors weights{hint}; SLM Bench never loads pickle files")


def weights_digest(path: Path) -> str:
    """sha256 over a GGUF file, or over every file of a model folder (names and bytes).

    Memoized by (path, size, mtime) because a 3B model takes seconds to hash.
    """
    files = tree_files(path)
    stamp = json.dumps([[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files])
    memo_path = paths.cache_dir() / "digests.json"
    memo: dict[str, str] = json.loads(memo_path.read_text()) if memo_path.exists() else {}
    if stamp_digest := memo.get(stamp):
        return stamp_digest
    memo[stamp] = tree_digest(
        path
    )  # the digest a worker on another node checks its copy against (evals.cluster.shipping)
    memo_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo_path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(memo))
    tmp.replace(memo_path)
    return memo[stamp]
