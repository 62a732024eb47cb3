"""The SLO burn-rate alerts against the SRE workbook's table, written here (not read from
observability/slo.py, which derives its factors and short windows from each window's
share of the budget).

Source: "The Site Reliability Workbook", ch. 5 "Alerting on SLOs", section 6 (multiwindow,
multi-burn-rate alerts), table 5-8 "Recommended parameters for a 99.9% SLO alerting
configuration"; and Sloth's default alert windows for a 30-day SLO
(sloth.dev, "SLO period windows": the same rows plus a 1-day ticket at 10 %).
"""

from __future__ import annotations

import re

import pytest
import yaml

from observability.slo import BURN_WINDOWS
from tests.harness.rules import RULES_DIR
from tests.harness.truth import SLO_BUDGET

# (severity, long window, short window, burn rate, share of a 30-day budget spent)
WORKBOOK = (
    ("critical", "1h", "5m", 14.4, 0.02),  # page
    ("critical", "6h", "30m", 6, 0.05),  # page
    ("warning", "1d", "2h", 3, 0.10),  # ticket (Sloth)
    ("warning", "3d", "6h", 1, 0.10),  # ticket
)
HOURS = {"1h": 1, "6h": 6, "1d": 24, "3d": 72}
SLO_DAYS = 30


def test_the_workbook_table_is_consistent():
    """Its burn rates are its budget shares spent over its long windows: the rule the
    code derives them by, checked on the book's own numbers."""
    for _, long, _, burn, share in WORKBOOK:
        assert burn == pytest.approx(share * SLO_DAYS * 24 / HOURS[long])


def test_burn_windows_are_the_workbooks():
    derived = tuple((b.severity, b.long, b.short, b.factor, b.budget_share)
                    for b in BURN_WINDOWS)
    assert [d[:3] for d in derived] == [w[:3] for w in WORKBOOK]
    for got, want in zip(derived, WORKBOOK):
        assert got[3] == pytest.approx(want[3], rel=1e-12), f"{got[1]}: burn rate"
        assert got[4] == pytest.approx(want[4], rel=1e-12), f"{got[1]}: budget share"


def _burn_alerts() -> list[dict]:
    data = yaml.safe_load((RULES_DIR / "slo.yml").read_text())
    return [r for g in data["groups"] for r in g["rules"] if "alert" in r]


def test_the_compiled_alerts_compare_each_window_with_the_workbooks_limit():
    """prometheus/rules/slo.yml as Prometheus loads it: for every SLO and table row, one
    alert whose long and short window ratios are compared with burn rate x budget."""
    seen = set()
    for rule in _burn_alerts():
        labels = rule["labels"]
        slo, long, short = labels["slo"], labels["long_window"], labels["short_window"]
        (row,) = [w for w in WORKBOOK if w[1] == long]
        severity, _, want_short, burn, _ = row
        assert (short, labels["severity"]) == (want_short, severity)
        limit = burn * SLO_BUDGET[slo]
        for window in (long, short):
            found = re.search(
                rf'ai_assist:slo_error_ratio:rate{window}\{{slo="{slo}"\}} > ([0-9.e-]+)',
                rule["expr"])
            assert found, f"{slo} {long}: no comparison of the {window} ratio:\n{rule['expr']}"
            assert float(found.group(1)) == pytest.approx(limit, rel=1e-9), \
                f"{slo} {long}/{short}: the {window} ratio is compared with " \
                f"{found.group(1)}, the workbook's limit is {burn} x {SLO_BUDGET[slo]}"
        seen.add((slo, long))
    assert seen == {(slo, w[1]) for slo in SLO_BUDGET for w in WORKBOOK}
