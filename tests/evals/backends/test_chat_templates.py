"""Chat templates: the llama.cpp backend builds the very prompts lm-eval's HF model builds.

The transformers backend is lm-eval's ``HFLM``, whose ``apply_chat_template`` goes through
the tokenizer; the llama.cpp backend renders the GGUF's ``tokenizer.chat_template`` itself
(``evals.backends.chat``). They are compared on the demo model (its HF folder against its
F32 GGUF, both carrying the demo template), on published templates of other models set on
both, and on the requests of real lm-eval tasks: lm-eval's own ARC-Easy and GSM8K configs,
``include``-d over local data written here, few-shot as multi-turn, with a system message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.backends import BackendSpec, load_backend
from evals.models.fixtures import TRAINED
from evals.results.samples import SampleRule, unit_sample_rows
from tests.evals.models.gguf_copies import copy_gguf

lm_eval = pytest.importorskip("lm_eval")

# Published templates, as llama.cpp's tests/test-chat-template.cpp quotes them (each model's tokenizer_config.json):
# ChatML, two that refuse a system turn (lm-eval then drops it), bos_token at the start, whitespace control,
# eos_token only when no generation prompt is asked for.
TEMPLATES = {
    "OpenHermes-2.5 (ChatML)": (
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' "
        "+ '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    ),
    "Mistral-7B-Instruct-v0.2": (
        "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
        "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
    ),
    "gemma-7b-it": (
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
        "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
        "{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
    ),
    "Llama-3": (
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' "
        "+ message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
        "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
        "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    ),
    "deepseek-coder-33b-instruct": (
        "{% if not add_generation_prompt is defined %}\n{% set add_generation_prompt = false %}\n{% endif %}\n"
        "{%- set ns = namespace(found=false) -%}\n{%- for message in messages -%}\n"
        "    {%- if message['role'] == 'system' -%}\n        {%- set ns.found = true -%}\n    {%- endif -%}\n"
        "{%- endfor -%}\n{{bos_token}}{%- if not ns.found -%}\n{{'You are an AI programming assistant, utilizing "
        "the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer "
        "science. For politically sensitive questions, security and privacy issues, and other non-computer science "
        "questions, you will refuse to answer\\n'}}\n{%- endif %}\n{%- for message in messages %}\n"
        "    {%- if message['role'] == 'system' %}\n{{ message['content'] }}\n    {%- else %}\n"
        "        {%- if message['role'] == 'user' %}\n{{'### Instruction:\\n' + message['content'] + '\\n'}}\n"
        "        {%- else %}\n{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}\n        {%- endif %}\n"
        "    {%- endif %}\n{%- endfor %}\n{% if add_generation_prompt %}\n{{'### Response:'}}\n{% endif %}"
    ),
    "Phi-3-small": (
        "{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + "
        "'<|end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}"
        "{% endif %}"
    ),
}

# Conversations as lm-eval builds them (system instruction, few-shot turns, the question), and text that
# could break a renderer: markup, template syntax, special-token text, non-ASCII, stray whitespace.
CONVERSATIONS = [
    [{"role": "user", "content": "Question: What do plants need to grow?\nAnswer:"}],
    [
        {"role": "system", "content": "Answer with one word."},
        {"role": "user", "content": "Question: 2 + 2?\nAnswer:"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "Question: 3 + 3?\nAnswer:"},
    ],
    [
        {"role": "user", "content": "  {{ eos_token }} {% raw %}</s><s><|im_end|> <script>x</script>  "},
        {"role": "assistant", "content": "Ünïcödé 日本語 — ok </s>"},
        {"role": "user", "content": "\n\nTrailing space \t"},
    ],
    [
        {"role": "user", "content": "Question: The sky is\nAnswer:"},
        {"role": "assistant", "content": " blue"},  # continued, as a task with gen_prefix is
    ],
]


def _outcome(lm: object, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    """The prompt, or the error both backends must raise alike."""
    try:
        return lm.apply_chat_template(messages, add_generation_prompt)  # type: ignore[attr-defined]
    except Exception as exc:  # the comparison is the point: the same error on both sides
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="module")
def backends(demo_models):
    model = demo_models[TRAINED]
    hf = load_backend(BackendSpec(backend="transformers", path=model.hf_dir))
    llama = load_backend(BackendSpec(backend="llamacpp", path=model.gguf["F32"], n_threads=1))
    yield hf, llama
    llama.close()


def test_the_demo_template_gives_byte_identical_prompts_and_tokens(backends) -> None:
    hf, llama = backends
    assert llama.chat_template(True) == hf.tokenizer.chat_template
    for messages in CONVERSATIONS:
        for add_generation_prompt in (True, False):
            expected = _outcome(hf, messages, add_generation_prompt)
            assert _outcome(llama, messages, add_generation_prompt) == expected, (messages, add_generation_prompt)
            if not expected.startswith(("ValueError", "TemplateError")):
                assert llama.tok_encode(expected) == hf.tok_encode(expected)
    prompt = llama.apply_chat_template(CONVERSATIONS[1], True)
    assert prompt == (
        "<|system|>\nAnswer with one word.</s>\n<|user|>\nQuestion: 2 + 2?\nAnswer:</s>\n<|assistant|>\n4</s>\n"
        "<|user|>\nQuestion: 3 + 3?\nAnswer:</s>\n<|assistant|>\n"
    )


@pytest.mark.parametrize("name", TEMPLATES)
def test_published_templates_give_byte_identical_prompts(backends, demo_models, tmp_path: Path, name: str) -> None:
    """The template set on the HF tokenizer (what HFLM renders) and carried by a GGUF (what llama.cpp renders)."""
    hf, _ = backends
    template = TEMPLATES[name]
    gguf = copy_gguf(
        Path(demo_models[TRAINED].gguf["F32"]), tmp_path / "t.gguf", metadata={"tokenizer.chat_template": template}
    )
    llama = load_backend(BackendSpec(backend="llamacpp", path=gguf, n_threads=1))
    saved = hf.tokenizer.chat_template
    hf.tokenizer.chat_template = template
    try:
        rendered = 0
        for messages in CONVERSATIONS:
            for add_generation_prompt in (True, False):
                expected = _outcome(hf, messages, add_generation_prompt)
                assert _outcome(llama, messages, add_generation_prompt) == expected, (messages, add_generation_prompt)
                rendered += not expected.startswith(("ValueError", "TemplateError"))
        assert rendered >= 4  # most conversations render (a refused system turn is dropped, as HFLM does)
    finally:
        hf.tokenizer.chat_template = saved
        llama.close()


# --- real lm-eval tasks: lm-eval's own ARC-Easy and GSM8K configs over local data ---------------------

ARC = [
    {"id": "a1", "question": "Which part of a plant takes in water?", "answerKey": "B"},
    {"id": "a2", "question": "What do you call <frozen> water? {{ not a template }}", "answerKey": "A"},
    {"id": "a3", "question": "Which is a mammal — a whale, a shark or a trout?", "answerKey": "1"},
    {"id": "a4", "question": "What pulls objects toward Earth?</s>", "answerKey": "C"},
    {"id": "a5", "question": "Was ist größer: die Sonne oder der Mond?", "answerKey": "A"},
    {"id": "a6", "question": "Which tool measures temperature?", "answerKey": "D"},
]
CHOICES = [
    ["stems", "roots", "leaves", "flowers"],
    ["ice", "steam", "rain"],
    ["a whale", "a shark", "a trout"],
    ["magnetism", "friction", "gravity", "light", "sound"],
    ["die Sonne", "der Mond"],
    ["a ruler", "a scale", "a clock", "a thermometer"],
]
GSM8K = [
    {"question": "Tom has 3 apples and buys 4 more. How many apples does he have?", "answer": "3 + 4 = 7\n#### 7"},
    {"question": "A box holds 6 eggs. How many eggs are in 5 boxes?", "answer": "6 * 5 = 30\n#### 30"},
    {"question": "Ana reads 10 pages a day <|im_end|>. Pages in 3 days?", "answer": "10 * 3 = 30\n#### 30"},
    {"question": "Sam had 12 cards and gave away 5. How many are left?", "answer": "12 - 5 = 7\n#### 7"},
    {"question": "Each of 4 kids gets 2 pens. How many pens?", "answer": "4 * 2 = 8\n#### 8"},
    {"question": "Mia ran 5 km on Monday and 6 km on Tuesday. Total?", "answer": "5 + 6 = 11\n#### 11"},
]


def _arc_doc(doc: dict, choices: list[str]) -> dict:
    labels = ["1", "2", "3"] if doc["answerKey"].isdigit() else [chr(ord("A") + i) for i in range(len(choices))]
    return {**doc, "choices": {"text": choices, "label": labels}}


def _write_tasks(root: Path) -> Path:
    """lm-eval's arc_easy.yaml and gsm8k.yaml, included as they are, with the data swapped for local JSON."""
    official = Path(lm_eval.__file__).parent / "tasks"
    arc = [_arc_doc(d, c) for d, c in zip(ARC, CHOICES, strict=True)]
    for name, docs in (("arc", arc), ("gsm8k", GSM8K)):  # the first 3 are tested, few-shot come from the rest
        for split, part in (("test", docs[:3]), ("train", docs[3:])):
            lines = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in part)
            (root / f"{name}-{split}.jsonl").write_text(lines)
    local = "dataset_path: json\ndataset_name: null\n"
    (root / "chat_arc_easy.yaml").write_text(
        f"include: {official / 'arc' / 'arc_easy.yaml'}\ntask: chat_arc_easy\ntag: []\n{local}"
        f"dataset_kwargs:\n  data_files:\n    train: {root / 'arc-train.jsonl'}\n    test: {root / 'arc-test.jsonl'}\n"
        "validation_split: null\n"
    )
    (root / "chat_gsm8k.yaml").write_text(
        f"include: {official / 'gsm8k' / 'gsm8k.yaml'}\ntask: chat_gsm8k\ntag: []\n{local}"
        f"dataset_kwargs:\n  data_files:\n    train: {root / 'gsm8k-train.jsonl'}\n    test: {root / 'gsm8k-test.jsonl'}\n"
        # lm-eval's own stop strings and filters; fewer new tokens, so the test stays cheap
        "generation_kwargs:\n  until: ['Question:', '</s>', '<|im_end|>']\n  do_sample: false\n"
        "  temperature: 0.0\n  max_gen_toks: 8\n"
    )
    return root


def _requests(lm: object, tasks: Path) -> tuple[dict[tuple[str, int], list], dict[tuple[str, int], str]]:
    """Each sample's requests, and the prompt the site's items panel shows for it (evals.results.samples)."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    out = simple_evaluate(
        model=lm,
        tasks=["chat_arc_easy", "chat_gsm8k"],
        num_fewshot=2,
        limit=3,
        task_manager=TaskManager(include_path=[str(tasks)], include_defaults=False),
        apply_chat_template=True,
        fewshot_as_multiturn=True,
        system_instruction="You are a careful assistant. Answer briefly.",
        log_samples=True,
        bootstrap_iters=0,
    )
    requests = {(task, s["doc_id"]): s["arguments"] for task, samples in out["samples"].items() for s in samples}
    rule = {"chat_arc_easy": SampleRule("acc"), "chat_gsm8k": SampleRule("exact_match")}
    shown = {
        (task, row["doc_id"]): row["prompt"]
        for task, samples in out["samples"].items()
        for row in unit_sample_rows("run-1", "m--chat", task, task, out, samples, rule[task])
    }
    return requests, shown


def test_real_lm_eval_task_requests_are_byte_identical(backends, tmp_path: Path) -> None:
    hf, llama = backends
    tasks = _write_tasks(tmp_path)
    (expected, hf_items), (got, llama_items) = _requests(hf, tasks), _requests(llama, tasks)
    assert set(got) == set(expected) and len(expected) == 6
    assert got == expected
    # what the prompts are: the system message, two few-shot turns, the question, the assistant cue
    context, continuation = expected[("chat_arc_easy", 0)][0]
    assert context.startswith("<|system|>\nYou are a careful assistant. Answer briefly.</s>\n<|user|>\nQuestion: ")
    assert context.count("<|user|>") == 3 and context.count("<|assistant|>") == 3
    assert context.endswith("<|user|>\nQuestion: Which part of a plant takes in water?\nAnswer:</s>\n<|assistant|>\n")
    assert continuation == "stems"  # lm-eval drops the target delimiter under a chat template
    assert expected[("chat_gsm8k", 0)][0][0].endswith("How many apples does he have?\nAnswer:</s>\n<|assistant|>\n")
    # the items panel shows the prompt the model saw: the templated context, the same on both backends
    assert llama_items == hf_items and hf_items[("chat_arc_easy", 0)] == context
    assert hf_items[("chat_gsm8k", 0)] == expected[("chat_gsm8k", 0)][0][0]


# --- a template is the submitter's code: rendering is bounded in time and size (evals.backends.chat)

SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}


def test_the_bounded_renderer_gives_transformers_own_prompts_on_published_templates(demo_models) -> None:
    from transformers.utils.chat_template_utils import render_jinja_template

    from evals.backends import chat
    from evals.models.fixtures.chat_template import DEMO_CHAT_TEMPLATE

    compared = 0
    for template in [DEMO_CHAT_TEMPLATE, *TEMPLATES.values()]:
        for messages in CONVERSATIONS:
            for add_generation_prompt in (True, False):
                try:
                    (expected,), _ = render_jinja_template(
                        conversations=[messages],
                        chat_template=template,
                        add_generation_prompt=add_generation_prompt,
                        continue_final_message=not add_generation_prompt,
                        **SPECIAL,
                    )
                except Exception as exc:
                    expected = type(exc).__name__
                try:
                    got = chat.render_chat(template, messages, add_generation_prompt, SPECIAL)
                except Exception as exc:
                    got = type(exc).__name__
                assert got == expected, (template[:40], messages, add_generation_prompt)
                compared += not expected.endswith("Error")
    assert compared >= 30


@pytest.mark.parametrize(
    ("what", "template"),
    [
        ("a string multiplied to 300 MB", "{{ 'x' * 300000000 }}"),
        ("a list multiplied", "{{ (['x'] * 300000000) | length }}"),
        ("a string padded by a method", "{{ 'x'.center(300000000) }}"),
        ("a string padded by a filter", "{{ 'x' | center(300000000) }}"),
        ("a format width", "{{ '%0300000000d' % 1 }}"),
        ("a string doubled in a loop", "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}"),
        ("a string doubled with ~", "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}"),
        ("a huge power", "{{ 10 ** 100000000 }}"),
        ("an output of millions of small pieces", "{% for i in range(100000) %}{{ 'xxxxxxxxxxxxxxxxxxxx' }}{% endfor %}"),
    ],
)  # fmt: skip
def test_a_template_that_builds_a_huge_prompt_is_stopped_before_it_does(what: str, template: str) -> None:
    import time
    import tracemalloc

    from evals.backends import chat

    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(chat.ChatTemplateLimit, match="chat template"):
            chat.render_chat(template, CONVERSATIONS[0], True, SPECIAL)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 3, what
    assert peak < 64 * 2**20, (what, peak)  # refused, not built and then measured


def test_a_template_that_loops_for_ever_stops_at_its_time_bound() -> None:
    import time

    from evals.backends import chat

    nested = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}done"
    started = time.monotonic()
    with pytest.raises(chat.ChatTemplateLimit, match="ran past its time limit"):
        chat.render_chat(nested, CONVERSATIONS[0], True, SPECIAL)
    assert time.monotonic() - started < chat.RENDER_TIMEOUT_S + 2


def test_both_backends_refuse_a_runaway_template_without_retrying_it(backends, demo_models, tmp_path: Path) -> None:
    from evals.backends import chat

    hf, _ = backends
    hostile = "{{ 'x' * 300000000 }}{{ messages[0]['content'] }}"
    gguf = copy_gguf(
        Path(demo_models[TRAINED].gguf["F32"]), tmp_path / "t.gguf", metadata={"tokenizer.chat_template": hostile}
    )
    llama = load_backend(BackendSpec(backend="llamacpp", path=gguf, n_threads=1))
    saved = hf.tokenizer.chat_template
    hf.tokenizer.chat_template = hostile
    try:
        for lm in (hf, llama):
            with pytest.raises(chat.ChatTemplateLimit, match="more than 1,000,000 characters"):
                lm.apply_chat_template(CONVERSATIONS[1], True)
    finally:
        hf.tokenizer.chat_template = saved
        llama.close()
