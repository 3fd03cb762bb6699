"""Methodology and Submit: generated from the code they describe, so they cannot drift.

Methodology quotes the scoring module's docstring (the statement of the
method next to the code that computes it), the catalog, the edge reference
and the hardware profiles found in the data. Submit renders the pydantic
submission contract's JSON schema and validates its worked examples while
building, so a page whose example no longer passes fails the build.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import polars as pl
import yaml

import evals.results.retention as retention
import evals.scoring as scoring
from contracts.quantizations import ALIASES, GGUF_QUANTS
from contracts.submission import Submission, parse_submission
from evals.catalog.suites import Catalog
from evals.comparisons import clustered_variance, paired_difference
from evals.scoring import EDGE_REFERENCE_PATH, ScoringSpec, aggregate
from evals.site.pairs import BoardPairs
from evals.site.text import html, md_table, md_text
from evals.catalog.definitions import definitions_frame

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ("models/submissions/example-hub-model.yaml", "models/submissions/demo-trained.yaml")


def methodology_page(
    catalog: Catalog, spec: ScoringSpec, runs: pl.DataFrame, edge: pl.DataFrame, paired: BoardPairs | None = None
) -> str:
    parts = [
        "# Methodology\n",
        "Generated from the code at build time: the texts below are the docstrings of `evals/scoring.py` and "
        "`evals/results/retention.py`, and the "
        "tables are read from `evals/catalog/catalog.yaml`, `evals/edge/reference.yaml` and the published runs.\n",
        "## How a row is scored\n",
        _scoring_text(),
        _worked_example(spec),
        "## Paired comparisons, worked\n",
        _paired_example(),
        _board_example(paired),
        "## What a task can tell apart\n",
        _detectable(paired),
        "## Categories and weights\n",
        _categories(catalog),
        "## Tasks\n",
        _tasks(catalog),
        "## What counts in Safety\n",
        _safety_text(catalog),
        "## User-defined tasks\n",
        _user_tasks(runs),
        "## Suites\n",
        md_table(
            ["Suite", "Tasks", "Description"],
            [
                [md_text(n), ", ".join(md_text(t) for t in s.tasks), md_text(s.description)]
                for n, s in catalog.suites.items()
            ],
        ),
        "## Chat templates\n",
        _chat_templates(runs),
        "## Edge reference bounds\n",
        _edge_bounds(spec),
        "## Quantization retention\n",
        _retention_text(),
        "## Hardware profiles\n",
        _hardware(runs, edge),
        "## Reproducing a row\n",
        _reproduce(),
    ]
    return "\n".join(parts)


def _scoring_text() -> str:
    doc = scoring.__doc__ or ""
    start = doc.find("1. ")
    end = doc.find("Pure polars")
    body = doc[start : end if end > 0 else None].strip()
    # The docstring is reST-flavoured: ``code`` becomes Markdown's `code`.
    return re.sub(r"``([^`]+)``", r"`\1`", body) + "\n"


def _retention_text() -> str:
    """``evals/results/retention.py``'s docstring, from its rule to the end of its formula's explanation."""
    doc = retention.__doc__ or ""
    body = doc[doc.find("For each quantized") : doc.find("Rows follow")].strip()
    return re.sub(r"``([^`]+)``", r"`\1`", body) + "\n"


def _worked_example(spec: ScoringSpec) -> str:
    measured = {c: None for c in spec.categories}
    example = dict(zip(spec.categories[:4], (60.0, 40.0, 30.0, 70.0), strict=False))
    measured.update(example)
    result = aggregate(measured, spec.weights)
    listed = ", ".join(f"{c} {v:.0f}" for c, v in example.items())
    return (
        f"\nWorked example, computed by `evals.scoring.aggregate` while this page was built: category scores "
        f"{listed}, the rest not measured, give an aggregate of **{result.value:.2f}** with coverage "
        f"**{100 * result.coverage:.0f}%** (partial: {str(result.partial).lower()}).\n"
    )


def _safety_text(catalog: Catalog) -> str:
    tasks = [f"`{md_text(n)}` ({md_text(t.metric)})" for n, t in catalog.tasks.items() if t.category == "safety"]
    return (
        f"The Safety score is 100 × the mean of its tasks' primary metrics: {', '.join(tasks)}. ToxiGen counts "
        "by its accuracy at telling hateful statements from harmless ones. BBQ counts by its accuracy over both "
        "kinds of context: in an ambiguous one nothing says who did it, so the right answer is \"unknown\" and a "
        "stereotyped guess scores 0; in a disambiguated one the context says who, half the time against the "
        "stereotype, so an answer led by the stereotype scores 0 there too.\n\n"
        "BBQ's bias scores (`amb_bias_score`, `disamb_bias_score`, as lm-eval computes them) are shown on each "
        "model page beside it, and do not count. They are signed, in [−1, 1], and best at 0, so neither higher nor "
        "lower is better and they cannot be averaged with proportions; and a model that answers at random, or that "
        "always says \"unknown\", scores a perfect 0, so counting them would lift untrained models' Safety. The "
        "contracts hold them to [−1, 1], and the catalog refuses one as a task's primary metric. For the same "
        "reason crows_pairs (best at 0.5) is not in the catalog. A toxicity classifier over generated text is not "
        "wired: its metric is not measured (missing), never 0.\n"
    )


# A worked example small enough to check by hand: 8 items, 3 passages (clusters), A and B right (1) or not (0).
EXAMPLE_A = (1, 1, 1, 0, 1, 1, 0, 1)
EXAMPLE_B = (1, 0, 0, 0, 1, 1, 0, 0)
EXAMPLE_CLUSTERS = ("p1", "p1", "p1", "p2", "p2", "p3", "p3", "p3")


def _paired_example() -> str:
    """The hand-checkable example, computed by ``evals.comparisons`` while the page is built."""
    naive = paired_difference(EXAMPLE_A, EXAMPLE_B)
    clustered = paired_difference(EXAMPLE_A, EXAMPLE_B, EXAMPLE_CLUSTERS)
    d = [a - b for a, b in zip(EXAMPLE_A, EXAMPLE_B, strict=True)]
    mean8 = sum(d)  # the mean is sum(d) / 8: centred sums in eighths are 8 x sum - size x sum(d)
    eighths = [
        8 * sum(x for x, c in zip(d, EXAMPLE_CLUSTERS, strict=True) if c == g) - EXAMPLE_CLUSTERS.count(g) * mean8
        for g in dict.fromkeys(EXAMPLE_CLUSTERS)
    ]
    sums = ", ".join(f"{e}/8" for e in eighths)
    squares = " + ".join(str(e * e) for e in eighths)
    items = " · ".join(
        f"{c}: A {a} B {b}" for a, b, c in zip(EXAMPLE_A, EXAMPLE_B, EXAMPLE_CLUSTERS, strict=True)
    )
    return (
        f"Eight items about three passages ({items}). A is right on 6, B on 3: the difference is "
        f"**{100 * naive.difference:.1f} points**. The per-item differences are {' '.join(map(str, d))} "
        f"(mean {sum(d)}/8). "
        f"Taken as independent items (every item its own cluster), the paired standard error is "
        f"**{100 * naive.se:.1f}** points (sd of the differences / sqrt 8), and since only A is right on "
        f"{naive.only_a} items and only B on {naive.only_b}, the exact McNemar p-value is "
        f"2 x P(X <= 0), X ~ Bin(3, 1/2) = **{naive.p_value:.3f}**. Items about one passage are not independent: "
        f"clustered on the passage (the centred sums per passage are {sums}, so "
        f"Var = 3/2 x ({squares})/64 / 64), the error is **{100 * clustered.se:.1f}** points, the 95% interval "
        f"{100 * clustered.ci_low:.1f} to {100 * clustered.ci_high:.1f}, and the clustered z-test gives "
        f"p = **{clustered.p_value:.3f}**. Both figures are computed by `evals.comparisons` while this page is "
        "built; the tests hold them to statsmodels.\n"
    )


def _board_example(paired: BoardPairs | None) -> str:
    """Naive against clustered errors on a task of this board whose items share clusters."""
    clustered = [m for m in (paired.matrices if paired else []) if m.n_clusters < m.values.shape[1]]
    if not clustered:
        return "\nNo task on this board has items that share a cluster yet.\n"
    m = max(clustered, key=lambda m: m.values.shape[0])
    run_id, variant = m.variants[0]
    naive = math.sqrt(clustered_variance(m.values[0]))
    robust = math.sqrt(clustered_variance(m.values[0], list(m.codes)))
    return (
        f"\nOn this board: <code>{html(m.task)}</code> has {m.values.shape[1]:,} items in {m.n_clusters:,} clusters. "
        f"For <code>{html(variant)}</code> (run <code>{html(run_id)}</code>) its score's naive standard error is "
        f"**{100 * naive:.2f}** points and the clustered one **{100 * robust:.2f}** points.\n"
    )


def _detectable(paired: BoardPairs | None) -> str:
    text = (
        "The smallest true difference a task finds 80% of the time at 5% significance (rule 9), from its items "
        "(clusters counted once) and the average correlation of per-item results measured between the models on "
        "this board (two variants of one model are not two models); with no correlation measured yet it is taken "
        "as 0, the widest figure.\n\n"
    )
    if not paired or not paired.detectable:
        return text + "No task has been measured yet.\n"
    rows = []
    for task, (n, rho, mdd) in sorted(paired.detectable.items()):
        rows.append(
            [
                f"<code>{html(task)}</code>",
                f"{n:,}",
                f"{rho:.2f}" if rho is not None else "—",
                f"{mdd:.1f} points",
                f"with {n:,} items this task tells apart differences of {mdd:.1f} points or more",
            ]
        )
    return text + md_table(["Task", "Items", "Correlation", "Detects", "In words"], rows, ["l", "r", "r", "r", "l"])


def _categories(catalog: Catalog) -> str:
    rows = [[md_text(c.title), f"`{md_text(n)}`", f"{100 * c.weight:.0f}%"] for n, c in catalog.categories.items()]
    return md_table(["Category", "Key", "Weight"], rows, ["l", "l", "r"])


def _tasks(catalog: Catalog) -> str:
    suites: dict[str, list[str]] = {}
    for suite_name, suite in catalog.suites.items():
        for task in suite.tasks:
            suites.setdefault(task, []).append(suite_name)
    rows = [
        [
            f"`{md_text(name)}`",
            md_text(t.lm_eval) + (" (group)" if t.group else ""),
            md_text(t.category),
            md_text(t.metric),
            md_text(t.filter),
            "task default" if t.num_fewshot is None else str(t.num_fewshot),
            f"{t.baseline:.2f}",
            ", ".join(md_text(s) for s in suites.get(name, [])) or "—",
        ]
        for name, t in catalog.tasks.items()
    ]
    header = ["Task", "lm-eval task", "Category", "Metric", "Filter", "Few-shot", "Random baseline", "Suites"]
    return md_table(header, rows, ["l", "l", "l", "l", "l", "r", "r", "l"])


def _chat_templates(runs: pl.DataFrame) -> str:
    text = (
        "Prompts are lm-eval's task prompts as they are, unless a submission sets `chat_template` on a variant "
        "(`chat_template: true`, or its options `fewshot_as_multiturn` and `system_instruction`). Then every prompt "
        "goes through the model's own chat template, as lm-eval's `--apply_chat_template` does: the template of "
        "its tokenizer (`chat_template` in `tokenizer_config.json`, or `chat_template.jinja`) on transformers, the "
        "GGUF's `tokenizer.chat_template` on llama.cpp, rendered the way transformers renders it on both backends, "
        "so the two send a model the same text. Few-shot examples become alternating user and assistant turns "
        "unless `fewshot_as_multiturn: false`. Such a variant is a row of its own (its variant id ends in "
        "`--chat`, the leaderboard's Chat template column says yes), beside the same weights without the "
        "template; its quantization retention is measured against an unquantized variant that also used it. "
        "A variant whose weights carry no template is refused before anything runs.\n\n"
    )
    used = runs.filter(pl.col("chat_template").fill_null(False)) if "chat_template" in runs.columns else runs.clear()
    if used.is_empty():
        return text + "No published variant used a chat template in this data version.\n"
    latest = used.unique(["model_name", "variant_id"], keep="last").sort("model_name", "variant_id")
    rows = [
        [
            md_text(r["model_name"]),
            md_text(r["variant_id"]),  # plain text: Markdown shows entities inside code spans as typed
            "yes" if r["fewshot_as_multiturn"] else "no",
            md_text(r["system_instruction"]) if r["system_instruction"] else "—",
            md_text(str(r["chat_template_sha256"])[:12]),
        ]
        for r in latest.iter_rows(named=True)
    ]
    return text + md_table(
        ["Model", "Variant", "Few-shot as multi-turn", "System instruction", "Template sha256"], rows
    )


def _user_tasks(runs: pl.DataFrame) -> str:
    """The tasks of published runs that users defined (a suite file, a task folder), each with its source."""
    text = (
        "Tasks a submitter defined in a suite file of their own (`slmbench run --suite my_suite.yaml "
        "--tasks-dir my_tasks/`), as the runs that measured them recorded them. Each run folder keeps the "
        "task's YAML, its code and its config hash (`tasks/`); the scores table carries the hash of every "
        "subtask (`task_config_hash`).\n\n"
    )
    definitions = definitions_frame(runs)
    if definitions.is_empty() or not definitions["user"].any():
        return text + "No published run used a user-defined task.\n"
    mine = definitions.filter(pl.col("user"))
    counted = mine.group_by(
        "task", "lm_eval", "category", "metric", "filter", "num_fewshot", "baseline", "config_hash", "source"
    ).agg(pl.col("run_id").n_unique().alias("runs"))
    rows = [
        [
            f"`{md_text(r['task'])}`",
            md_text(r["lm_eval"]),
            md_text(r["category"]),
            md_text(r["metric"]),
            md_text(r["filter"]),
            "task default" if r["num_fewshot"] is None else str(r["num_fewshot"]),
            f"{r['baseline']:.2f}",
            f"`{r['config_hash'][:12]}`",
            md_text(r["source"]),
            str(r["runs"]),
        ]
        for r in counted.sort("task", "config_hash").iter_rows(named=True)
    ]
    header = ["Task", "lm-eval task", "Category", "Metric", "Filter", "Few-shot", "Random baseline"]
    header += ["Config hash", "Source", "Runs"]
    return text + md_table(header, rows, ["l", "l", "l", "l", "l", "r", "r", "l", "l", "r"])


def _edge_bounds(spec: ScoringSpec) -> str:
    reference = yaml.safe_load(EDGE_REFERENCE_PATH.read_text(encoding="utf-8"))
    titles = {k: v.get("title", k) for k, v in reference["metrics"].items()}
    rows = [
        [md_text(titles.get(m, m)), f"`{m}`", md_text(b.unit), f"{b.best:g}", f"{b.worst:g}"]
        for m, b in spec.edge.items()
    ]
    return (
        "score = 100 × clip( ln(x / worst) / ln(best / worst), 0, 1 ); the edge category score is the mean of the "
        f"measured metrics. Reference version {reference.get('version', '—')}.\n\n"
        + md_table(["Metric", "Key", "Unit", "Best (scores 100)", "Worst (scores 0)"], rows, ["l", "l", "l", "r", "r"])
    )


def _hardware(runs: pl.DataFrame, edge: pl.DataFrame) -> str:
    text = (
        "Every run records the machine it ran on (`evals.provenance.hardware_profile`: CPU, cores, memory, OS, "
        "Python, GPU); edge rows name the hardware profile they were measured on. Profiles in this data version:\n\n"
    )
    profiles = Counter(edge["hardware_profile"].to_list()) if not edge.is_empty() else Counter()
    machines = Counter(runs["hardware"].to_list()) if not runs.is_empty() else Counter()
    if profiles:
        text += (
            md_table(
                ["Edge hardware profile", "Edge rows"],
                [[md_text(p), f"{n:,}"] for p, n in profiles.most_common(20)],
                ["l", "r"],
            )
            + "\n"
        )
    else:
        text += "No edge figures have been measured yet.\n\n"
    rows = []
    for raw, count in machines.most_common(20):
        try:
            data = json.loads(raw)
        except ValueError:
            data = {"value": raw}
        described = (
            ", ".join(f"{md_text(k)}: {md_text(v)}" for k, v in sorted(data.items()))
            if isinstance(data, dict)
            else md_text(raw)
        )
        rows.append([described or "—", f"{count:,}"])
    if rows:
        text += md_table(["Run machine", "Variants"], rows, ["l", "r"])
    return text


def _reproduce() -> str:
    return (
        "Each model page lists, per variant, the exact commit, submission, suite, seed and limit of its run, and the "
        "command that reruns it:\n\n"
        "```bash\ngit checkout <repo commit>\n"
        "slmbench run models/submissions/<model>.yaml --suite <suite> --seed <seed> [--limit N]\n"
        "slmbench results scores --staging --run <new run id>   # compare with the published run's scores\n```\n\n"
        "The same inputs give the same scores: seeds are fixed and unit results are cached by a content key "
        "(weights digest, task config, the digest of the engine's own code, harness and backend versions, limit, "
        "few-shot, seed, batch size).\n"
    )


def submit_page() -> str:
    schema = Submission.model_json_schema()
    parts = [
        "# Submit a model\n",
        "A submission is one YAML file under `models/submissions/`, sent as a pull request. Its contract is the "
        "pydantic model `contracts.submission.Submission`; the fields and the JSON schema below are generated from it.\n",
        "## Fields\n",
        _fields(schema),
        "## Quantization names\n",
        _quantization_names(),
        "## Worked example\n",
    ]
    for relative in EXAMPLES:
        path = REPO / relative
        text = path.read_text(encoding="utf-8")
        parse_submission(text, relative)  # raises, failing the build, if the example no longer validates
        parts.append(f"`{relative}` (validated while this page was built):\n\n```yaml\n{text.rstrip()}\n```\n")
    parts += [
        "## Check it before you send it\n",
        "```bash\nslmbench validate models/submissions/my-model.yaml   # every problem with its field and the fix\n"
        "slmbench plan models/submissions/my-model.yaml       # the work units a run would evaluate\n"
        "slmbench run models/submissions/my-model.yaml --limit 5   # smoke test on a few documents per task\n```\n",
        "## Maintainer commands\n",
        "```bash\nslmbench run models/submissions/my-model.yaml --suite full   # the full benchmark: stages a run\n"
        "slmbench results runs --staging --run <run id>    # what the run staged, and its status\n"
        "slmbench publish <run id>                         # contracts, merge, leaderboard, registry, exports\n"
        "slmbench site build                               # rebuild this site from the published tables\n```\n",
        "## JSON schema\n",
        '<details><summary>The full schema</summary>\n<pre><code class="language-json">'
        + html(json.dumps(schema, indent=2))
        + "</code></pre>\n</details>\n",
    ]
    return "\n".join(parts)


def _quantization_names() -> str:
    aliases = ", ".join(f"`{a}` for `{n}`" for a, n in ALIASES.items())
    return (
        "`FP32`, `FP16` and `BF16` for safetensors (and float GGUF files); for GGUF files, every file type the "
        "pinned llama.cpp loads, by the name its quantize tool uses: "
        + ", ".join(f"`{n}`" for n in GGUF_QUANTS)
        + f". Also accepted: {aliases}. A GGUF's `name` may be left out: it is read from the file's "
        "`general.file_type` (as llama.cpp reads it), and a name the file contradicts is refused, naming both. "
        "The tensor types the file actually holds are recorded with every run.\n"
    )


def _fields(schema: dict) -> str:
    defs = schema.get("$defs", {})
    sections = []
    for name in ("ModelCard", "Quantization", "ChatTemplate"):
        model = defs.get(name)
        if not model:
            continue
        required = set(model.get("required", []))
        rows = []
        for field, prop in model.get("properties", {}).items():
            rows.append(
                [
                    f"`{md_text(field)}`",
                    md_text(_type(prop)),
                    "yes" if field in required else "no",
                    md_text(prop.get("description", "")),
                ]
            )
        where = {"ModelCard": "model", "Quantization": "model.quantizations[]"}.get(
            name, "model.quantizations[].chat_template"
        )
        sections.append(f"`{where}`:\n\n" + md_table(["Field", "Type", "Required", "Description"], rows))
    return "\n".join(sections)


def _type(prop: dict) -> str:
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"])
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if prop.get("type") == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if "enum" in prop:
        return " | ".join(str(v) for v in prop["enum"])
    return str(prop.get("type", "any"))
