"""python -m scale: the scale check (`make scale-check`). --help lists the options."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

from observability.promapi import Prometheus, PrometheusError
from scale import report, run
from scale.prometheus import QUERY_TIMEOUT_S
from scale.promtool import version


def main(argv: list[str] | None = None) -> int:
    plan = run.Plan()
    parser = argparse.ArgumentParser(prog="python -m scale", description=__doc__)
    parser.add_argument("--replicas", default=",".join(map(str, plan.replicas)),
                        help="replica counts to simulate, comma-separated")
    parser.add_argument("--interval", type=float, default=plan.step_s,
                        help="seconds between simulated samples")
    parser.add_argument("--raw-hours", type=int, default=plan.raw_hours,
                        help="hours of raw history (a multiple of 2)")
    parser.add_argument("--recorded-days", type=int, default=plan.recorded_days,
                        help="days of the recording rules' history")
    parser.add_argument("--out", type=Path, default=plan.work, help="output directory")
    parser.add_argument("--rules", type=Path, default=plan.rules_dir,
                        help="directory of the rule files to measure")
    parser.add_argument("--dashboards", type=Path, default=plan.dashboards_dir,
                        help="directory of the compiled dashboards to measure")
    parser.add_argument("--prometheus", metavar="URL",
                        help="measure the same queries against this Prometheus instead "
                             "of a simulation (no scaling; its own data and replicas)")
    parser.add_argument("--scrape-interval", type=float,
                        default=run.production_intervals()[0],
                        help="with --prometheus: its scrape interval, for Grafana's "
                             "$__rate_interval")
    args = parser.parse_args(argv)
    if args.raw_hours % 2:
        parser.error("--raw-hours must be a multiple of 2")
    plan.replicas = tuple(int(n) for n in args.replicas.split(","))
    plan.step_s, plan.raw_hours = args.interval, args.raw_hours
    plan.recorded_days, plan.work = args.recorded_days, args.out
    plan.rules_dir, plan.dashboards_dir = args.rules, args.dashboards
    plan.work.mkdir(parents=True, exist_ok=True)

    started, load_before = time.monotonic(), os.getloadavg()
    if args.prometheus:
        try:
            result = run.against(args.prometheus, plan, args.scrape_interval,
                                 report.over_budget)
            prometheus_version = Prometheus(args.prometheus,
                                            timeout_s=QUERY_TIMEOUT_S).build_version()
        except PrometheusError as exc:  # unreachable, not Prometheus, a query refused
            print(f"python -m scale: {exc}", file=sys.stderr)
            return 2
    else:
        result = run.simulate(plan, report.over_budget)
        prometheus_version = version()
    print()
    print(report.table(result, prometheus_version, simulated=not args.prometheus))
    report.plot(result, plan.work / "cost-vs-replicas.png")
    report.dump(result, plan.work / "results.json")
    print("\nphases: " + ", ".join(f"{k} {v:.0f} s" for k, v in result.phases.items()))
    print(f"wall {time.monotonic() - started:.0f} s; " + cpu_and_load(load_before))
    print(f"plot: {plan.work / 'cost-vs-replicas.png'}; every query: "
          f"{plan.work / 'results.json'}")
    problems = report.violations(result)
    for problem in problems:
        print(f"OVER BUDGET: {problem}", file=sys.stderr)
    print("budgets: " + ("FAILED" if problems else "all within"))
    return 1 if problems else 0


def cpu_and_load(load_before: tuple[float, ...]) -> str:
    """The CPU this check used (itself, promtool, Prometheus) and the machine's load
    average before and after: on a machine shared with other work the wall time says
    less than the CPU seconds over the cores."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    after = os.getloadavg()
    return (f"CPU {cpu:.0f} s (this process and its children, {os.cpu_count()} cores); "
            f"load average {load_before[0]:.1f} at the start, {after[0]:.1f} at the end "
            f"({after[2]:.1f} over 15 min)")


if __name__ == "__main__":
    sys.exit(main())
