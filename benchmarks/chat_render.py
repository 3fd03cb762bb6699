"""How much the bounds on chat-template rendering cost: one prompt, bounded against transformers' own.

    python -m benchmarks.chat_render

Prints microseconds per prompt for the demo template on a 12-turn conversation, rendered by
``evals.backends.chat.render_chat`` (size checks, watchdog) and by transformers'
``render_jinja_template`` (no bounds), and checks the two prompts are the same.
"""

from __future__ import annotations

import time

from transformers.utils.chat_template_utils import render_jinja_template

from evals.backends import chat
from evals.models.fixtures.chat_template import DEMO_CHAT_TEMPLATE

ROUNDS = 2000
SPECIAL = {"bos_token": "<s>", "eos_token": "</s>"}
MESSAGES = [{"role": "system", "content": "Answer with one word."}] + [
    {"role": "user", "content": f"Question {i}: what comes next?"}
    if i % 2 == 0
    else {"role": "assistant", "content": "A"}
    for i in range(11)
]


def per_prompt_us(render: object) -> float:
    render()  # type: ignore[operator]
    started = time.perf_counter()
    for _ in range(ROUNDS):
        render()  # type: ignore[operator]
    return (time.perf_counter() - started) / ROUNDS * 1e6


def main() -> None:
    def bounded() -> str:
        return chat.render_chat(DEMO_CHAT_TEMPLATE, MESSAGES, True, SPECIAL)

    def unbounded() -> str:
        (prompt,), _ = render_jinja_template(
            conversations=[MESSAGES], chat_template=DEMO_CHAT_TEMPLATE, add_generation_prompt=True, **SPECIAL
        )
        return prompt

    assert bounded() == unbounded()
    print(f"bounded (evals.backends.chat): {per_prompt_us(bounded):.0f} us per prompt")
    print(f"transformers render_jinja_template: {per_prompt_us(unbounded):.0f} us per prompt")


if __name__ == "__main__":
    main()
