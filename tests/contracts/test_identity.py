"""A model's rows belong to the model: a name published under one identity is refused to any other (issue 20, §1)."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.identity import card_identity, holders_from_registry, holders_from_runs, identity_problem, run_identity
from contracts.submission import parse_submission

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _run(
    run_id: str, name: str, *, owner: str, hf_repo: str | None = None, local: str | None = None, digest: str = "d1"
):
    return {
        "run_id": run_id,
        "model_name": name,
        "submitted_by": owner,
        "hf_repo": hf_repo,
        "local_path": local,
        "weights_digest": digest,
        "finished_at": T0,
    }


def _card(name: str, owner: str, source: str) -> object:
    return parse_submission(
        f'model:\n  name: "{name}"\n  {source}\n  submitted_by: "{owner}"\n  parameters: "135M"\n'
        "  quantizations: [{name: FP16, format: safetensors}]\n"
    ).model


TRAINED = [_run("r1", "SLMB-Demo-Trained", owner="slmbench", local="fixture://demo-trained", digest="trained")]


def test_the_untrained_weights_under_the_trained_models_name_are_refused_naming_the_holder() -> None:
    attacker = [_run("r2", "SLMB-Demo-Trained", owner="attacker", local="fixture://demo-untrained", digest="untrained")]
    problem = identity_problem("SLMB-Demo-Trained", run_identity(attacker), holders_from_runs(TRAINED))
    assert problem is not None
    assert "published already as 'SLMB-Demo-Trained' by another model (fixture demo-trained" in problem
    assert "submitted by slmbench" in problem and "submitted by attacker" in problem
    # the owner alone is not enough either: the same submitter with other weights is another model
    forged = [_run("r2", "SLMB-Demo-Trained", owner="slmbench", local="fixture://demo-untrained", digest="untrained")]
    assert identity_problem("SLMB-Demo-Trained", run_identity(forged), holders_from_runs(TRAINED))


def test_a_new_version_of_the_same_model_from_the_same_repo_and_owner_updates_it() -> None:
    hub = [_run("r1", "SmolLM2-135M", owner="HuggingFaceTB", hf_repo="HuggingFaceTB/SmolLM2-135M", digest="rev1")]
    again = [_run("r2", "SmolLM2-135M", owner="huggingfacetb", hf_repo="huggingfacetb/smollm2-135m", digest="rev2")]
    assert identity_problem("SmolLM2-135M", run_identity(again), holders_from_runs(hub)) is None
    rebuilt = [_run("r2", "SLMB-Demo-Trained", owner="slmbench", local="fixture://demo-trained", digest="rebuilt")]
    assert identity_problem("SLMB-Demo-Trained", run_identity(rebuilt), holders_from_runs(TRAINED)) is None
    other_repo = [_run("r2", "SmolLM2-135M", owner="HuggingFaceTB", hf_repo="HuggingFaceTB/evil", digest="x")]
    assert "by another model (hub huggingfacetb/smollm2-135m" in str(
        identity_problem("SmolLM2-135M", run_identity(other_repo), holders_from_runs(hub))
    )


def test_local_weights_that_name_a_published_repo_are_not_that_repo() -> None:
    hub = [_run("r1", "SmolLM2-135M", owner="alice", hf_repo="HuggingFaceTB/SmolLM2-135M", digest="real")]
    copy = [
        _run(
            "r2",
            "SmolLM2-135M",
            owner="alice",
            hf_repo="HuggingFaceTB/SmolLM2-135M",
            local="models/submissions/x/model.gguf",
            digest="evil",
        )
    ]
    assert identity_problem("SmolLM2-135M", run_identity(copy), holders_from_runs(hub))
    same_files = [{**copy[0], "weights_digest": "real"}]  # the hub's very files, kept locally: the same weights
    assert identity_problem("SmolLM2-135M", run_identity(same_files), holders_from_runs(hub)) is None


def test_a_name_differing_in_case_width_or_slug_is_the_published_name() -> None:
    holders = holders_from_runs(TRAINED)
    attacker = run_identity([_run("r2", "x", owner="attacker", local="fixture://demo-untrained")])
    for name in ("slmb-demo-trained", "ＳＬＭＢ-Ｄｅｍｏ-Ｔｒａｉｎｅｄ", "SLMB Demo Trained"):
        assert "by another model" in str(identity_problem(name, attacker, holders)), name
    owner = run_identity([_run("r2", "x", owner="slmbench", local="fixture://demo-trained")])
    assert "write the name exactly so" in str(identity_problem("slmb-demo-trained", owner, holders))
    assert identity_problem("SLMB-Demo-Trained-2", attacker, holders) is None


def test_the_first_publisher_holds_the_name_whatever_came_after() -> None:
    late = {
        **_run("r0", "SLMB-Demo-Trained", owner="attacker", local="fixture://demo-untrained"),
        "finished_at": T0.replace(year=2026),
    }
    (holder,) = holders_from_runs([late, *TRAINED])
    assert holder.identity.owner == "slmbench" and holder.identity.sources == {"fixture:demo-trained", "sha256:trained"}


def test_validate_reads_the_holder_from_the_registry() -> None:
    registry = [
        {"name": "SmolLM2-135M", "submitted_by": "HuggingFaceTB", "sources": '["hub:huggingfacetb/smollm2-135m"]'}
    ]
    holders = holders_from_registry(registry)
    evil = _card("SmolLM2-135M", "attacker", 'hf_repo: "attacker/smollm2"')
    assert "by another model" in str(identity_problem("SmolLM2-135M", card_identity(evil), holders))
    same = _card("SmolLM2-135M", "HuggingFaceTB", 'hf_repo: "HuggingFaceTB/SmolLM2-135M"')
    assert identity_problem("SmolLM2-135M", card_identity(same), holders) is None
    # local weights are known by their digest only when published: the owner decides here, publish decides again
    local = _card("SmolLM2-135M", "attacker", 'local_path: "models/submissions/w/"')
    assert identity_problem("SmolLM2-135M", card_identity(local), holders)
