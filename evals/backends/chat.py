"""Chat templates rendered exactly as lm-eval's HF model renders them, for a backend without an HF tokenizer.

lm-eval's ``HFLM.apply_chat_template`` calls ``tokenizer.apply_chat_template(history,
tokenize=False, add_generation_prompt=..., continue_final_message=not add_generation_prompt)``.
transformers renders that with ``render_jinja_template``: its own sandboxed Jinja
environment (``trim_blocks``, ``lstrip_blocks``, its ``tojson``, ``raise_exception``
and ``strftime_now``), the conversation, and the tokenizer's named special tokens
(``bos_token``, ``eos_token``, ...) as template variables. :func:`render_chat` calls the
same function with the same arguments, so a template gives byte-identical prompts
on llama.cpp and on transformers; llama-cpp-python's own chat formatter builds its
Jinja environment differently and is not used.

The special tokens come from the GGUF by the rule transformers applies when it
loads a GGUF's tokenizer (``transformers.integrations.gguf``): bos, eos, unknown and
padding token ids, each as its vocabulary entry. An id outside the vocabulary is
left out, as the transformers backend leaves it out of the tokenizer it loads.
"""

from __future__ import annotations

from collections.abc import Callable

# GGUF metadata key -> the template variable transformers fills from it.
GGUF_SPECIAL_TOKENS = {
    "tokenizer.ggml.bos_token_id": "bos_token",
    "tokenizer.ggml.eos_token_id": "eos_token",
    "tokenizer.ggml.unknown_token_id": "unk_token",
    "tokenizer.ggml.padding_token_id": "pad_token",
}

Messages = list[dict[str, str]]


def render_chat(template: str, messages: Messages, add_generation_prompt: bool, special_tokens: dict[str, str]) -> str:
    """``messages`` through ``template``, as ``tokenizer.apply_chat_template(..., tokenize=False)`` renders them."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(
        conversations=[messages],
        chat_template=template,
        add_generation_prompt=add_generation_prompt,
        continue_final_message=not add_generation_prompt,
        **special_tokens,
    )
    return rendered[0]


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
