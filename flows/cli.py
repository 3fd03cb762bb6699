"""``slmbench``: the command line.

    slmbench validate models/submissions/*.yaml
    slmbench fixtures                      # build the demo models and the offline task pack
    slmbench plan models/submissions/demo-trained.yaml --suite offline
    slmbench run models/submissions/demo-trained.yaml --limit 5

Each command imports what it needs when it runs, so ``validate`` stays fast.
Bad input ends with a message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from contracts.errors import UserError
from evals.paths import WAREHOUSE
from flows import settings

if TYPE_CHECKING:
    from contracts.identity import Holder
    from contracts.submission import Problem, Quantization, Submission
    from evals.plan.units import PlanOptions


def _validate(args: argparse.Namespace) -> int:
    from contracts.identity import card_identity, identity_problem
    from contracts.safe_text import visible
    from contracts.submission import Problem, SubmissionError, load_submission

    holders = _published_names(args.registry, args.warehouse)
    failed = 0
    for path in args.files:
        shown = visible(str(path))  # a file name, too, could rewrite the terminal line
        try:
            submission = load_submission(path, from_pull_request=args.pull_request)
            problems, names = [], [None] * len(submission.model.quantizations)
            if not args.pull_request:
                problems, names = _local_weights(submission)
            card = submission.model
            if taken := identity_problem(card.name, card_identity(card), holders):
                problems.append(Problem("model.name", taken))
        except SubmissionError as exc:
            problems = exc.problems
        if problems:
            failed += 1
            print(f"FAIL {shown}")
            for problem in problems:
                print(f"  - {problem}")
            continue
        variants = ", ".join(_variant_label(q, n) for q, n in zip(submission.model.quantizations, names, strict=True))
        print(f"ok   {shown}: {submission.model.name} ({submission.model.parameters:,} parameters; {variants})")
    if failed:
        print(f"{failed} of {len(args.files)} submission(s) failed validation", file=sys.stderr)
    return 1 if failed else 0


def _published_names(registry: Path | None, warehouse: str) -> list[Holder]:
    """Who holds each published model name: from ``--registry`` (the site's registry.json, which the PR check
    reads: it has no warehouse), else from the warehouse's registry when it has one (nothing published: none)."""
    import json

    from contracts.identity import holders_from_registry

    if registry is not None:
        try:
            models = json.loads(registry.read_text(encoding="utf-8")).get("models", [])
        except (OSError, ValueError, AttributeError) as exc:
            raise UserError(
                f"--registry {registry}: cannot read it as the site's registry.json ({exc}); "
                "give the registry.json that publishing exports"
            ) from None
        return holders_from_registry(models)
    if "://" not in warehouse and not Path(warehouse, "published", "models").is_dir():
        return []
    from evals.warehouse.storage import read_table

    return holders_from_registry(read_table(warehouse, "models").to_dicts())


def _local_weights(submission: Submission) -> tuple[list[Problem], list[str | None]]:
    """Local weights checked as a run would (GGUF headers, file kinds, fixture names), and the name each local
    GGUF gives itself; hub weights are not fetched.

    Imported only when a submission names local weights: CI checks hub submissions with the contract alone.
    """
    if submission.model.local_path is None:
        return [], [None] * len(submission.model.quantizations)
    from evals.models.variants import check_local_weights

    check = check_local_weights(submission)
    return check.problems, check.names


def _variant_label(quant: Quantization, read: str | None) -> str:
    """``Q4_1``, ``Q4_1 (read from the file)``, ``model.gguf (name read from the file at run time)``, + chat."""
    if quant.name is not None:
        label = quant.name
    elif read is not None:
        label = f"{read} (read from the file)"
    else:
        label = f"{quant.gguf_file or 'GGUF'} (name read from the file at run time)"
    return label + (" with chat template" if quant.chat_template is not None else "")


def _fixtures(args: argparse.Namespace) -> int:
    from evals.catalog.pack import build_pack
    from evals.models.fixtures import build_all

    pack = build_pack(force=args.force)
    print(f"offline task pack: {pack}")
    for name, model in build_all(force=args.force).items():
        print(f"{name}: {model.hf_dir}")
        for quant, path in model.gguf.items():
            print(f"  {quant}: {path}")
    return 0


def _plan_options(args: argparse.Namespace) -> PlanOptions:
    from evals.plan.units import PlanOptions

    return PlanOptions(
        suite=args.suite,
        limit=args.limit,
        seed=args.seed,
        tasks_dirs=tuple(args.tasks_dir),
        submission_path=str(args.file),
        workers=getattr(args, "workers", None),
        batch_size=args.batch_size,
        dataset_revisions=tuple(sorted(_revisions(args.dataset_revision).items())),
    )


def _revisions(pins: list[str]) -> dict[str, str]:
    """``--dataset-revision TASK=COMMIT`` pins, by task."""
    out = {}
    for pin in pins:
        task, sep, commit = pin.partition("=")
        if not sep or not task or not commit:
            raise UserError(f"--dataset-revision: expected TASK=COMMIT (e.g. mmlu=<40 hex digits>), got {pin!r}")
        out[task] = commit
    return out


def _plan(args: argparse.Namespace) -> int:
    from contracts.submission import load_submission
    from evals.plan.prepare import plan_submission

    plan = plan_submission(load_submission(args.file), _plan_options(args))
    print(plan.table())
    print(
        f"\n{len(plan.units)} units over {len(plan.variants)} variant(s); estimated cost {plan.total_cost:,.0f} "
        "(requests x tokens, evals/catalog/costs.py)"
    )
    if plan.skipped_categories:
        print(f"not measured by suite {plan.suite!r}: {', '.join(plan.skipped_categories)}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from flows import local_api

    api = local_api.start()  # Prefect's local server starts meanwhile (flows/local_api.py)
    from contracts.expectations import warm_up
    from evals.cluster.pool import release_ray

    warm_up()  # so does Great Expectations' import: contracts run at the end
    from contracts.submission import load_submission
    from evals.plan.prepare import plan_submission
    from flows.benchmark import benchmark_submission

    # Fail fast on bad input while Prefect starts (and before Ray does): the planning chain, whose every
    # step the flow repeats from its caches (weights hashed, data in the datasets cache, costs stored).
    plan_submission(load_submission(args.file), _plan_options(args))
    if api is not None:
        api.wait_ready()
    try:
        with local_api.flow_settings(api):
            benchmark_submission(
                submission_path=str(args.file),
                suite=args.suite,
                limit=args.limit,
                workers=args.workers,
                threads_per_worker=args.threads,
                seed=args.seed,
                tasks_dirs=[str(d) for d in args.tasks_dir],
                output_dir=str(args.output_dir) if args.output_dir else None,
                warehouse=args.warehouse,
                batch_size=args.batch_size,
                dataset_revisions=_revisions(args.dataset_revision) or None,
            )
    finally:
        release_ray()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from flows import local_api

    api = local_api.start()  # Prefect's local server starts while the demo's modules import
    import polars as pl

    from evals.cluster.pool import release_ray
    from evals.warehouse.storage import read_table
    from flows.demo import demo

    if api is not None:
        api.wait_ready()
    try:
        with local_api.flow_settings(api):
            run_ids = demo(suite=args.suite, limit=args.limit, workers=args.workers, warehouse=args.warehouse)
    finally:
        release_ray()
    board = read_table(args.warehouse, "leaderboard").sort("rank")
    print(f"\nPublished {len(run_ids)} run(s) to {args.warehouse}. Leaderboard:\n")
    # the rank with the range the paired tests allow (evals/scoring.py rule 8): "2 (2-3)"
    ranks = pl.format("{} ({}-{})", "rank", "rank_lo", "rank_hi").fill_null(pl.col("rank").cast(pl.String))
    board = board.with_columns(ranks.alias("rank (range)"))
    columns = ["rank (range)", "model_name", "precision", "aggregate", "aggregate_ci_low", "aggregate_ci_high"]
    columns += ["coverage", *(c for c in board.columns if c.startswith("score_"))]
    print(board.select(columns).to_pandas().to_string(index=False, float_format=lambda v: f"{v:.1f}", na_rep="—"))
    print("\nEvery run's raw results: .slmbench/runs/<run id>/; the tables: slmbench results --help")
    print(
        "The leaderboard site is in site/: open it with `.venv/bin/slmbench site serve --no-build`, then http://127.0.0.1:8000/"
    )
    return 0


def _publish(args: argparse.Namespace) -> int:
    from evals.warehouse.storage import WarehouseError
    from flows.publish import publish_results

    try:
        summary = publish_results(
            args.run_id, warehouse=args.warehouse, exports=args.exports, allow_limited=args.allow_limited
        )
    except WarehouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"published {summary.run_id}: runs v{summary.runs_version}, leaderboard v{summary.leaderboard_version}, "
        f"models v{summary.models_version}"
    )
    for name, path in summary.exports.items():
        print(f"  {name}: {path}")
    return 0


def _results(args: argparse.Namespace) -> int:
    import polars as pl

    from evals.warehouse import storage

    zone = storage.STAGING if args.staging else storage.PUBLISHED
    try:
        if args.table is None:
            frame = pl.DataFrame(storage.list_tables(args.warehouse), schema=["zone", "table", "version"], orient="row")
        elif args.versions:
            frame = storage.table_versions(args.warehouse, args.table, zone)
        else:
            frame = storage.read_table(args.warehouse, args.table, zone, version=args.as_of, run_id=args.run)
    except (storage.WarehouseError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.format == "table":
        from contracts.safe_text import visible

        shown = frame.with_columns(pl.col(pl.String).map_elements(visible, return_dtype=pl.String))
        with pl.Config(tbl_rows=args.rows, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=40):
            print(shown)
        return 0
    if args.format == "parquet" and args.output is None:
        print("error: --format parquet needs --output FILE", file=sys.stderr)
        return 1
    target = args.output if args.output is not None else sys.stdout
    if args.format == "csv":
        from evals.site.text import csv_safe

        csv_safe(frame).write_csv(target)  # the site's rule: no cell a spreadsheet would run as a formula
    elif args.format == "json":
        frame.write_json(target)
    else:
        frame.write_parquet(args.output)
    if args.output is not None:
        print(f"wrote {frame.height} rows to {args.output}", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from flows.chatops.deployments import serve

    serve(concurrent_benchmarks=args.concurrent_benchmarks, limit=args.limit, warehouse=args.warehouse)
    return 0


def _webhook(args: argparse.Namespace) -> int:
    from flows.chatops.app import run

    run(host=args.host, port=args.port)
    return 0


def _site(args: argparse.Namespace) -> int:
    from evals.site.server import make_server

    site_dir = Path(args.site_dir)
    if args.action == "build" or not args.no_build:
        from flows.site import build_site

        summary = build_site(warehouse=args.warehouse, version=args.version, site_dir=str(site_dir))
        print(
            f"built the site of leaderboard v{summary.leaderboard_version} (data v{summary.data_version}, "
            f"{summary.models} models, {summary.variants} variants): {summary.index}"
        )
    if args.action == "build":
        print(f"open it: slmbench site serve --no-build, then http://127.0.0.1:{args.port}/")
        return 0
    server = make_server(site_dir, args.port, quiet=False)
    print(f"serving {site_dir} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
    with server:
        server.serve_forever()
    return 0


def _add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="submission YAML")
    parser.add_argument("--suite", default="offline", help="suite name, or a suite YAML file (path.yaml[:name])")
    parser.add_argument("--limit", type=_positive, default=None, help="documents per task (smoke test: 5)")
    parser.add_argument("--seed", type=int, default=1234, help="seed for every random choice (default 1234)")
    parser.add_argument(
        "--tasks-dir", type=Path, action="append", default=[], help="extra lm-eval task folder (repeatable)"
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        default=1,
        help="requests per forward pass on transformers (default 1; recorded with the run; llama.cpp takes one at a time)",
    )
    parser.add_argument(
        "--dataset-revision",
        action="append",
        default=[],
        metavar="TASK=COMMIT",
        help="load TASK's hub dataset at COMMIT (repeatable; default: the commit the hub resolves, recorded with every score)",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slmbench", description="SLM Bench: benchmark small language models.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check submission files against the contract")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.add_argument(
        "--pull-request",
        action="store_true",
        help="apply the rules for files from a pull request: hub weights or files in models/submissions/ only",
    )
    validate.add_argument(
        "--registry",
        type=Path,
        default=None,
        help="the published registry.json: a model name published under another identity is refused "
        "(default: the --warehouse registry, when there is one)",
    )
    validate.add_argument("--warehouse", default=WAREHOUSE, help=f"Delta tables URI (default ./{WAREHOUSE})")
    validate.set_defaults(handler=_validate)

    fixtures = commands.add_parser("fixtures", help="build the demo models and the offline task pack")
    fixtures.add_argument("--force", action="store_true", help="rebuild even when a cached build exists")
    fixtures.set_defaults(handler=_fixtures)

    plan = commands.add_parser("plan", help="print the work units a run would evaluate")
    _add_plan_arguments(plan)
    plan.set_defaults(handler=_plan)

    run = commands.add_parser("run", help="benchmark a submission on local Ray and embedded Prefect")
    _add_plan_arguments(run)
    run.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="model actors per variant (default: the cluster's GPUs, or cores, shared among the variants, "
        "all loaded at once where they fit; evals/cluster/placement.py)",
    )
    run.add_argument("--threads", type=_positive, default=None, help="CPU threads per actor (default: cores / workers)")
    run.add_argument("--output-dir", type=Path, default=None, help="run folder (default .slmbench/runs/<run id>)")
    run.add_argument("--warehouse", default=WAREHOUSE, help=f"Delta tables URI (default ./{WAREHOUSE})")
    run.set_defaults(handler=_run)

    demo = commands.add_parser("demo", help="build the demo models, benchmark and publish them end to end")
    demo.add_argument("--suite", default="offline", help="suite for every demo model (default offline)")
    demo.add_argument("--limit", type=_positive, default=None, help="documents per task (default: all)")
    demo.add_argument("--workers", type=_positive, default=None, help="model actors per variant")
    demo.add_argument("--warehouse", default=WAREHOUSE, help=f"Delta tables URI (default ./{WAREHOUSE})")
    demo.set_defaults(handler=_demo)

    publish = commands.add_parser("publish", help="publish a staged run: tables, leaderboard, registry, site exports")
    publish.add_argument("run_id", metavar="RUN_ID")
    publish.add_argument("--warehouse", default=WAREHOUSE, help=f"Delta tables URI (default ./{WAREHOUSE})")
    publish.add_argument("--exports", default=None, help="folder for leaderboard.json and registry.json")
    publish.add_argument(
        "--allow-limited",
        action="store_true",
        help="publish a run made with --limit (a smoke test) on purpose: its rows are marked with their limit, "
        "rank after complete runs and never replace one (refused without this)",
    )
    publish.set_defaults(handler=_publish)

    results = commands.add_parser("results", help="list, read or export the results tables at any version")
    results.add_argument(
        "table", nargs="?", help="runs, scores, edge, samples, models, leaderboard or queue (none: list tables)"
    )
    results.add_argument("--warehouse", default=WAREHOUSE, help=f"Delta tables URI (default ./{WAREHOUSE})")
    results.add_argument("--staging", action="store_true", help="read the staging tables, not the published ones")
    results.add_argument("--as-of", type=int, default=None, metavar="N", help="read table version N")
    results.add_argument("--versions", action="store_true", help="list the table's versions")
    results.add_argument("--run", default=None, metavar="RUN_ID", help="only the rows of one run")
    results.add_argument("--format", choices=["table", "csv", "parquet", "json"], default="table")
    results.add_argument("--output", type=Path, default=None, help="write to a file instead of the terminal")
    results.add_argument("--rows", type=int, default=50, help="rows to print in table format (default 50)")
    results.set_defaults(handler=_results)

    serve = commands.add_parser("serve", help="serve the Prefect deployments (benchmark, publish, site); no work pool")
    serve.add_argument("--concurrent-benchmarks", type=_positive, default=2, help="benchmark runs at once (default 2)")
    serve.add_argument("--limit", type=_positive, default=None, help="flow runs at once in this process")
    serve.add_argument("--warehouse", default=WAREHOUSE, help=f"Delta tables URI (default ./{WAREHOUSE})")
    serve.set_defaults(handler=_serve)

    webhook = commands.add_parser("webhook", help="GitHub webhook receiver for /test-benchmark and /push-results")
    webhook.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    webhook.add_argument("--port", type=int, default=8085, help="port (default 8085)")
    webhook.set_defaults(handler=_webhook)

    site = commands.add_parser("site", help="build the leaderboard site from the published tables, or serve it")
    site.add_argument("action", choices=["build", "serve"], help="build: tables -> site/; serve: build, then serve it")
    site.add_argument("--warehouse", default=WAREHOUSE, help=f"Delta tables URI (default ./{WAREHOUSE})")
    site.add_argument(
        "--version", type=int, default=None, metavar="N", help="leaderboard table version (default latest)"
    )
    site.add_argument("--site-dir", default="site", help="output folder (default ./site)")
    site.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 for serve (default 8000)")
    site.add_argument("--no-build", action="store_true", help="serve: serve the site already built")
    site.set_defaults(handler=_site)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    settings.apply_defaults()
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UserError as exc:
        from contracts.safe_text import visible

        print(f"error: {visible(str(exc), keep_newlines=True)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
