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

from contracts.errors import UserError
from flows import settings


def _validate(args: argparse.Namespace) -> int:
    from contracts.submission import SubmissionError, load_submission

    failed = 0
    for path in args.files:
        try:
            submission = load_submission(path)
        except SubmissionError as exc:
            failed += 1
            print(f"FAIL {path}")
            for problem in exc.problems:
                print(f"  - {problem}")
            continue
        variants = ", ".join(q.name for q in submission.model.quantizations)
        print(f"ok   {path}: {submission.model.name} ({submission.model.parameters:,} parameters; {variants})")
    if failed:
        print(f"{failed} of {len(args.files)} submission(s) failed validation", file=sys.stderr)
    return 1 if failed else 0


def _fixtures(args: argparse.Namespace) -> int:
    from evals.fixtures import build_all
    from evals.taskpack import build_pack

    pack = build_pack(force=args.force)
    print(f"offline task pack: {pack}")
    for name, model in build_all(force=args.force).items():
        print(f"{name}: {model.hf_dir}")
        for quant, path in model.gguf.items():
            print(f"  {quant}: {path}")
    return 0


def _plan_options(args: argparse.Namespace) -> object:
    from evals.planning import PlanOptions

    return PlanOptions(suite=args.suite, limit=args.limit, seed=args.seed, tasks_dirs=tuple(args.tasks_dir))


def _plan(args: argparse.Namespace) -> int:
    from contracts.submission import load_submission
    from evals.planning import make_plan

    plan = make_plan(load_submission(args.file), str(args.file), _plan_options(args))  # type: ignore[arg-type]
    print(plan.table())
    print(f"\n{len(plan.units)} units over {len(plan.variants)} variant(s); about {plan.total_cost:,.0f} model requests")
    if plan.skipped_categories:
        print(f"not measured by suite {plan.suite!r}: {', '.join(plan.skipped_categories)}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from contracts.submission import load_submission
    from flows.benchmark import benchmark_submission

    load_submission(args.file)  # fail fast, before Prefect and Ray start
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
    )
    return 0


def _add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="submission YAML")
    parser.add_argument("--suite", default="offline", help="suite name, or a suite YAML file (path.yaml[:name])")
    parser.add_argument("--limit", type=_positive, default=None, help="documents per task (smoke test: 5)")
    parser.add_argument("--seed", type=int, default=1234, help="seed for every random choice (default 1234)")
    parser.add_argument(
        "--tasks-dir", type=Path, action="append", default=[], help="extra lm-eval task folder (repeatable)"
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
    validate.set_defaults(handler=_validate)

    fixtures = commands.add_parser("fixtures", help="build the demo models and the offline task pack")
    fixtures.add_argument("--force", action="store_true", help="rebuild even when a cached build exists")
    fixtures.set_defaults(handler=_fixtures)

    plan = commands.add_parser("plan", help="print the work units a run would evaluate")
    _add_plan_arguments(plan)
    plan.set_defaults(handler=_plan)

    run = commands.add_parser("run", help="benchmark a submission on local Ray and embedded Prefect")
    _add_plan_arguments(run)
    run.add_argument("--workers", type=_positive, default=None, help="model actors per variant (default: GPUs, or 1)")
    run.add_argument("--threads", type=_positive, default=None, help="CPU threads per actor (default: cores / workers)")
    run.add_argument("--output-dir", type=Path, default=None, help="run folder (default .slmbench/runs/<run id>)")
    run.add_argument("--warehouse", default="warehouse", help="Delta tables URI (default ./warehouse)")
    run.set_defaults(handler=_run)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    settings.apply_defaults()
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
