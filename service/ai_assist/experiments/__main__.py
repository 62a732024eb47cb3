"""python -m ai_assist.experiments report --prometheus URL --window 7d [options]
python -m ai_assist.experiments example [--markdown PATH] [--json PATH] [--html PATH] [--check]
python -m ai_assist.experiments check FILE"""

from __future__ import annotations

import argparse
import sys

from ai_assist.experiments.definition import ExperimentError, load_experiment
from ai_assist.experiments.stats import DEFAULT_MDE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ai_assist.experiments",
                                     description="A/B experiments: the statistics report.")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="the A/B report from Prometheus")
    report.add_argument("--prometheus", required=True, help="Prometheus base URL")
    report.add_argument("--window", default="7d", help="range, e.g. 7d, 24h (default 7d)")
    report.add_argument("--experiment", help="the experiment (when several ran)")
    report.add_argument("--namespace", default="",
                        help="one deployment's series (namespace=\"...\" in every query), "
                             "when several share the Prometheus (default: every series)")
    report.add_argument("--mde", type=float, default=DEFAULT_MDE,
                        help="smallest match-rate change worth detecting, as a fraction "
                             "(default 0.05: 5 percentage points)")
    report.add_argument("--at", type=float, help="evaluation time, Unix seconds (default now)")
    report.add_argument("--markdown", help="write the report as Markdown here")
    report.add_argument("--json", help="write the report as JSON here")
    report.add_argument("--html", help="write the report as HTML here, its plots (PNG) "
                                       "beside it")
    example = commands.add_parser("example", help="the documentation's example report, from the "
                                  "fixed aggregates in ai_assist/experiments/example.py")
    example.add_argument("--markdown", default="docs/examples/experiment/report.md")
    example.add_argument("--json", default="docs/examples/experiment/report.json")
    example.add_argument("--html", default="docs/examples/experiment/report.html")
    example.add_argument("--check", action="store_true",
                         help="fail when the committed files differ from a fresh build")
    check = commands.add_parser("check", help="validate an experiment file")
    check.add_argument("file")
    args = parser.parse_args(argv)

    from ai_assist.experiments import report as reporting

    if args.command == "check":
        try:
            experiment = load_experiment(args.file)
        except ExperimentError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"{experiment.name}: " + ", ".join(
            f"{n} {s:.0%}" for n, s in experiment.shares.items()))
        return 0
    if args.command == "example":
        from ai_assist.experiments.example import check_or_write

        return check_or_write(args.markdown, args.json, args.html, args.check)
    try:
        built = reporting.build(args.prometheus, args.window, args.experiment, args.mde,
                                args.at, args.namespace)
    except reporting.ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(reporting.to_text(built))
    reporting.write(built, args.markdown, args.json, args.html)
    return 0


if __name__ == "__main__":
    sys.exit(main())
