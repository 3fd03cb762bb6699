"""Who a model's rows belong to: an identity its name cannot forge.

A model's identity is where its weights come from and who submitted it:

- its **sources**: ``hub:<owner/name>`` when the weights were fetched from a hub
  repository (case folded: the hub's repo names are), ``fixture:<name>`` for a
  demo model the project builds, ``sha256:<digest>`` of the weights as loaded
  when they are local files (one per variant);
- its **owner**: ``submitted_by``, case folded (``""`` when the submission gives none).

The first identity to publish a name holds it. Names are compared as
``contracts.names.name_key`` compares them, and by ``slug``, since variant ids
and the site's pages are made from the slug: ``SLMB Demo Trained`` and
``slmb-demo-trained`` are the same name. A submission under a held name is the
same model when its owner is the holder's and one of its sources is among the
holder's: a new revision of the same hub repository, a rebuilt fixture, or local
weights already published under the name. Anything else is refused, naming the
holder (``slmbench validate`` from the registry, ``publish`` from the published
runs: ``evals.warehouse.gates``).

A newcomer's sources are strict (what its weights really are: local weights by
their digest, even where the card names a hub repository too), a holder's
generous (every source its published runs had), so a local file that calls itself
``hf_repo: <a published repo>`` is not that repository.

Pure Python: the PR check runs this with the contract's dependencies only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from contracts.names import name_key, slug
from contracts.submission import FIXTURE_SCHEME, ModelCard


@dataclass(frozen=True)
class ModelIdentity:
    """The sources of a model's weights and its owner; no sources: not known yet (local weights, before a run)."""

    sources: frozenset[str]
    owner: str

    def same_model(self, holder: ModelIdentity) -> bool:
        """True when this is the holder's model: the same owner and a source in common (or not known yet)."""
        if self.owner != holder.owner:
            return False
        return not self.sources or not holder.sources or bool(self.sources & holder.sources)

    def describe(self) -> str:
        shown = ", ".join(sorted(_short(s) for s in self.sources)) or "local weights (checked when published)"
        return f"{shown}, submitted by {self.owner or '(no submitted_by)'}"


@dataclass(frozen=True)
class Holder:
    """A published name and the identity that holds it."""

    name: str
    identity: ModelIdentity


def owner_of(submitted_by: str | None) -> str:
    return name_key(submitted_by or "")


def strict_sources(hf_repo: str | None, local_path: str | None, weights_digest: str | None) -> frozenset[str]:
    """What a run's weights are: a fixture by its name, local weights by their digest, else the hub repository."""
    if local_path and local_path.startswith(FIXTURE_SCHEME):
        return frozenset({"fixture:" + local_path.removeprefix(FIXTURE_SCHEME)})
    if local_path or not hf_repo:  # rows from before runs.local_path existed have neither: their digest
        return frozenset({"sha256:" + weights_digest}) if weights_digest else frozenset()
    return frozenset({"hub:" + hf_repo.casefold()})


def generous_sources(hf_repo: str | None, local_path: str | None, weights_digest: str | None) -> frozenset[str]:
    """Every source a published run may be recognized by: its strict ones, its digest and the repo it names."""
    found = set(strict_sources(hf_repo, local_path, weights_digest))
    if weights_digest:
        found.add("sha256:" + weights_digest)
    if hf_repo:
        found.add("hub:" + hf_repo.casefold())
    return frozenset(found)


def card_identity(card: ModelCard) -> ModelIdentity:
    """A submission's identity from its text alone: local weights are known only once hashed (at publish)."""
    local = card.local_path
    if local and not local.startswith(FIXTURE_SCHEME):
        sources: frozenset[str] = frozenset()
    else:
        sources = strict_sources(card.hf_repo, local, None)
    return ModelIdentity(sources, owner_of(card.submitted_by))


def run_identity(rows: Iterable[Mapping[str, Any]]) -> ModelIdentity:
    """The identity of one run from its ``runs`` rows (one per variant): the strict sources of every variant."""
    rows = list(rows)
    sources = frozenset().union(
        *(strict_sources(r.get("hf_repo"), r.get("local_path"), r.get("weights_digest")) for r in rows)
    )
    return ModelIdentity(sources, owner_of(rows[0].get("submitted_by") if rows else None))


def holders_from_runs(rows: Iterable[Mapping[str, Any]]) -> list[Holder]:
    """Who holds each published name, from published ``runs`` rows: the owner of its first published run, with
    every source of that owner's runs under the name (earlier rows by another owner left out: they never held it)."""
    by_key: dict[str, list[Mapping[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: (r["finished_at"], r["run_id"])):
        by_key.setdefault(name_key(row["model_name"]), []).append(row)
    holders = []
    for runs in by_key.values():
        first = runs[0]
        owner = owner_of(first.get("submitted_by"))
        mine = [r for r in runs if owner_of(r.get("submitted_by")) == owner]
        sources = frozenset().union(
            *(generous_sources(r.get("hf_repo"), r.get("local_path"), r.get("weights_digest")) for r in mine)
        )
        holders.append(Holder(first["model_name"], ModelIdentity(sources, owner)))
    return holders


def holders_from_registry(rows: Iterable[Mapping[str, Any]]) -> list[Holder]:
    """Who holds each name, from the ``models`` registry (the table, or the site's ``registry.json``)."""
    holders = []
    for row in rows:
        sources = frozenset(json.loads(row["sources"])) if row.get("sources") else frozenset()
        if not sources and row.get("hf_repo"):  # a registry written before it kept sources
            sources = frozenset({"hub:" + str(row["hf_repo"]).casefold()})
        holders.append(Holder(str(row["name"]), ModelIdentity(sources, owner_of(row.get("submitted_by")))))
    return holders


def identity_problem(name: str, identity: ModelIdentity, holders: Iterable[Holder]) -> str | None:
    """Why ``name`` may not be published by ``identity``, naming the holder; None when it may."""
    key, short = name_key(name), slug(name)
    for holder in holders:
        if name_key(holder.name) != key and slug(holder.name) != short:
            continue
        if not identity.same_model(holder.identity):
            return (
                f"{name!r} is published already as {holder.name!r} by another model ({holder.identity.describe()}); "
                f"this submission is {identity.describe()}. A name belongs to the model that first published it: "
                "choose a name of your own (a new version of the same model comes from the same repository "
                "and submitted_by)"
            )
        if holder.name != name:
            return f"{name!r} is published already as {holder.name!r}; write the name exactly so"
    return None


def sources_json(identity: ModelIdentity) -> str:
    """The registry's ``sources`` column."""
    return json.dumps(sorted(identity.sources))


def _short(source: str) -> str:
    kind, _, value = source.partition(":")
    return f"sha256 {value[:12]}…" if kind == "sha256" else f"{kind} {value}"
