"""The llama.cpp backend: an lm-eval ``TemplateLM`` over in-process ``llama_cpp.Llama``.

Why not lm-eval's own ``gguf`` model type: it talks to llama-cpp-python's
HTTP server, whose completion logprobs leave out the last continuation token,
so its log-likelihoods are wrong. Here we run the model in-process with
``logits_all=True`` and read every logits row ourselves.

Tokenization follows lm-eval's ``TemplateLM`` (context and continuation are
encoded whole, then split) and HFLM's BOS rule, so token boundaries, and hence
scores, match the transformers backend on the same GGUF file.

Many requests share their context (the options of one multiple-choice
question), so requests are sorted by token sequence and each one evaluates
only the suffix after the longest prefix already in llama.cpp's KV cache; the
logits rows of that prefix are still in ``Llama.scores``.

With lm-eval's ``apply_chat_template``, prompts go through the GGUF's own
``tokenizer.chat_template``, rendered as HFLM renders a tokenizer's template
(``evals.backends.chat``), so both backends send the model the same text.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from lm_eval.api.model import TemplateLM
from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs, postprocess_generated_text
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
from tqdm import tqdm

from evals.backends import chat
from evals.backends.errors import BackendError, MissingWeightsError
from evals.backends.probe import GB, EdgeProbe
from evals.backends.spec import BackendSpec
from evals.models.gguf_files import GGUFFile, inspect_gguf

if TYPE_CHECKING:
    from collections.abc import Sequence

    from lm_eval.api.instance import Instance

log = logging.getLogger(__name__)

# (request key for lm-eval's cache hook, context tokens, continuation tokens)
TokenRequest = tuple[tuple[str, str] | None, list[int], list[int]]

# lm-eval's HFLM default, so both backends stop generating at the same length.
DEFAULT_MAX_GEN_TOKS = 256


class LlamaCppLM(TemplateLM):
    """lm-eval ``LM`` over a GGUF file, scored in-process by llama.cpp."""

    def __init__(self, spec: BackendSpec, *, reuse_prefix: bool = True) -> None:
        super().__init__()
        if not spec.path.is_file():
            raise MissingWeightsError(f"path: GGUF file {str(spec.path)!r} does not exist")
        import llama_cpp

        self.spec = spec
        # Off only to check that reuse changes no number (tests).
        self.reuse_prefix = reuse_prefix
        header = inspect_gguf(spec.path)
        # float32 unless asked: see BackendSpec.kv_cache_dtype for why not llama.cpp's float16.
        kv_type = {
            None: llama_cpp.GGML_TYPE_F32,
            "float32": llama_cpp.GGML_TYPE_F32,
            "float16": llama_cpp.GGML_TYPE_F16,
        }
        # Our window, not Llama.n_ctx(): llama.cpp may round its context up, but
        # Llama's token and logits buffers hold exactly the n_ctx we pass.
        self._n_ctx = spec.n_ctx or _trained_context(header)
        self._llama = llama_cpp.Llama(
            model_path=str(spec.path),
            # Every row of logits, not just the last: log-likelihoods need them all.
            logits_all=True,
            n_ctx=self._n_ctx,
            n_threads=spec.n_threads,
            n_threads_batch=spec.n_threads,
            n_gpu_layers=-1 if spec.device == "cuda" else 0,
            seed=spec.seed,
            type_k=kv_type[spec.kv_cache_dtype],
            type_v=kv_type[spec.kv_cache_dtype],
            verbose=False,
        )
        self._eot = self._llama.token_eos()
        self._bos = self._llama.token_bos()
        # A SentencePiece vocabulary marks word starts with a space; transformers' decoder for it
        # drops the space of the first token ("▁park" -> "park") and llama.cpp does not. Do as
        # transformers does, so both backends return the same text for the same tokens.
        metadata = self._llama.metadata
        self._strip_first_space = (
            metadata.get("tokenizer.ggml.model") == "llama"
            and metadata.get("tokenizer.ggml.add_space_prefix", "true").lower() != "false"
        )
        self._chat_template = header.chat_template
        vocab = llama_cpp.llama_model_get_vocab(self._llama.model)
        self._special_tokens = chat.special_tokens(
            header.metadata,
            llama_cpp.llama_vocab_n_tokens(vocab),
            lambda token: llama_cpp.llama_vocab_get_text(vocab, token).decode("utf-8", errors="replace"),
        )

    @classmethod
    def from_spec(cls, spec: BackendSpec) -> LlamaCppLM:
        return cls(spec)

    def close(self) -> None:
        """Free the model now rather than at interpreter exit (where llama.cpp's finalizer is noisy)."""
        self._llama.close()

    def edge_probe(self) -> LlamaCppProbe:
        """The operations edge measurement times on this model (``evals.edge.measurement``)."""
        return LlamaCppProbe(self)

    # -- tokens -----------------------------------------------------------

    @property
    def eot_token_id(self) -> int:
        return self._eot

    @property
    def prefix_token_id(self) -> int:
        # HFLM's rule: BOS when the vocabulary has one, else EOS.
        return self._bos if self._bos >= 0 else self._eot

    @property
    def max_length(self) -> int:
        return self._n_ctx

    @property
    def max_gen_toks(self) -> int:
        return DEFAULT_MAX_GEN_TOKS

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
        """Token ids of ``string``; BOS as HFLM adds it (the model's default, unless already there)."""
        if add_special_tokens is None:
            add_special_tokens = not (self._bos >= 0 and string.startswith(self._token_text(self._bos)))
        # special=True: special-token text in the input becomes the token, as HF tokenizers do.
        return self._llama.tokenize(string.encode("utf-8"), add_bos=add_special_tokens, special=True)

    def tok_decode(self, tokens: Sequence[int]) -> str:
        text = self._llama.detokenize(list(tokens)).decode("utf-8", errors="replace")
        if self._strip_first_space and text.startswith(" "):
            return text[1:]
        return text

    def _token_text(self, token: int) -> str:
        return self._llama.detokenize([token], special=True).decode("utf-8", errors="replace")

    # -- chat templates (lm-eval's apply_chat_template) -------------------

    @property
    def tokenizer_name(self) -> str:
        """What lm-eval names request caches by (HFLM uses the tokenizer's path)."""
        return self.spec.path.stem

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        """The GGUF's ``tokenizer.chat_template`` when asked for (lm-eval records it), else None."""
        return self._chat_template if chat_template else None

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The prompt HFLM would build from ``chat_history`` with this GGUF's template (``evals.backends.chat``)."""
        import jinja2

        if self._chat_template is None:
            raise BackendError(
                f"apply_chat_template: {self.spec.path.name} carries no tokenizer.chat_template; "
                "evaluate it without chat_template, or use a GGUF that ships one"
            )
        try:
            return chat.render_chat(self._chat_template, chat_history, add_generation_prompt, self._special_tokens)
        except jinja2.exceptions.TemplateError:
            log.warning("the chat template refused the conversation; removing the system turns, as lm-eval's HFLM does")
            history = chat.without_system(chat_history)
            return chat.render_chat(self._chat_template, history, add_generation_prompt, self._special_tokens)

    # -- the KV cache -----------------------------------------------------

    def _evaluate(self, tokens: list[int]) -> None:
        """Make ``Llama.scores[:len(tokens)]`` the logits of ``tokens``, reusing the cached prefix."""
        llama = self._llama
        common = _common_prefix(llama.input_ids[: llama.n_tokens], tokens) if self.reuse_prefix else 0
        # Rows before `common` depend only on tokens before them (causal), so they stay valid;
        # Llama.eval drops the KV cells from n_tokens on before decoding the rest.
        llama.n_tokens = common
        if common < len(tokens):
            llama.eval(tokens[common:])

    # -- lm-eval requests -------------------------------------------------

    def _loglikelihood_tokens(
        self, requests: list[TokenRequest], disable_tqdm: bool = False, **kwargs: Any
    ) -> list[tuple[float, bool]]:
        # Sorting by the whole token sequence puts shared prefixes next to each other.
        order = sorted(range(len(requests)), key=lambda i: requests[i][1] + requests[i][2])
        results: list[tuple[float, bool]] = [(0.0, False)] * len(requests)
        for i in tqdm(order, disable=disable_tqdm, desc="llama.cpp loglikelihood"):
            key, context, continuation = requests[i]
            results[i] = self._score(context, continuation)
            if key is not None:
                self.cache_hook.add_partial("loglikelihood", key, results[i])
        return results

    def _score(self, context: list[int], continuation: list[int]) -> tuple[float, bool]:
        if not context or not continuation:
            raise BackendError("loglikelihood: context and continuation must each have a token")
        # Truncate from the left to the context window, as HFLM does; the last token is only a target.
        whole = (context + continuation)[-(self.max_length + 1) :]
        inputs = whole[:-1]
        self._evaluate(inputs)
        # Row j holds the logits that predict token j + 1.
        start = len(inputs) - len(continuation)
        logits = self._llama.scores[start : len(inputs)].astype(np.float64)
        top = logits.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        targets = np.asarray(continuation)
        logprob = float((logits[np.arange(len(targets)), targets] - log_z).sum())
        is_greedy = bool((logits.argmax(axis=1) == targets).all())
        return logprob, is_greedy

    def loglikelihood_rolling(self, requests: list[Instance], disable_tqdm: bool = False) -> list[float]:
        """Whole-text log-likelihood in disjoint windows of the context size, as HFLM computes it."""
        windows: list[TokenRequest] = []
        owners: list[int] = []
        for index, (text,) in enumerate(req.args for req in requests):
            for context, continuation in map(
                make_disjoint_window,
                get_rolling_token_windows(
                    token_list=self.tok_encode(text),
                    prefix_token=self.prefix_token_id,
                    max_seq_len=self.max_length,
                    context_len=1,
                ),
            ):
                windows.append((None, context, continuation))
                owners.append(index)
        totals = [0.0] * len(requests)
        for owner, (logprob, _) in zip(owners, self._loglikelihood_tokens(windows, disable_tqdm), strict=True):
            totals[owner] += logprob
        for req, total in zip(requests, totals, strict=True):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
        return totals

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Greedy continuation of each context, cut at the first ``until`` string, EOS or ``max_gen_toks``."""
        eos_text = self._token_text(self._eot)
        args = [req.args for req in requests]
        encoded = [self.tok_encode(context) for context, _ in args]
        outputs = [""] * len(args)
        # Same contexts (few-shot prefixes) next to each other, so the KV cache carries over.
        for i in tqdm(
            sorted(range(len(args)), key=encoded.__getitem__), disable=disable_tqdm, desc="llama.cpp generate"
        ):
            context, gen_kwargs = args[i]
            kwargs = normalize_gen_kwargs(gen_kwargs, self.max_gen_toks)
            until = handle_stop_sequences(kwargs.pop("until", None), eos=eos_text)
            max_gen_toks = int(kwargs.pop("max_gen_toks"))
            if kwargs.get("do_sample") or kwargs.get("temperature", 0.0) > 0:
                log.warning("llama.cpp backend decodes greedily; ignoring sampling options %s", kwargs)
            room = self.max_length - max_gen_toks
            if room <= 0:
                raise BackendError(
                    f"max_gen_toks: {max_gen_toks} leaves no room for context in the {self.max_length}-token "
                    "window; lower max_gen_toks in the task or raise n_ctx in the backend spec"
                )
            text = self._greedy(encoded[i][-room:], until, max_gen_toks)
            outputs[i] = postprocess_generated_text(generation=text, stop=until, think_end_token=None)
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), outputs[i])
        return outputs

    def _greedy(self, context: list[int], until: list[str], max_gen_toks: int) -> str:
        llama = self._llama
        self._evaluate(context)
        generated: list[int] = []
        text = ""
        for _ in range(max_gen_toks):
            token = int(np.argmax(llama.scores[llama.n_tokens - 1]))
            if token == self._eot:
                break
            generated.append(token)
            # Decode the whole continuation each step: a stop string can span tokens.
            text = self.tok_decode(generated)
            if any(stop and stop in text for stop in until) or llama.n_tokens >= self.max_length:
                break
            llama.eval([token])
        return text


def _common_prefix(cached: np.ndarray, tokens: list[int]) -> int:
    """How many leading tokens ``cached`` and ``tokens`` share."""
    n = min(len(cached), len(tokens))
    if n == 0:
        return 0
    differ = np.flatnonzero(cached[:n] != np.asarray(tokens[:n]))
    return int(differ[0]) if differ.size else n


def _trained_context(header: GGUFFile) -> int:
    """The context length the GGUF file was trained with (its ``<arch>.context_length``)."""
    length = header.metadata.get(f"{header.architecture}.context_length")
    if not isinstance(length, int):
        raise BackendError(f"n_ctx: {str(header.path)!r} records no context length; set n_ctx in the spec")
    return length


class LlamaCppProbe(EdgeProbe):
    """Edge operations on a loaded :class:`LlamaCppLM`: ``llama_decode`` on llama.cpp's own batches.

    The same calls are read back from llama.cpp's performance counters
    (``llama_perf_context``: ``t_p_eval_ms``/``n_p_eval`` for prompts,
    ``t_eval_ms``/``n_eval`` for single tokens), so a test can check both agree.
    """

    backend = "llamacpp"

    def __init__(self, lm: LlamaCppLM) -> None:
        import llama_cpp

        super().__init__()
        self._lm = lm
        self._ctx = lm._llama.ctx
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._n_batch = llama_cpp.llama_n_batch(self._ctx)
        self.device = lm.spec.device
        self.threads = int(llama_cpp.llama_n_threads(self._ctx))
        self.weights = lm.spec.path
        self.vocab_size = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(lm._llama.model))
        self.context = llama_cpp.llama_n_ctx(self._ctx)
        self._prompt_batches: list[Any] = []
        self._step_batch: Any = None

    def set_inputs(self, prompt: list[int], step: int) -> None:
        import llama_cpp

        # Kept on the probe: a batch points into these arrays.
        self._prompt = (llama_cpp.llama_token * len(prompt))(*prompt)
        self._step = (llama_cpp.llama_token * 1)(step)
        # Built before timing; llama-bench splits a prompt by n_batch too.
        self._prompt_batches = [
            self._batch(self._prompt, o, min(self._n_batch, len(prompt) - o))
            for o in range(0, len(prompt), self._n_batch)
        ]
        self._step_batch = self._batch(self._step, 0, 1)

    @staticmethod
    def _batch(tokens: Any, offset: int, n: int) -> Any:
        import ctypes

        import llama_cpp

        address = ctypes.addressof(tokens) + offset * ctypes.sizeof(llama_cpp.llama_token)
        return llama_cpp.llama_batch_get_one(ctypes.cast(address, ctypes.POINTER(llama_cpp.llama_token)), n)

    def _decode(self, batch: Any) -> None:
        import llama_cpp

        if llama_cpp.llama_decode(self._ctx, batch) != 0:
            raise BackendError("edge probe: llama_decode failed")

    def reset(self) -> None:
        import llama_cpp

        llama_cpp.llama_memory_clear(self._memory, True)
        # The scorer's prefix reuse trusts n_tokens: the cache is empty now.
        self._lm._llama.n_tokens = 0

    def prefill(self) -> None:
        for batch in self._prompt_batches:
            self._decode(batch)

    def decode(self) -> None:
        import llama_cpp

        self._decode(self._step_batch)
        # Per token, as llama-bench: llama.cpp books a synchronized single-token decode as "eval".
        llama_cpp.llama_synchronize(self._ctx)

    def synchronize(self) -> None:
        import llama_cpp

        llama_cpp.llama_synchronize(self._ctx)

    def reset_peak_memory(self) -> None:
        if self.device == "cpu":
            super().reset_peak_memory()

    def peak_memory(self) -> tuple[float | None, str]:
        if self.device == "cpu":
            return super().peak_memory()
        return _nvml_process_gb(), "NVML process memory"

    def reset_counters(self) -> None:
        import llama_cpp

        llama_cpp.llama_perf_context_reset(self._ctx)

    def counters(self) -> dict[str, tuple[float, int]]:
        import llama_cpp

        perf = llama_cpp.llama_perf_context(self._ctx)
        return {
            "prompt_tokens_per_s": (1000.0 * perf.n_p_eval / perf.t_p_eval_ms, int(perf.n_p_eval)),
            "tokens_per_s": (1000.0 * perf.n_eval / perf.t_eval_ms, int(perf.n_eval)),
        }


def _nvml_process_gb() -> float | None:
    """GPU memory this process holds, from NVML; None (not measured) without pynvml."""
    import os

    try:
        import pynvml
    except ImportError:
        return None
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
        if proc.pid == os.getpid() and proc.usedGpuMemory:
            return proc.usedGpuMemory / GB
    return None
