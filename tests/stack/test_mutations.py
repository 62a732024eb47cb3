"""The mutation check: each deliberate breakage of tests/harness/mutations.py, applied alone
to a copy of the repository whose generated files are then rebuilt, must make the suite fail:
the panel truth check against the live stack, the recorded-series truth, the fast rule
and dashboard tests run on the copy (promtool unit tests, reachability of every limit,
static dashboard lint and rule names, the numpy check of the anomaly band), or the
proofs a mutation names for itself (the cache panels' proof, on a cache stack of its
own). A mutation that crashes a generator counts as killed by the build.

How a mutated recording rule is judged: not by reloading the live Prometheus, which
would evaluate it only from the reload on, while the truths read the traffic's own
window minutes in the past. Every copy's generated rule files are compared with the
unmutated copy's; the recording rules that differ, with every rule that reads one of
them, are renamed with the mutation's prefix and backfilled over the traffic's window by
Prometheus's own rule backfiller (promtool tsdb create-blocks-from rules, a range query
per rule at the stack's evaluation interval) into a shadow Prometheus that serves the
blocks and remote-reads the live one (tests/harness/backfill.py). All mutations share one
backfill per dependency level (promtool cannot read what the same run writes), so the
whole set costs a few seconds, not a traffic or a Prometheus per mutation. The panel
truth then reads the copy's dashboards with the renamed names, and the recorded-series
truth (tests/harness/recorded.py) compares each renamed rule with the traffic at its
end and 5 minutes after its pause, where a rule over another window or with another
operation than its name says gives another value. A control, the unmutated copy's rules
all renamed and backfilled beside them, must pass both, or a kill there would prove
nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path


from tests.harness.backfill import Plan, backfill, plan, recording_rules
from tests.harness.panels import COVERAGE, HOW_PROVEN, all_queries, load_dashboards
from tests.harness.processes import ROOT, python_env, wait_until
from tests.harness.proof import check_truth
from tests.harness.recorded import check_recorded, eval_times
from tests.harness.mutations import MUTATIONS, Mutation

COPIED = ("alerting", "dashboards", "observability", "prometheus", "service", "tests", "docs",
          "pyproject.toml", "README.md")
FAST_TESTS = ("tests/unit/test_thresholds_reachable.py", "tests/unit/test_alerting_rules.py",
              "tests/unit/test_dashboards_static.py", "tests/unit/test_prices.py",
              "tests/unit/test_burn_rates.py", "tests/unit/test_recording_names.py",
              "tests/unit/test_anomaly_bands.py")
IGNORED = shutil.ignore_patterns("__pycache__", ".pytest_cache", "node_modules", "*.pyc")


def mutated_copy(mutation: Mutation | None, where: Path) -> Path:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, where / name, ignore=IGNORED)
        else:
            shutil.copy2(source, where / name)
    if mutation is not None:
        path = where / mutation.path
        text = path.read_text()
        assert text.count(mutation.old) == 1, \
            f"{mutation.name}: its text occurs {text.count(mutation.old)} times in " \
            f"{mutation.path}; update tests/harness/mutations.py"
        path.write_text(text.replace(mutation.old, mutation.new))
    build(where, "dashboards.build")
    return where


class BuildCrashed(Exception):
    """A generator that fails on the mutated copy: the breakage cannot ship, so it counts
    as killed (by the build), and the runner goes on with the next one."""


def build(copy: Path, module: str) -> None:
    env = python_env({"PYTHONPATH": f"{copy / 'service'}:{copy}"})
    result = subprocess.run([sys.executable, "-m", module], cwd=copy, env=env,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise BuildCrashed(f"{module}: {result.stderr.strip().splitlines()[-1:]}")


def killed_by(stack, copy: Path, mutation: Mutation | None = None, shadow=None,
              rules: Plan | None = None, fast: bool = True) -> str | None:
    """The check that fails on the mutated copy, or None when every check passes. With
    `rules` (the copy's changed recording rules, renamed and backfilled into `shadow`),
    the panel truth and the recorded-series truth read the renamed series there; with
    `fast` off, only those two."""
    prom_stack = replace(stack, prom=shadow) if shadow is not None and rules.rules else stack
    rename = rules.rename if rules is not None else (lambda text: text)
    queries = [q._replace(expr=rename(q.expr))
               for q in all_queries(load_dashboards(copy / "dashboards" / "json"))]
    problems, _, _ = check_truth(prom_stack, queries, rename)
    if problems:
        return "panel truth: " + "; ".join(problems)
    if rules is not None and rules.rules:
        changed = [r for r in recording_rules(copy / "prometheus" / "rules")
                   if r["record"] in rules.renamed]
        problems, _, _ = check_recorded(prom_stack, changed, rename=rename)
        if problems:
            return "recorded-series truth: " + "; ".join(problems)
    if not fast:
        return None
    env = python_env({"PYTHONPATH": f"{copy / 'service'}:{copy}"})
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-m", "not stack", "-p",
         "no:cacheprovider", *FAST_TESTS], cwd=copy, env=env, capture_output=True, text=True,
        timeout=300)
    if result.returncode != 0:
        return "rule and dashboard tests: " + result.stdout[-1500:]
    if mutation is not None and mutation.tests:  # proofs the session stack cannot run
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
             *mutation.tests], cwd=copy, env=env, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            return "mutation's own proof: " + result.stdout[-1500:]
    return None


def wait_for_the_pause(stack) -> None:
    """Until the recorded series can be read 5 minutes after the traffic's pause."""
    wait_until(lambda: time.time() >= max(eval_times(stack).values())
               + 2 * stack.scrape_interval_s, 330, "5 minutes after the traffic's pause",
               interval=0.5)


def test_every_mutation_is_killed(stack_with_traffic, tmp_path):
    stack = stack_with_traffic
    started = time.monotonic()
    baseline = mutated_copy(None, tmp_path / "baseline")
    build(baseline, "alerting.build")
    failure = killed_by(stack, baseline)
    assert failure is None, \
        f"the unmutated copy fails a check, so a mutation's failure would prove nothing: {failure}"
    survivors, stale, killer = [], [], {}
    copies: dict[int, Path] = {}
    plans: dict[int, Plan] = {}

    def prepare(index: int, mutation: Mutation) -> None:
        copy = tmp_path / f"m{index}"
        try:
            mutated_copy(mutation, copy)
            build(copy, "alerting.build")
        except AssertionError as error:  # its text is gone from the source: judged by none
            stale.append(f"{mutation.name}: {error}")
            return
        except BuildCrashed:
            killer[mutation.name] = "build crash"
            return
        copies[index] = copy
        plans[index] = plan(f"m{index}_", baseline / "prometheus" / "rules",
                            copy / "prometheus" / "rules")

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda item: prepare(*item), enumerate(MUTATIONS)))
    prepared = time.monotonic()

    def judge(index: int, shadow=None) -> None:
        mutation = MUTATIONS[index]
        check = killed_by(stack, copies[index], mutation, shadow, plans[index])
        if check is None:
            survivors.append(mutation.name)
        else:
            killer[mutation.name] = check.split(":")[0]
        shutil.rmtree(copies[index])

    # the mutations that change no recording rule first, on the live stack: meanwhile
    # the clock reaches 5 minutes after the traffic's pause, which the backfill needs
    for index in sorted(copies):
        if not plans[index].rules:
            judge(index)
    judged_live = time.monotonic()
    with_rules = [p for p in plans.values() if p.rules]
    # the control: every rule of the unmutated copy, renamed and backfilled beside the
    # mutations', must equal the truth there, or a kill on the shadow would prove nothing
    control = plan("control_", tmp_path / "no-rules", baseline / "prometheus" / "rules")
    wait_for_the_pause(stack)
    waited = time.monotonic()
    at = max(eval_times(stack).values())
    shadow = backfill([control, *with_rules], tmp_path / "shadow", stack.prom.url,
                      stack.traffic.started_at - stack.lead_in_s - 30, at,
                      stack.scrape_interval_s)
    backfilled = time.monotonic()
    try:
        failure = killed_by(stack, baseline, None, shadow.handle, control, fast=False)
        assert failure is None, f"the unmutated rules, backfilled, fail a check: {failure}"
        judged_control = time.monotonic()
        for index in sorted(copies):
            if plans[index].rules:
                judge(index, shadow.handle)
    finally:
        shadow.stop()

    def how(mutations) -> str:
        counts = Counter(killer[m.name] for m in mutations if m.name in killer)
        return ", ".join(f"{n} by the {check}" for check, n in sorted(counts.items()))
    COVERAGE.append(f"mutations: {len(killer)}/{len(MUTATIONS)} killed "
                    f"({how(MUTATIONS)})")
    COVERAGE.append(
        f"mutations' recording rules: {len(with_rules)} of {len(MUTATIONS)} mutations change "
        f"recording rules; their {sum(len(p.rules) for p in with_rules)} changed or dependent "
        f"rules and the control's {len(control.rules)}, renamed, backfilled with promtool "
        f"over the traffic into a shadow Prometheus (remote-reading the stack's) in "
        f"{backfilled - waited:.0f} s ({shadow.starts} starts), judged by the panel and "
        f"recorded-series truths. Copies built in {prepared - started:.0f} s, the other "
        f"mutations judged in {judged_live - prepared:.0f} s, {waited - judged_live:.0f} s "
        f"left to wait for 5 minutes after the traffic's pause, the control judged in "
        f"{judged_control - backfilled:.0f} s, the rule mutations in "
        f"{time.monotonic() - judged_control:.0f} s")
    for kind in sorted({m.kind for m in MUTATIONS}):
        of_kind = [m for m in MUTATIONS if m.kind == kind]
        killed = sum(m.name in killer for m in of_kind)
        COVERAGE.append(f"mutations, {kind}: {killed}/{len(of_kind)} killed ({how(of_kind)}); "
                        f"proven by: {HOW_PROVEN.get(kind, '?')}")
    assert not stale, "mutations whose text is gone (update tests/harness/mutations.py):\n" + \
        "\n".join(stale)
    assert not survivors, "mutations the suite let through:\n" + "\n".join(survivors)


def test_every_recorded_series_is_the_truth_of_the_traffic(stack_with_traffic):
    """Every recording rule the stack's Prometheus evaluates, at the end of the traffic
    and 5 minutes after its pause (tests/harness/recorded.py): a rule over another window
    or with another operation than its name says gives another value at one of them."""
    stack = stack_with_traffic
    wait_for_the_pause(stack)
    # the rules the stack's Prometheus loaded (the files may have changed since)
    rules = [{"record": r["name"], "expr": r["query"], "labels": r.get("labels") or {}}
             for group in stack.prom.rules() for r in group["rules"] if r["type"] == "recording"]
    problems, proven, not_driven = check_recorded(stack, rules)
    judged = len({(r["record"], tuple(sorted(r["labels"].items()))) for r in rules})
    COVERAGE.append(f"recorded series: {proven['end']} of {judged} equal the traffic's truth "
                    f"at its end, {proven['pause']} again 5 minutes after its pause (their "
                    "window's own part of it)")
    COVERAGE.extend(f"  recorded, not driven here: {name}: {why}"
                    for name, why in sorted(not_driven.items()))
    assert not problems, "\n".join(problems)
