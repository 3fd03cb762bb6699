"""The pure pieces: signatures, the strict command parser, PR scope rules, event reading."""

from __future__ import annotations

import pytest

from flows.chatops.commands import Command, CommandError, parse_command
from flows.chatops.events import Ignored, PayloadError, PullRequestComment, read_event
from flows.chatops.scope import ScopeError, submission_files
from flows.chatops.signature import sign, verify
from tests.flows.chatops.conftest import comment


def test_signature_accepts_only_the_exact_hmac() -> None:
    body = b'{"a": 1}'
    good = sign(b"s3cret", body)
    assert verify(b"s3cret", body, good)
    assert not verify(b"s3cret", body + b" ", good)
    assert not verify(b"other", body, good)
    assert not verify(b"s3cret", body, None)
    assert not verify(b"s3cret", body, good.replace("sha256=", "sha1="))
    assert not verify(b"", body, sign(b"", body))  # an unset secret accepts nothing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/test-benchmark", Command("/test-benchmark")),
        ("  /test-benchmark --limit 5  ", Command("/test-benchmark", limit=5)),
        ("/test-benchmark --suite full --limit 20", Command("/test-benchmark", limit=20, suite="full")),
        ("/push-results", Command("/push-results")),
        ("thanks, looks good", None),
    ],
)
def test_valid_commands(text: str, expected: Command | None) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/test-benchmrk", "did you mean '/test-benchmark'"),
        ("/deploy", "unknown command"),
        ("/test-benchmark --limit", "needs a value"),
        ("/test-benchmark --limit 0", "--limit must be"),
        ("/test-benchmark --limit ５", "--limit must be"),
        ("/test-benchmark --limit 5 --limit 6", "given twice"),
        ("/test-benchmark --suite ../../etc/x.yaml", "--suite must be a suite name"),
        ("/test-benchmark --workers 4", "unknown option"),
        ("/test-benchmark --limit=5", "unknown option"),
        ("/push-results now", "takes no arguments"),
        ("/test-benchmark\n/push-results", "one line"),
    ],
)
def test_invalid_commands_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse_command(text)


def test_scope_takes_only_added_submission_files() -> None:
    files = [
        {"filename": "models/submissions/b.yaml", "status": "added"},
        {"filename": "models/submissions/a.yml", "status": "added"},
    ]
    assert submission_files(files) == ["models/submissions/a.yml", "models/submissions/b.yaml"]
    for bad in (
        [*files, {"filename": ".github/workflows/ci.yml", "status": "modified"}],
        [{"filename": "models/submissions/demo-trained.yaml", "status": "modified"}],
        [{"filename": "models/submissions/sub/x.yaml", "status": "added"}],
        [],
    ):
        with pytest.raises(ScopeError):
            submission_files(bad)


def test_events() -> None:
    assert isinstance(read_event("issue_comment", comment(1, "/push-results")), PullRequestComment)
    assert isinstance(read_event("issue_comment", comment(1, "/push-results", action="edited")), Ignored)
    assert isinstance(read_event("push", {}), Ignored)
    with pytest.raises(PayloadError):
        read_event("issue_comment", {"action": "created", "issue": {"number": 1, "pull_request": {}}})


def test_run_parameters_are_checked_against_the_flow_signature() -> None:
    from prefect.exceptions import ParameterTypeError, SignatureMismatchError

    from flows.benchmark import benchmark_submission
    from flows.chatops.runs import flow_parameters

    # only what was given travels: the deployment's defaults still apply to the rest
    assert flow_parameters(benchmark_submission, submission_path="a.yaml", limit=5) == {
        "submission_path": "a.yaml",
        "limit": 5,
    }
    with pytest.raises(SignatureMismatchError):
        flow_parameters(benchmark_submission, submission_pth="a.yaml")
    with pytest.raises(ParameterTypeError):
        flow_parameters(benchmark_submission, submission_path="a.yaml", limit="ten")
