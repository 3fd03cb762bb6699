"""Chat templates rendered exactly as lm-eval's HF model renders them, for a backend without an HF tokenizer.

lm-eval's ``HFLM.apply_chat_template`` calls ``tokenizer.apply_chat_template(history,
tokenize=False, add_generation_prompt=..., continue_final_message=not add_generation_prompt)``.
transformers renders that with ``render_jinja_template``: its own sandboxed Jinja
environment (``trim_blocks``, ``lstrip_blocks``, its ``tojson``, ``raise_exception``
and ``strftime_now``), the conversation, and the tokenizer's named special tokens
(``bos_token``, ``eos_token``, ...) as template variables. :func:`render_chat` renders as
that function does (its environment, its variables, its continue-final-message marker), so
a template gives byte-identical prompts on llama.cpp and on transformers; llama-cpp-python's
own chat formatter builds its Jinja environment differently and is not used.

A chat template is code from the submitter, so rendering is bounded: a template longer than
:data:`MAX_TEMPLATE_BYTES` is refused when the weights are checked (``evals.models.variants``),
and each prompt renders within :data:`RENDER_TIMEOUT_S` seconds and :data:`MAX_PROMPT_CHARS`
characters (``evals.backends.bounded_jinja``: a copy of transformers' environment that checks
sizes before it builds, and a watchdog). :func:`render_chat` follows transformers'
``render_jinja_template`` step by step for lm-eval's call, so both backends, which render
through here, give the prompts transformers gives
(``tests/evals/backends/test_chat_templates.py`` checks it on published templates).

The special tokens come from the GGUF by the rule transformers applies when it
loads a GGUF's tokenizer (``transformers.integrations.gguf``): bos, eos, unknown and
padding token ids, each as its vocabulary entry. An id outside the vocabulary is
left out, as the transformers backend leaves it out of the tokenizer it loads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evals.backends.bounded_jinja import TemplateLimit, compile_bounded, render

# A chat template is a few KiB (Llama 3.1's about 5, the largest tool-use ones some tens); a file
# carrying more than this is refused rather than compiled and run for every request.
MAX_TEMPLATE_BYTES = 256 * 1024
# One rendered prompt: far more than any small model's context window (about 4 characters a token).
MAX_PROMPT_CHARS = 1_000_000
# One prompt renders in well under a millisecond; this is a runaway loop, not a slow machine.
RENDER_TIMEOUT_S = 5.0
# transformers' marker for continue_final_message (render_jinja_template): the same text, so the same prompt.
_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "
ChatTemplateLimit = TemplateLimit  # what a template past a bound raises


# GGUF metadata key -> the template variable transformers fills from it.
GGUF_SPECIAL_TOKENS = {
    "tokenizer.ggml.bos_token_id": "bos_token",
    "tokenizer.ggml.eos_token_id": "eos_token",
    "tokenizer.ggml.unknown_token_id": "unk_token",
    "tokenizer.ggml.padding_token_id": "pad_token",
}

Messages = list[dict[str, str]]


def render_chat(template: str, messages: Messages, add_generation_prompt: bool, special_tokens: dict[str, Any]) -> str:
    """``messages`` through ``template``, as ``tokenizer.apply_chat_template(..., tokenize=False)`` renders them.

    transformers' ``render_jinja_template`` for one conversation of plain messages, without tools or
    documents, with ``continue_final_message=not add_generation_prompt`` (lm-eval's HFLM call), bounded
    in time and size. Raises :class:`ChatTemplateLimit` past a bound, jinja2's errors as transformers does.
    """
    from transformers.utils.chat_template_utils import _alias_reasoning_fields, _plain_template_data

    check_template_size(template)
    # what the template sees, built as transformers builds it (apply_chat_template, render_jinja_template)
    chat = _alias_reasoning_fields(
        _plain_template_data([{k: v for k, v in m.items() if v is not None} for m in messages])
    )
    final = None
    if not add_generation_prompt:  # continue the final message, as transformers marks it
        if not chat:
            raise ValueError("continue_final_message is set but the conversation is empty!")
        final = chat[-1].get("content")
        if final is None:
            raise ValueError('continue_final_message is set but the final message has no "content" to continue!')
        if "content" not in template:
            raise ValueError(
                'continue_final_message is set to "content" but this is not an accepted field in the chat_template'
            )
        chat[-1]["content"] = final + _CONTINUE_TAG
    variables = {**_plain_template_data(special_tokens), "messages": chat, "tools": None, "documents": None}
    compiled = compile_bounded(template, MAX_PROMPT_CHARS)
    rendered = render(compiled, variables | {"add_generation_prompt": add_generation_prompt}, RENDER_TIMEOUT_S)
    if final is None:
        return rendered
    if final.strip() not in rendered or _CONTINUE_TAG.strip() not in rendered:
        raise ValueError(
            "continue_final_message is set but the final message does not appear in the chat after "
            "applying the chat template!"
        )
    at = rendered.rindex(_CONTINUE_TAG.strip())
    if rendered[at : at + len(_CONTINUE_TAG)] == _CONTINUE_TAG:
        return rendered[:at]
    return rendered[:at].rstrip()


def check_template_size(template: str) -> None:
    size = len(template.encode("utf-8"))
    if size > MAX_TEMPLATE_BYTES:
        raise ChatTemplateLimit(
            f"the chat template is {size:,} bytes; at most {MAX_TEMPLATE_BYTES:,} are accepted (a chat "
            "template is a few KiB): use weights whose tokenizer ships a template of its own size"
        )


def special_tokens(metadata: dict[str, object], n_vocab: int, token_text: Callable[[int], str]) -> dict[str, str]:
    """The template variables a GGUF's tokenizer gives: ``{"bos_token": "<s>", ...}``."""
    tokens = {}
    for key, variable in GGUF_SPECIAL_TOKENS.items():
        value = metadata.get(key)
        if isinstance(value, int) and 0 <= value < n_vocab:
            tokens[variable] = token_text(value)
    return tokens


def without_system(messages: Messages) -> Messages:
    """lm-eval's fallback when a template refuses the system role (HFLM.apply_chat_template): drop those turns."""
    return [m for m in messages if m["role"] != "system"]
