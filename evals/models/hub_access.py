"""Can anyone download a submission's model from the hub? The pull-request check asks before a run is started.

The receiver calls :func:`hub_problems` for each submission of a PR when it is online
(``HF_HUB_OFFLINE=0``, against ``HF_ENDPOINT``): one ``model_info`` call per repo says whether
the repo and revision exist, whether it is gated or private, and which files it holds.
It asks anonymously on purpose: a leaderboard entry must be reproducible by anyone, so a
gated or private repo is refused even where our own token could read it.

A refusal is a :class:`~contracts.submission.Problem` the PR author can act on; a hub that
cannot be reached or answers 5xx is our side failing (:class:`HubUnreachable`), not theirs.
"""

from __future__ import annotations

from contracts.errors import UserError
from contracts.submission import ModelCard, Problem

DEFAULT_ENDPOINT = "https://huggingface.co"
PUBLIC_ONLY = "SLM Bench benchmarks models anyone can download"


class HubUnreachable(UserError):
    """The hub could not be asked (network, 5xx, offline mode): the PR is not at fault."""


def hub_problems(card: ModelCard, endpoint: str = DEFAULT_ENDPOINT, timeout: float = 10.0) -> list[Problem]:
    """What stops anyone downloading ``card``'s hub weights; empty when all is there."""
    if card.local_path:  # a fixture or the PR's own files: nothing on the hub to check
        return []
    repo = str(card.hf_repo)
    files, problems = _public_files(repo, card.revision, "model.hf_repo", endpoint, timeout)
    sources: dict[str, set[str] | None] = {repo: files}
    for i, quant in enumerate(card.quantizations):
        field = f"model.quantizations[{i}]"
        if quant.format == "safetensors":
            if files is not None and not any(f.endswith(".safetensors") for f in files):
                problems.append(
                    Problem(
                        "model.hf_repo", f"{repo} holds no .safetensors weights; SLM Bench never loads pickle files"
                    )
                )
            continue
        if not quant.gguf_file:
            problems.append(Problem(f"{field}.gguf_file", "required for a GGUF on the hub: the file name in the repo"))
            continue
        source = quant.source or repo
        if source not in sources:
            sources[source], more = _public_files(source, card.revision, f"{field}.source", endpoint, timeout)
            problems += more
        held = sources[source]
        if held is not None and quant.gguf_file not in held:
            problems.append(Problem(f"{field}.gguf_file", f"{source} has no file {quant.gguf_file!r}; fix the name"))
    return list(dict.fromkeys(problems))


def _public_files(
    repo: str, revision: str | None, field: str, endpoint: str, timeout: float
) -> tuple[set[str] | None, list[Problem]]:
    """The repo's file names at ``revision`` (None when it cannot be used), and why not."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    at = f" at {endpoint}" if endpoint.rstrip("/") != DEFAULT_ENDPOINT else ""
    try:
        info = HfApi(endpoint=endpoint, token=False).model_info(repo, revision=revision, timeout=timeout)
    except GatedRepoError:
        return None, [Problem(field, f"{repo} is gated (downloads need approval); {PUBLIC_ONLY}")]
    except RepositoryNotFoundError:
        return None, [Problem(field, f"{repo} is not on the hub{at}, or it is private; {PUBLIC_ONLY}: fix the name")]
    except RevisionNotFoundError:
        return None, [
            Problem("model.revision", f"{repo} has no revision {revision!r}; pin a commit sha, branch or tag it has")
        ]
    except OfflineModeIsEnabled as exc:
        raise HubUnreachable(f"the hub check needs HF_HUB_OFFLINE=0 in the receiver: {exc}") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if 400 <= status < 500:
            return None, [Problem(field, f"the hub answers {status} for {repo}; {PUBLIC_ONLY}")]
        raise HubUnreachable(f"the hub{at} failed on {repo}: {exc}") from None
    except OSError as exc:  # the hub client's transport errors (connection refused, timeouts)
        raise HubUnreachable(f"the hub{at} could not be reached for {repo}: {type(exc).__name__}: {exc}") from None
    if info.private or info.gated:
        kind = "private" if info.private else "gated (downloads need approval)"
        return None, [Problem(field, f"{repo} is {kind}; {PUBLIC_ONLY}")]
    return ({s.rfilename for s in info.siblings} if info.siblings is not None else None), []
