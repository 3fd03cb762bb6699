"""The transformers backend: lm-eval's ``HFLM``, fed a model we load ourselves.

We reuse ``HFLM`` for tokenization, rolling log-likelihoods and generation (so
our numbers are lm-eval's numbers). Log-likelihood requests go through HFLM's
own pass per request by default (``spec.DEFAULT_SCORER``); ``scorer="shared-prefix"``
runs each shared token prefix once (``evals.backends.prefix_scoring``: the same
rows HFLM sums, within float32 rounding of its scores), except on a model whose
cache is not plain full attention (sliding windows, recurrent layers). The loading is ours, where the
project's rules apply:

- never ``trust_remote_code``;
- safetensors or GGUF only: a folder holding only pickle weights is refused
  before anything is read;
- local files only unless the spec asks for the hub;
- a GGUF file loads dequantized (``gguf_file=``), with its tokenizer metadata
  cleaned of out-of-range special token ids (stories260K's pad id is
  0xFFFFFFFF, which transformers rejects in both the tokenizer and the model);
- a chat template is the submitter's code: HFLM's ``apply_chat_template`` is kept
  (the same template, arguments and fallback) but rendered by ``evals.backends.chat``,
  bounded in time and size, as the llama.cpp backend renders it.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import torch
import transformers
from lm_eval.models.huggingface import HFLM

from evals.backends import chat
from evals.backends.errors import MissingWeightsError, UnsafeWeightsError
from evals.backends.prefix_scoring import SharedPrefixScorer, TokenRequest, supports_shared_prefix
from evals.backends.probe import GB, EdgeProbe
from evals.backends.spec import DEFAULT_SCORER, BackendSpec

if TYPE_CHECKING:
    import gguf

log = logging.getLogger(__name__)

# Suffixes of weight files that are Python pickles: loading one can run code.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


class TransformersLM(HFLM):
    """``HFLM`` over a model loaded under SLM Bench's safety rules."""

    def __init__(self, spec: BackendSpec) -> None:
        self.spec = spec
        if spec.n_threads is not None:
            # torch's thread pool is per process; a worker owns its process.
            torch.set_num_threads(spec.n_threads)
        torch.manual_seed(spec.seed)
        model, tokenizer = load_model_and_tokenizer(spec)
        super().__init__(
            pretrained=model,
            tokenizer=tokenizer,
            backend="causal",
            # HFLM's own passes (rolling, generation) find their batch as lm-eval's auto does.
            batch_size=spec.batch_size,
            max_length=spec.n_ctx,
            trust_remote_code=False,
        )
        self.scorer: SharedPrefixScorer | None = None
        if (spec.scorer or DEFAULT_SCORER) == "shared-prefix":
            if supports_shared_prefix(self.model):
                self.scorer = SharedPrefixScorer(
                    self.model, max_length=self.max_length, batch_size=spec.batch_size, softmax_dtype=self.softmax_dtype
                )
            else:
                log.warning("%s: its cache is not full attention in every layer; scoring with HFLM", spec.path)

    @property
    def scorer_name(self) -> str:
        """What scored this model's log-likelihoods (the runs table's ``scorer``)."""
        return "shared-prefix" if self.scorer is not None else "hflm"

    def _loglikelihood_tokens(
        self, requests: list[TokenRequest], disable_tqdm: bool = False, override_bs: int | None = None
    ) -> list[tuple[float, bool]]:
        # override_bs: HFLM's rolling windows (disjoint, nothing shared): its own code.
        if self.scorer is None or override_bs is not None:
            return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs)

        def cache(index: int, answer: tuple[float, bool]) -> None:
            if requests[index][0] is not None:
                self.cache_hook.add_partial("loglikelihood", requests[index][0], answer)

        return self.scorer.score(requests, on_result=cache)

    @classmethod
    def from_spec(cls, spec: BackendSpec) -> TransformersLM:
        return cls(spec)

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """HFLM's prompt: the tokenizer's template, its special tokens and HFLM's template arguments, with HFLM's
        fallback (drop the system turns) when the template refuses the conversation; rendered with bounds."""
        import jinja2

        template = self.tokenizer.get_chat_template()
        variables = {**self.tokenizer.special_tokens_map, **(self.chat_template_args or {})}
        try:
            return chat.render_chat(template, chat_history, add_generation_prompt, variables)
        except jinja2.exceptions.TemplateError:
            log.warning("the chat template refused the conversation; removing the system turns, as lm-eval's HFLM does")
            return chat.render_chat(template, chat.without_system(chat_history), add_generation_prompt, variables)

    def edge_probe(self) -> TransformersProbe:
        """The operations edge measurement times on this model (``evals.edge.measurement``)."""
        return TransformersProbe(self)


class TransformersProbe(EdgeProbe):
    """Edge operations on a loaded :class:`TransformersLM`: forward passes with a KV cache, in inference mode."""

    backend = "transformers"

    def __init__(self, lm: TransformersLM) -> None:
        super().__init__()
        self._model = lm.model
        self._device = torch.device(lm.spec.device)
        self._cuda = self._device.type == "cuda"
        self.device = self._device.type
        self.threads = torch.get_num_threads()
        self.weights = lm.spec.path
        self.vocab_size = int(self._model.config.vocab_size)
        self.context = None
        self._past = None
        self._mode = torch.inference_mode()

    def set_inputs(self, prompt: list[int], step: int) -> None:
        self._prompt = torch.tensor([prompt], device=self._device)
        self._step = torch.tensor([[step]], device=self._device)

    def reset(self) -> None:
        self._past = None

    def prefill(self) -> None:
        # logits_to_keep=1: only the next token's logits, as llama.cpp computes for a prompt
        self._model(self._prompt, use_cache=True, logits_to_keep=1)

    def decode(self) -> None:
        self._past = self._model(self._step, past_key_values=self._past, use_cache=True).past_key_values

    def synchronize(self) -> None:
        if self._cuda:
            torch.cuda.synchronize(self._device)

    def reset_peak_memory(self) -> None:
        if self._cuda:
            torch.cuda.reset_peak_memory_stats(self._device)
        else:
            super().reset_peak_memory()

    def peak_memory(self) -> tuple[float | None, str]:
        if self._cuda:
            return torch.cuda.max_memory_allocated(self._device) / GB, "torch.cuda.max_memory_allocated"
        return super().peak_memory()

    def __enter__(self) -> TransformersProbe:
        self._mode.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.reset()
        self._mode.__exit__(kind, error, trace)


def load_model_and_tokenizer(
    spec: BackendSpec,
) -> tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase]:
    """The model (on ``spec.device``, in eval mode) and its tokenizer."""
    gguf_path = spec.gguf_path
    if gguf_path is not None:
        model, tokenizer = _load_gguf(gguf_path, spec)
    else:
        model, tokenizer = _load_safetensors(spec)
    return model.to(spec.device).eval(), tokenizer


def check_safetensors_folder(folder: Path) -> None:
    """Refuse a model folder whose weights are only pickles; name the fix."""
    if not folder.is_dir():
        raise MissingWeightsError(
            f"path: {str(folder)!r} is not a folder; give an HF model folder (config.json + "
            "*.safetensors) or a .gguf file"
        )
    if any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise UnsafeWeightsError(
            f"path: {str(folder)!r} holds pickle weights ({', '.join(pickles)}), which can run code "
            "when loaded; SLM Bench loads safetensors or GGUF only. Convert them with "
            "model.save_pretrained(dir, safe_serialization=True) and submit that folder"
        )
    raise MissingWeightsError(f"path: no *.safetensors weights in {str(folder)!r}")


def _load_safetensors(
    spec: BackendSpec,
) -> tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase]:
    # A hub id (local_files_only=False) has no folder to inspect here;
    # use_safetensors=True below refuses pickles there too.
    if spec.local_files_only or spec.path.exists():
        check_safetensors_folder(spec.path)
    common = {"trust_remote_code": False, "local_files_only": spec.local_files_only}
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(spec.path), **common)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(spec.path), dtype=getattr(torch, spec.torch_dtype_name), use_safetensors=True, **common
    )
    return model, tokenizer


def _load_gguf(
    gguf_path: Path, spec: BackendSpec
) -> tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase]:
    if not gguf_path.is_file():
        raise MissingWeightsError(f"path: GGUF file {str(gguf_path)!r} does not exist")
    folder, name = str(gguf_path.parent), gguf_path.name
    common = {"trust_remote_code": False, "local_files_only": True, "gguf_file": name}
    config = transformers.AutoConfig.from_pretrained(folder, **common)
    if not _valid_token_id(config.pad_token_id, config.vocab_size):
        config.pad_token_id = None
    tokenizer = _load_gguf_tokenizer(gguf_path)
    if tokenizer.pad_token is None:
        # Batches need some pad id; padding is masked or cut off, so EOS is safe.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.bos_token
    model = transformers.AutoModelForCausalLM.from_pretrained(
        folder, config=config, dtype=getattr(torch, spec.torch_dtype_name), **common
    )
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _valid_token_id(token_id: int | None, vocab_size: int) -> bool:
    return token_id is None or 0 <= token_id < vocab_size


def _load_gguf_tokenizer(gguf_path: Path) -> transformers.PreTrainedTokenizerBase:
    """The GGUF's tokenizer; out-of-range special ids are dropped first.

    transformers reads special token ids straight from the metadata and fails on
    one outside the vocabulary (IndexError). Rather than patch its internals we
    hand it a metadata-only copy of the file without those keys: no tensors, so
    the copy is small even for a large model, and it is deleted right after.
    """
    import gguf

    reader = gguf.GGUFReader(str(gguf_path))
    n_vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    bad_keys = {
        key
        for key, field in reader.fields.items()
        if key.startswith("tokenizer.ggml.")
        and key.endswith("_token_id")
        and not _valid_token_id(int(field.contents()), n_vocab)
    }
    common = {"trust_remote_code": False, "local_files_only": True}
    if not bad_keys:
        return transformers.AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name, **common)
    with tempfile.TemporaryDirectory(prefix="slmbench-gguf-tok-") as tmp:
        copy = Path(tmp) / "tokenizer.gguf"
        _write_metadata_copy(reader, copy, skip=bad_keys)
        return transformers.AutoTokenizer.from_pretrained(tmp, gguf_file=copy.name, **common)


def _write_metadata_copy(reader: gguf.GGUFReader, target: Path, skip: set[str]) -> None:
    """Copy a GGUF's key/value metadata (not its tensors) to ``target``, minus ``skip``."""
    import gguf

    fields = reader.fields
    writer = gguf.GGUFWriter(str(target), arch=str(fields["general.architecture"].contents()))
    for key, field in fields.items():
        # GGUF.* are header fields the writer makes itself; it also writes the architecture.
        if key.startswith("GGUF.") or key == "general.architecture" or key in skip:
            continue
        sub_type = field.types[1] if len(field.types) > 1 else None
        writer.add_key_value(key, field.contents(), field.types[0], sub_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
