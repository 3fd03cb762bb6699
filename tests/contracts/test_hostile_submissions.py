"""Hostile submission files: each is refused with one line naming the field and the fix, never a traceback.

Every test is named after what the file tries. The files that would hang or exhaust memory on
a careless reader (a FIFO, /dev/zero) are read by the CLI in a subprocess with a time and
memory bound, so a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.submission import SubmissionError, parse_submission

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
model:
  name: "Good"
  hf_repo: "someone/good-1b"
  parameters: "1.1B"
  quantizations:
    - {name: FP16, format: safetensors}
"""
TEST_MODEL = GOOD.replace('  parameters: "1.1B"', "  test_model: true\n  parameters: PARAMS")


def _problems(text: str, from_pull_request: bool = False) -> list[str]:
    with pytest.raises(SubmissionError) as info:
        parse_submission(text, "hostile.yaml", from_pull_request=from_pull_request)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1.0e+400", '"' + "9" * 400 + 'B"'])
def test_an_infinite_or_nan_parameter_count_is_refused(value: str) -> None:
    (problem,) = _problems(GOOD.replace('"1.1B"', value))
    assert problem.startswith("model.parameters: ") and '"1.1B"' in problem


def test_5000_nested_brackets_are_refused_without_recursion() -> None:
    (problem,) = _problems("model: " + "[" * 5000)
    assert problem == "line 1, column 23: nested deeper than 16 levels; a submission is a mapping a few levels deep"


def test_an_integer_of_5000_digits_is_refused() -> None:
    (problem,) = _problems(GOOD.replace('"1.1B"', "1" * 5000))
    assert "too many digits" in problem and problem.startswith("line 4")


@pytest.mark.parametrize(
    ("text", "field", "lines"),
    [
        (GOOD + '  name: "Evil"\n', "model.name", "lines 2 and 7"),
        (GOOD + "model:\n  name: Evil\n", "model", "lines 1 and 7"),
        (
            GOOD.replace("{name: FP16, format: safetensors}", "{name: FP16, format: safetensors, name: Q8_0}"),
            "model.quantizations[0].name",
            "lines 6 and 6",
        ),
    ],
    ids=["inside-model", "whole-model", "inside-a-quantization"],
)
def test_a_key_given_twice_is_refused_naming_the_key_and_its_lines(text: str, field: str, lines: str) -> None:
    problems = _problems(text)
    assert f"{field}: given twice ({lines}); keep one of them" in problems


def test_a_merge_key_cannot_smuggle_a_second_value() -> None:
    text = 'model:\n  <<: {name: "Evil"}\n' + GOOD.split("\n", 1)[1]
    (problem,) = _problems(text)
    assert problem.startswith("model: merge key `<<`")


def test_aliases_cannot_expand_the_file() -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    (problem,) = _problems(laughs)
    assert "anchors and aliases" in problem


@pytest.mark.parametrize("params", ["0", "-5", '"0K"', "1.0e+30", "-1.0e+30", "3000000001", "1" + "0" * 400])
def test_a_test_model_cannot_claim_zero_negative_or_absurd_parameters(params: str) -> None:
    (problem,) = _problems(TEST_MODEL.replace("PARAMS", params))
    assert problem.startswith("model.parameters: ") and "from 1 to 3B parameters" in problem


def test_a_test_model_may_still_be_tiny() -> None:
    assert parse_submission(TEST_MODEL.replace("PARAMS", '"260K"')).model.parameters == 260_000


HIDDEN = {
    "ansi-escape": "\\x1b[2K\\r\\x1b[32mok\\x1b[0m",
    "nul": "a\\0b",
    "carriage-return": "bad\\rok",
    "bell": "x\\ay",
    "right-to-left-override": "evil\\u202egpj.exe",
    "left-to-right-isolate": "x\\u2066y",
    "zero-width-joiner": "x\\u200dy",
    "line-separator": "x\\u2028y",
    "c1-csi": "x\\x9b31m",
}


@pytest.mark.parametrize("escape", HIDDEN.values(), ids=HIDDEN.keys())
@pytest.mark.parametrize("where", ["name", "key", "category", "quantization"])
def test_control_and_formatting_characters_are_refused_anywhere(escape: str, where: str) -> None:
    text = {
        "name": GOOD.replace('"Good"', f'"{escape}"'),
        "key": GOOD + f'  "fam{escape}": x\n',
        "category": GOOD + f'  categories: ["reasoning", "{escape}"]\n',
        "quantization": GOOD.replace("name: FP16", f'name: "FP16{escape}"'),
    }[where]
    problems = _problems(text)
    assert any("control character" in p and "remove control and formatting characters" in p for p in problems)
    assert all(p.isprintable() for p in problems), problems  # shown escaped, never raw


def test_a_fixture_path_cannot_climb_out_of_the_fixtures() -> None:
    (problem,) = _problems(GOOD.replace('hf_repo: "someone/good-1b"', 'local_path: "fixture://../../etc"'))
    assert problem.startswith("model.local_path: 'fixture://../../etc' names no fixture")


PR_LOCAL = GOOD.replace('  hf_repo: "someone/good-1b"\n', '  hf_repo: "someone/good-1b"\n  local_path: "PATH"\n')


@pytest.mark.parametrize(
    "path",
    [
        "/etc",
        "/home/worker/.cache/huggingface",
        "../../etc/passwd",
        "~/models/evil.gguf",
        "models/submissions/../../flows",
        "models/submissions",
        "models/submissionsX/evil.gguf",
        "models\\\\submissions\\\\evil.gguf",
        "C:/models/evil.gguf",
        "weights/model.gguf",
    ],
)
def test_a_pull_request_cannot_name_the_workers_files(path: str) -> None:
    text = PR_LOCAL.replace("PATH", path)
    parse_submission(text)  # a maintainer on the CLI may
    (problem,) = _problems(text, from_pull_request=True)
    # the same answer whatever the path: it reveals nothing about what exists on the worker
    assert problem == (
        "model.local_path: a submission from a pull request may not read local files outside models/submissions/; "
        "remove local_path and give the hub repo in hf_repo (with revision), or use fixture://<name>"
    )


@pytest.mark.parametrize("path", ["models/submissions/my-model/model.gguf", "fixture://demo-trained"])
def test_a_pull_request_may_name_its_own_folder_or_a_fixture(path: str) -> None:
    assert parse_submission(PR_LOCAL.replace("PATH", path), from_pull_request=True).model.local_path == path


def _limit_memory() -> None:  # a reader that slurps /dev/zero dies at 2 GiB instead of eating the machine
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_validate_refuses_fifos_devices_and_forged_lines_with_one_line_each(tmp_path: Path) -> None:
    files = {}
    for name, text in {
        "infinite": GOOD.replace('"1.1B"', ".inf"),
        "nested": "model: " + "[" * 5000,
        "duplicate": GOOD + '  name: "Evil"\n',
        "zero-params": TEST_MODEL.replace("PARAMS", "0"),
        "ansi": GOOD.replace('"Good"', '"x\\x1b[2K\\rok   everything.yaml: fine"'),
        "fixture-traversal": GOOD.replace('hf_repo: "someone/good-1b"', 'local_path: "fixture://../../etc"'),
    }.items():
        files[name] = tmp_path / f"{name}.yaml"
        files[name].write_text(text)
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    forged = tmp_path / "good\r\x1b[32mok   forged.yaml"  # a valid file whose name rewrites its own line
    forged.write_text(GOOD)
    args = [
        *map(str, files.values()),
        str(tmp_path / "fifo.yaml"),
        "/dev/zero",
        str(tmp_path / "zero.yaml"),
        str(tmp_path),
        str(forged),
    ]

    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "validate", *args],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        preexec_fn=_limit_memory,
    )
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in out + err, (out, err)
    assert "10 of 11 submission(s) failed validation" in err
    assert all(line.isprintable() for line in out.splitlines()), repr(out)  # nothing raw reaches the terminal
    lines = out.splitlines()
    fails = [line for line in lines if line.startswith("FAIL ")]
    oks = [line for line in lines if line.startswith("ok ")]
    assert len(fails) == 10 and len(oks) == 1 and "good\\x0d\\x1b[32mok   forged.yaml: Good" in oks[0]
    for line in (
        "  - (file): is a FIFO (named pipe); only regular files are read",
        "  - (file): is a character device; only regular files are read",
        "  - (file): is a folder; give the path of a .yaml file",
    ):
        assert line in lines
    # one problem line per hostile file, each naming a field
    problem_lines = [line for line in lines if line.startswith("  - ")]
    assert len(problem_lines) == 10


@pytest.mark.parametrize("name", ["/etc/evil.gguf", "../../../etc/evil.gguf", "sub/model.gguf", "..", "a\\\\b.gguf"])
def test_a_gguf_file_naming_a_path_is_refused(name: str) -> None:
    text = PR_LOCAL.replace("PATH", "models/submissions/my-model").replace(
        "{name: FP16, format: safetensors}", f"{{format: gguf, gguf_file: '{name}'}}"
    )
    (problem,) = _problems(text)
    assert problem.startswith("model.quantizations[0].gguf_file: ") and "is not a plain file name" in problem


def test_a_submission_that_is_a_symlink_to_a_secret_is_not_read_or_echoed(tmp_path: Path) -> None:
    from contracts.submission import load_submission

    secret = tmp_path / "shadow"
    secret.write_text("".join(f"user{i}:$6$saltsalt${'h' * 60}{i}: 19000:0:99999:7:::\n" for i in range(3)))
    link = tmp_path / "models" / "submissions" / "evil.yaml"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    with pytest.raises(SubmissionError) as info:
        load_submission(link, from_pull_request=True)
    (problem,) = map(str, info.value.problems)
    assert problem == "(file): is a symbolic link; a submission is a regular file, commit its content"


def test_a_long_unknown_key_is_named_by_its_length_not_echoed() -> None:
    key = "root:$6$saltsalt$" + "h" * 80
    problems = _problems(GOOD + f'"{key}": 1\n')
    assert problems == ["<a key of 97 characters>: unknown key; remove it or fix its spelling"]
    assert not any("hhhh" in p for p in problems)
