"""`python -m ai_assist.costreport`: see the package docstring."""

from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile
from pathlib import Path

from ai_assist.costreport.aggregates import Aggregates, collect
from ai_assist.costreport.analysis import Figures, candidate_share
from ai_assist.costreport.render import write
from ai_assist.pricing import usd_text
from observability.durations import seconds
from observability.promapi import Prometheus, PrometheusError


def _window(value: str) -> str:
    try:
        seconds(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ai_assist.costreport",
                                description="Gemini cost optimisation report.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--prometheus", metavar="URL", help="Prometheus base URL")
    source.add_argument("--from-aggregates", metavar="FILE", type=Path,
                        help="render from a saved aggregates.json instead")
    p.add_argument("--window", type=_window, default="7d",
                   help="Prometheus duration the report covers (default 7d)")
    p.add_argument("--namespace", default="",
                   help="one deployment's series (namespace=\"...\" in every query), when "
                        "several share the Prometheus (default: every series)")
    p.add_argument("--at", type=float, default=None,
                   help="unix time the window ends (default now)")
    p.add_argument("--candidates", type=int,
                   default=int(os.environ.get("AI_ASSIST_CANDIDATES") or 12),
                   help="candidates the service hands Gemini (AI_ASSIST_CANDIDATES)")
    p.add_argument("--experiment-file", default=os.environ.get("AI_ASSIST_EXPERIMENT_FILE", ""),
                   help="the experiment that ran (AI_ASSIST_EXPERIMENT_FILE): its variants' "
                        "candidate counts give a measured tokens-per-candidate figure")
    p.add_argument("--out", type=Path, required=True, help="directory for the report")
    p.add_argument("--check", action="store_true",
                   help="with --from-aggregates: fail when the files in --out are stale")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.check and not args.from_aggregates:
        p.error("--check compares a rendering of --from-aggregates with --out")
    if args.from_aggregates:
        aggregates = Aggregates.load(args.from_aggregates)
    else:
        experiment = None
        if args.experiment_file:
            from ai_assist.experiments import ExperimentError, load_experiment

            try:
                experiment = load_experiment(args.experiment_file)
            except ExperimentError as exc:
                print(f"costreport: {exc}", file=sys.stderr)
                return 2
        try:
            aggregates = collect(Prometheus(args.prometheus), args.window, args.at,
                                 args.candidates, candidate_share(args.candidates),
                                 experiment, args.namespace)
        except PrometheusError as exc:
            print(f"costreport: {exc}", file=sys.stderr)
            return 2
    figures = Figures(aggregates)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            written = write(figures, Path(tmp))
            stale = [p.name for p in written.values()
                     if not (args.out / p.name).exists()
                     or not filecmp.cmp(p, args.out / p.name, shallow=False)]
        if stale:
            print(f"costreport: stale in {args.out}: {', '.join(sorted(stale))}; run "
                  "`make costreport-example`", file=sys.stderr)
            return 1
        print(f"costreport: {args.out} is fresh")
        return 0
    written = write(figures, args.out)
    print(f"Gemini spend over the {aggregates.window}: {usd_text(figures.total_usd)}; "
          f"projected month {usd_text(figures.projected_month_usd)}")
    savings = figures.savings()
    for saving in savings:
        print(f"  {saving.what}: {usd_text(saving.usd_per_month)}/month ({saving.detail})")
    if sum(s.cuts_spend for s in savings) > 1:
        print(f"  together: {usd_text(figures.combined_saving())}/month (the suggestions "
              f"overlap: not their sum, {usd_text(figures.savings_sum())})")
    print("wrote " + ", ".join(str(p) for p in written.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
