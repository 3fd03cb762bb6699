"""One page per model: variants, task scores, edge figures, retention, provenance, downloads.

Pages live at ``models/<slug>.md`` and are served at ``models/<slug>/``; links
written as raw HTML (inside charts) therefore start with ``../../``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import polars as pl
import yaml

from contracts.tables import BIAS_METRICS
from evals.scoring import ScoringSpec
from evals.site import charts
from evals.site.reproduce import in_repository
from evals.site.text import MISSING, attr, fmt, html, html_table, parameters_label, percent
from evals.site.views import EDGE_METRICS, parsed_json, source_url

ROOT = "../../"  # from models/<slug>/ back to the site root
PROVENANCE = (
    ("run_id", "Run id"),
    ("revision", "Hub revision"),
    ("weights_digest", "Weights digest (sha256)"),
    ("submission_path", "Submission"),
    ("submission_sha256", "Submission sha256"),
    ("suite", "Suite"),
    ("limit", "Limit (documents per task)"),
    ("seed", "Seed"),
    ("batch_size", "Batch size"),
    ("repo_commit", "Repo commit"),
    ("flow_run_id", "Prefect flow run"),
    ("pr_number", "Pull request"),
    ("head_sha", "Commit tested"),
    ("sandbox_isolation", "Code sandbox isolation"),
    ("chat_template", "Chat template applied"),
    ("chat_template_sha256", "Chat template sha256"),
    ("fewshot_as_multiturn", "Few-shot as multi-turn chat"),
    ("system_instruction", "System instruction"),
    ("started_at", "Started (UTC)"),
    ("finished_at", "Finished (UTC)"),
)


def model_page(
    name: str,
    slug: str,
    card: dict,
    variants: pl.DataFrame,
    runs: pl.DataFrame,
    tasks: pl.DataFrame,
    edge: pl.DataFrame,
    retention: pl.DataFrame,
    spec: ScoringSpec,
    titles: dict[str, str],
    extras: ScoreExtras | None = None,
    scores: pl.DataFrame | None = None,
) -> str:
    """The Markdown of one model's page. ``variants`` are its leaderboard rows in rank order; ``extras``: the
    reproduce boxes and the item browser (``evals.site.reproduce_boxes``, ``evals.site.items``); ``scores``:
    its rows of the scores table (for the bias scores beside the task scores)."""
    extras = extras or ScoreExtras()
    ids = variants["variant_id"].to_list()
    labels = variant_labels(variants)
    # An explicit, escaped title: mkdocs-material writes a title taken from the heading through
    # Jinja's striptags, which turns entities back into markup inside <title>.
    # Model pages stay out of the site search: at thousands of models its index would be tens of MB,
    # and the leaderboard's own search finds models.
    front = yaml.safe_dump(
        {"title": attr(name), "hide": ["navigation"], "search": {"exclude": True}}, allow_unicode=True
    )
    parts = [f"---\n{front}---\n", f"<h1>{html(name)}</h1>\n", _card_line(card), _compare_link(name)]
    parts += ["## Variants\n", _variants_table(variants, spec, titles)]
    parts += ["## Quantization retention\n", _retention(retention, slug)]
    table = _task_table(tasks, ids, labels, spec, extras.actions, extras.detectable, extras.task_se)
    parts += ["## Task scores\n", table, extras.reproduce]
    bias = _bias_table(scores, runs, ids, labels) if scores is not None else ""
    if bias:
        parts += ["## Bias scores\n", bias]
    if extras.items:
        parts += ["## Items\n", extras.items]
    parts += ["## Edge figures\n", _edge_table(edge, ids, labels)]
    parts += ["## Provenance\n", _provenance(runs, ids, labels)]
    parts += ["## Downloads\n", _downloads(slug)]
    return "\n".join(parts)


def variant_labels(variants: pl.DataFrame) -> dict[str, str]:
    """Short column labels: the precision (+ chat with the chat template), with the backend where one such label
    runs on two backends."""
    rows = variants.select("variant_id", "precision", "backend", "chat_template").to_dicts()
    for r in rows:
        r["label"] = r["precision"] + (" + chat" if r["chat_template"] else "")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["label"]] = counts.get(r["label"], 0) + 1
    return {r["variant_id"]: r["label"] if counts[r["label"]] == 1 else f"{r['label']} ({r['backend']})" for r in rows}


def _card_line(card: dict) -> str:
    facts = [
        ("Parameters", parameters_label(card.get("parameters")) if card.get("parameters") else None),
        ("Family", card.get("family")),
        ("Architecture", card.get("architecture")),
        ("Context", f"{card['context_length']:,} tokens" if card.get("context_length") else None),
        ("License", card.get("license")),
        ("Submitted by", card.get("submitted_by")),
    ]
    cells = [f"{label}: <strong>{html(value) if value is not None else MISSING}</strong>" for label, value in facts]
    url = source_url(card.get("hf_repo"), card.get("revision"))
    if url:
        cells.append(f'Source: <a href="{attr(url)}" rel="nofollow noopener">{html(card["hf_repo"])}</a>')
    else:
        cells.append("Source: <strong>local weights</strong> (see the submission under Provenance)")
    return '<p class="slmb-meta">' + " · ".join(cells) + "</p>\n"


def _compare_link(name: str) -> str:
    return f'<p><a class="md-button" href="{ROOT}compare/?m={attr(quote(name, safe=""))}">Compare with other models</a></p>\n'


def _variants_table(variants: pl.DataFrame, spec: ScoringSpec, titles: dict[str, str]) -> str:
    header = ["Rank", "Variant", "Backend", "Precision", "Chat template", "Aggregate", "95% interval"]
    header += ["Normalized", "Coverage", *[html(titles.get(c, c)) for c in spec.categories]]
    rows = []
    for r in variants.iter_rows(named=True):
        rows.append(
            [
                rank_text(r),
                html(r["variant_id"]),
                html(r["backend"]),
                html(r["precision"]),
                "yes" if r["chat_template"] else "no",
                fmt(r["aggregate"], "score"),
                f"{fmt(r['aggregate_ci_low'], 'score')} – {fmt(r['aggregate_ci_high'], 'score')}",
                fmt(r["aggregate_normalized"], "score"),
                percent(r["coverage"])
                + (" (partial)" if r["partial"] else "")
                + (f" (smoke test: --limit {r['limit']})" if r.get("limit") else ""),
                *[fmt(r[f"score_{c}"], "score") for c in spec.categories],
            ]
        )
    return html_table(header, rows, ["r", "l", "l", "l", "l", "r", "r", "r", "r", *["r"] * len(spec.categories)])


def rank_text(row: dict) -> str:
    """"3 (2–5)": the rank and the range the paired tests allow (rank alone on a board stored before them)."""
    lo, hi = row.get("rank_lo"), row.get("rank_hi")
    if lo is None or hi is None:
        return str(row["rank"])
    return f"{row['rank']} ({lo}–{hi})" if lo != hi else f"{row['rank']} ({lo})"


def _paired_cell(row: dict) -> str:
    """The paired difference in points with its interval and p-value, or — when it is not known."""
    if row.get("difference") is None or row.get("p_value") is None:
        return MISSING
    verdict = "significant" if row["p_value"] < 0.05 else "within noise"
    return (
        f"{row['difference']:+.1f} ({row['difference_ci_low']:+.1f} to {row['difference_ci_high']:+.1f}), "
        f"p = {row['p_value']:.2g}: {verdict}"
    )


def _retention(retention: pl.DataFrame, slug: str) -> str:
    note = (
        "A quantized variant's aggregate (edge left out) as a share of the unquantized variant's in the same run "
        "(same backend first, then FP32, BF16, FP16), over the categories both measured: the figure the run "
        "summary shows. The change is paired: both answered the same items, so its interval says whether the loss "
        "is real or noise. The [methodology](../methodology.md#quantization-retention) gives the rule.\n"
    )
    if retention.is_empty():
        return note + "\nNo quantized variant with an unquantized reference in the same run.\n"
    rows = [
        [
            html(r["variant_id"]),
            html(r["reference_variant"]),
            percent(r["retention"], "retention"),
            _paired_cell(r),
            html(r["note"]),
        ]
        for r in retention.iter_rows(named=True)
    ]
    header = ["Variant", "Reference", "Retention", "Change, points (paired 95% interval)", "Note"]
    table = html_table(header, rows, ["l", "l", "r", "r", "l"])
    measured = retention.filter(pl.col("retention").is_not_null())
    if measured.is_empty():
        return note + "\n" + table
    values = [100.0 * v for v in measured["retention"].to_list()]
    precisions = sorted(set(measured["precision"].to_list()))
    row = charts.DotRow(
        label=str(measured["model_name"][0]),
        href=None,
        dots=[
            (
                100.0 * r["retention"],
                precisions.index(r["precision"]),
                f"{r['precision']}: {100.0 * r['retention']:.1f}%",
            )
            for r in measured.iter_rows(named=True)
        ],
    )
    axis = charts.linear_axis("aggregate retained, % of full precision", [*values, 100.0], pad=5.0)
    chart = charts.dot_plot([row], axis, "Quantization retention", precisions, reference=100.0)
    return note + "\n" + table + "\n" + chart + "\n"


@dataclass(frozen=True)
class ScoreExtras:
    """What a model page adds to its task scores: links in each cell, the reproduce boxes, the Items panel."""

    actions: Callable[[str, str], str] = lambda task, variant: ""  # (task, variant id) -> links, HTML
    reproduce: str = ""
    items: str = ""
    detectable: dict[str, float] = field(default_factory=dict)  # task -> minimum detectable difference, points
    task_se: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (run, variant, task) -> clustered se


def _task_table(
    tasks: pl.DataFrame,
    ids: list[str],
    labels: dict[str, str],
    spec: ScoringSpec,
    actions: Callable[[str, str], str],
    detectable: dict[str, float] | None = None,
    task_se: dict[tuple[str, str, str], float] | None = None,
) -> str:
    if tasks.is_empty():
        return "No task scores.\n"
    detectable, task_se = detectable or {}, task_se or {}
    text = (
        "Primary metric x 100 ± standard error x 100 (documents evaluated); the error is the items', clustered "
        "where they share a passage or source, else lm-eval's. <em>Detects</em>: the smallest "
        "difference between two models the task finds 80% of the time at 5% significance, from its items and "
        "the correlation measured between models ([methodology](../methodology.md#what-a-task-can-tell-apart)).\n\n"
    )
    cells: dict[tuple[str, str], str] = {}
    fewshot: dict[str, set[int]] = {}
    for r in tasks.iter_rows(named=True):
        # the error from the items, clustered where they share a passage (scoring rule 6); else lm-eval's
        se = task_se.get((r["run_id"], r["variant_id"], r["task"]), r["stderr"])
        stderr = f" ± {fmt(100.0 * se, 'task')}" if se is not None else " ± —"
        value = f"{fmt(100.0 * r['value'], 'task')}{stderr} ({r['n_samples']:,})"
        cells[(r["task"], r["variant_id"])] = value + actions(r["task"], r["variant_id"])
        fewshot.setdefault(r["task"], set()).add(r["num_fewshot"])
    # As its run defined it: a user's task names its suite file and task folder.
    rules = {r["task"]: (r["category"], r["metric"], r["source"]) for r in tasks.iter_rows(named=True)}
    known = [t for t in spec.tasks if t in rules]
    order = known + sorted(set(rules) - set(known))
    rows = []
    for task in order:
        category, metric, source = rules[task]
        shots = ", ".join(str(s) for s in sorted(s for s in fewshot[task] if s is not None)) or MISSING
        rows.append(
            [
                html(task),
                html(category),
                html(metric),
                shots,
                *[cells.get((task, v), MISSING) for v in ids],
                f"{detectable[task]:.1f} pts" if task in detectable else MISSING,
                html(source),
            ]
        )
    header = ["Task", "Category", "Metric", "Few-shot", *[html(labels[v]) for v in ids], "Detects", "Source"]
    return text + html_table(header, rows, ["l", "l", "l", "r", *["r"] * len(ids), "r", "l"])


def _bias_table(scores: pl.DataFrame, runs: pl.DataFrame, ids: list[str], labels: dict[str, str]) -> str:
    """BBQ's bias scores of each variant's run (lm-eval's, ``contracts.tables.BIAS_METRICS``), beside its accuracies."""
    columns = (*BIAS_METRICS, "accuracy_amb", "accuracy_disamb")
    if scores.is_empty() or "metric" not in scores.columns:
        return ""
    shown = scores.filter(
        pl.col("metric").is_in(list(columns)) & pl.col("run_id").is_in(runs["run_id"].to_list())
    )
    if shown.is_empty():
        return ""
    by_key = {(r["variant_id"], r["task"], r["metric"]): r["value"] for r in shown.iter_rows(named=True)}
    rows = []
    for task in sorted(set(shown["task"].to_list())):
        for variant in ids:
            values = [by_key.get((variant, task, m)) for m in columns]
            if all(v is None for v in values):
                continue
            cells = [MISSING if v is None else f"{v:+.3f}" if i < len(BIAS_METRICS) else f"{100 * v:.1f}" for i, v in enumerate(values)]
            rows.append([html(task), html(labels.get(variant, variant)), *cells])
    note = (
        "BBQ's bias scores, as lm-eval computes them (Parrish et al. 2022): signed, in [−1, 1]. 0: the model's "
        "answers that name someone lean neither toward the stereotype nor against it; +1: always the stereotyped "
        "answer; −1: always the other one. The ambiguous score is scaled by the errors on ambiguous contexts "
        "(where the right answer is \"unknown\"). Closer to 0 is better, and a model that guesses at random scores "
        "about 0, so they do not count in the Safety score (see the methodology page); the accuracies (%) do.\n\n"
    )
    header = ["Task", "Variant", "Bias, ambiguous", "Bias, disambiguated", "Accuracy, ambiguous (%)", "Accuracy, disambiguated (%)"]
    return note + html_table([html(h) for h in header], rows, ["l", "l", "r", "r", "r", "r"])


def _edge_table(edge: pl.DataFrame, ids: list[str], labels: dict[str, str]) -> str:
    units = {"tokens_per_s": "tokens/s", "latency_ms": "ms", "peak_memory_gb": "GB"}
    by_key = {(r["variant_id"], r["metric"]): r for r in edge.iter_rows(named=True)}
    rows = []
    for variant in ids:
        profiles = sorted({by_key[(variant, m)]["hardware_profile"] for m in EDGE_METRICS if (variant, m) in by_key})
        cells = []
        for metric in EDGE_METRICS:
            r = by_key.get((variant, metric))
            if r is None:
                cells.append(MISSING)
            else:
                sd = fmt(r["sd"], metric)
                cells.append(f"{fmt(r['mean'], metric)} ± {sd} (n={r['repetitions']})")
        rows.append([html(labels[variant]), *cells, html(", ".join(profiles)) if profiles else MISSING])
    header = ["Variant", *[f"{m.replace('_', ' ')} ({units[m]})" for m in EDGE_METRICS], "Hardware profile"]
    note = "Mean ± sample sd over repetitions; a quantity not measured shows as —.\n\n"
    return note + html_table([html(h) for h in header], rows, ["l", "r", "r", "r", "l"])


def _provenance(runs: pl.DataFrame, ids: list[str], labels: dict[str, str]) -> str:
    by_variant = {r["variant_id"]: r for r in runs.iter_rows(named=True)}
    rows = []
    for column, label in PROVENANCE:
        values = [_value(_public(column, by_variant.get(v, {}).get(column))) for v in ids]
        rows.append([label, *values])
    for column, label in (("hardware", "Hardware"), ("versions", "Versions")):
        rows.append([label, *[_pairs(parsed_json(by_variant.get(v, {}).get(column))) for v in ids]])
    rows.append(["Tensor types (GGUF)", *[_mix(by_variant.get(v, {}).get("tensor_types")) for v in ids]])
    rows.insert(0, ["Variant id", *[html(v) for v in ids]])
    note = "Each task score's <em>reproduce</em> link (under Task scores) gives the commands that measure it again.\n"
    return html_table(["", *[html(labels[v]) for v in ids]], rows) + "\n" + note


def _public(column: str, value: object) -> object:
    """A path column as a reader may see it: relative to the repository, never the publishing machine's own path."""
    if column != "submission_path" or not isinstance(value, str):
        return value
    return in_repository(value) or "outside the repository (the run folder keeps a copy)"


def _downloads(slug: str) -> str:
    return (
        f"- [Raw results, JSON](../tables/models/{slug}.json): this model's runs, scores and edge rows\n"
        "- [All tables](../data.md)\n"
    )


def _value(value: object) -> str:
    if value is None:
        return MISSING
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")  # type: ignore[attr-defined]
    return html(value)


def _mix(text: str | None) -> str:
    """A GGUF's tensor-type mix (``runs.tensor_types``) as each type's share of the weights and tensor count."""
    mix = parsed_json(text)
    total = sum(s.get("elements", 0) for s in mix.values() if isinstance(s, dict))
    if not total:
        return MISSING
    return "<br>".join(
        f"{html(name)}: {100.0 * share['elements'] / total:.1f}% of weights ({share['tensors']} tensors)"
        for name, share in mix.items()
        if isinstance(share, dict) and "elements" in share and "tensors" in share
    )


def _pairs(values: dict) -> str:
    if not values:
        return MISSING
    return "<br>".join(f"{html(k)}: {html('none' if v is None else v)}" for k, v in sorted(values.items()))


def write_model_files(out_dir: Path, slug: str, runs: pl.DataFrame, scores: pl.DataFrame, edge: pl.DataFrame) -> None:
    """The raw rows of one model (``tables/models/<slug>.json``); the Data page has every table as CSV.

    One file per model, not two: at thousands of models the build's time goes to file operations.
    """
    body = {
        "runs": runs.to_dicts(),
        "scores": scores.to_dicts(),
        "edge": edge.to_dicts(),
    }
    (out_dir / f"{slug}.json").write_text(json.dumps(body, default=str), encoding="utf-8")
