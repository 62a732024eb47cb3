"""The mutation check: each deliberate breakage of tests/mutations.py, applied alone to a
copy of the repository whose generated files are then rebuilt, must make the suite fail:
the panel truth check against the live stack, or the fast rule and dashboard tests run
on the copy (promtool unit tests, reachability of every limit, static dashboard lint,
the numpy check of the anomaly band), or the proofs a mutation names for itself (the
cache panels' proof, on a cache stack of its own).

Why a mutated rule file is not loaded into the live Prometheus (issue 20 asked for it
where it fits `make test`'s 10 minutes on 2 cores; it does not): a reload (with
--web.enable-lifecycle) makes Prometheus evaluate the mutated rules from the reload on,
but the truth check reads every target at the end of the session's traffic, minutes in
the past, where the recorded series were written by the committed rules; a rule's
mutation would change nothing the truth reads. Judging it there needs the mutated
rules' output over the traffic's own window: driving the traffic again after each
reload (the stack fixture's 60-90 s, for each mutation that changes a rule file: most
do, since a Threshold row's expression is both a panel and a rule), or backfilling each copy's rules with `promtool tsdb create-blocks-from rules`
into a second Prometheus started on those blocks (a start, a backfill of the traffic's
window and the truth's queries: about half a minute each). Either adds 5-15 minutes to
a runner that already takes most of the budget. Rule mutations are judged instead by
promtool scenarios with rates that change minute by minute (burn windows, band edges),
the numpy check of the band, the static name and window check (test_recording_names),
and, where a panel reads the same expression as the rule (the Threshold rows), by the
panel truth; the coverage summary counts the kills per class."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.harness.panels import COVERAGE, all_queries, load_dashboards
from tests.harness.processes import ROOT, python_env
from tests.harness.proof import check_truth
from tests.mutations import MUTATIONS, Mutation

pytestmark = pytest.mark.stack

COPIED = ("alerting", "dashboards", "observability", "prometheus", "service", "tests", "docs",
          "pyproject.toml", "README.md")
FAST_TESTS = ("tests/test_thresholds_reachable.py", "tests/test_alerting_rules.py",
              "tests/test_dashboards_static.py", "tests/test_prices.py",
              "tests/test_burn_rates.py", "tests/test_recording_names.py",
              "tests/test_anomaly_bands.py")
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
            f"{mutation.path}; update tests/mutations.py"
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


def killed_by(stack, copy: Path, mutation: Mutation | None = None) -> str | None:
    """The check that fails on the mutated copy, or None when every check passes."""
    problems, _, _ = check_truth(stack, all_queries(load_dashboards(copy / "dashboards" / "json")))
    if problems:
        return "panel truth: " + "; ".join(problems)
    build(copy, "alerting.build")  # only now: most mutations fall to the truth check
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


def test_every_mutation_is_killed(stack_with_traffic, tmp_path):
    baseline = mutated_copy(None, tmp_path / "baseline")
    failure = killed_by(stack_with_traffic, baseline)
    assert failure is None, \
        f"the unmutated copy fails a check, so a mutation's failure would prove nothing: {failure}"
    survivors, killer = [], {}
    for index, mutation in enumerate(MUTATIONS):
        copy = tmp_path / f"m{index}"
        try:
            check = killed_by(stack_with_traffic, mutated_copy(mutation, copy), mutation)
        except BuildCrashed as crash:
            check = f"build crash: {crash}"
        if check is None:
            survivors.append(mutation.name)
        else:
            killer[mutation.name] = check.split(":")[0]
        shutil.rmtree(copy)

    def how(mutations) -> str:
        counts = Counter(killer[m.name] for m in mutations if m.name in killer)
        return ", ".join(f"{n} by the {check}" for check, n in sorted(counts.items()))
    COVERAGE.append(f"mutations: {len(MUTATIONS) - len(survivors)}/{len(MUTATIONS)} killed "
                    f"({how(MUTATIONS)})")
    for kind in sorted({m.kind for m in MUTATIONS}):
        of_kind = [m for m in MUTATIONS if m.kind == kind]
        killed = sum(m.name not in survivors for m in of_kind)
        COVERAGE.append(f"mutations, {kind}: {killed}/{len(of_kind)} killed ({how(of_kind)})")
    assert not survivors, "mutations the suite let through:\n" + "\n".join(survivors)
