"""The anomaly band's numbers, computed apart from the code with numpy over the very samples
Prometheus reads: the recorded band (prometheus/rules/anomaly.yml) equals mean +/- K
population standard deviations of the hour that ended GAP ago, and the committed promtool
scenarios (prometheus/tests/anomaly.test.yml) where the band's edge, not the alert's
minimum rise, decides whether it fires really sit just inside and just outside it.

The band as docs/alerts.md states it (the plan's 3.1): mean +/- 3 standard deviations over
the hour that ended 10 minutes ago. PromQL's stddev_over_time is the population one
(numpy's ddof=0); Debian's Prometheus 2.42, which runs these tests, selects a range with
both ends included: 61 samples a minute apart for an hour.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from alerting import anomaly

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "prometheus" / "rules" / "anomaly.yml"
SCENARIOS = ROOT / "prometheus" / "tests" / "anomaly.test.yml"
K = 3
HISTORY_MIN = 60
GAP_MIN = 10
FOR_MIN = 5  # the anomaly alerts' `for`
WINDOW = HISTORY_MIN + 1  # samples, both ends included


def promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool is not installed (make system-deps)")
    return tool


def band(samples: np.ndarray, at_min: int, ddof: int = 0) -> tuple[float, float]:
    """(mean, K x std) of the samples (one a minute from minute 0) that a range of
    HISTORY_MIN ending GAP_MIN before minute `at_min` selects."""
    end = at_min - GAP_MIN
    window = samples[end - HISTORY_MIN:end + 1]
    assert len(window) == WINDOW and not np.isnan(window).any()
    return float(np.mean(window)), K * float(np.std(window, ddof=ddof))


_NUMBER = r"\d+(?:\.\d*)?(?:e[+-]?\d+)?"
_STEP = re.compile(rf"^(?P<start>-?{_NUMBER})(?:(?P<sign>[+-])(?P<step>{_NUMBER}))?"
                   r"x(?P<times>\d+)$")


def expand(values: str) -> np.ndarray:
    """promtool's series notation (`a`, `_`, `axn`, `a+bxn`, `a-bxn`) as one sample a
    minute, NaN for a missing one."""
    out: list[float] = []
    for token in values.split():
        if token == "_":
            out.append(np.nan)
        elif (m := _STEP.match(token)):
            start, times = float(m["start"]), int(m["times"])
            step = float(m["step"] or 0) * (-1 if m["sign"] == "-" else 1)
            out += [start + step * i for i in range(times + 1)]
        else:
            out.append(float(token))
    return np.array(out)


def test_expand_reads_promtool_notation():
    assert list(expand("1 2x2 0+5x2 10-1x1 1e-05x1")) == [1, 2, 2, 2, 0, 5, 10, 10, 9,
                                                         1e-05, 1e-05]
    assert np.isnan(expand("_ 3")[0])


def _record(band_: anomaly.Band, part: str) -> str:
    return band_.record(part)


def test_recorded_band_equals_numpy_over_the_same_window_and_gap(tmp_path):
    """Noise with no period (so a window in the wrong place, or of the wrong length, has
    other numbers), 100 minutes of it; at several minutes the four recorded series equal
    numpy's mean, K x std, mean + K x std and max(0, mean - K x std) over the samples of
    [t - 70 m, t - 10 m]. One band's noise dips to where its lower edge is clamped."""
    draws = np.random.default_rng(20)
    minutes, series, tests = 100, [], []
    for index, b in enumerate(anomaly.BANDS):
        d = b.min_rise
        centre = (4 if index == 0 else 2) * d  # the second band's lower edge goes under 0
        samples = np.round(centre + d * draws.uniform(-2, 2, minutes), 9)
        series.append({"series": b.series, "values": " ".join(repr(float(v))
                                                              for v in samples)})
        for at in (HISTORY_MIN + GAP_MIN, 83, minutes - 1):
            mean, spread = band(samples, at)
            expected = {"mean": mean, "spread": spread, "upper": mean + spread,
                        "lower": max(0.0, mean - spread)}
            for part, value in expected.items():
                # promtool compares floats exactly; numpy sums in another order
                tolerance = 1e-9 * max(1.0, abs(value))
                tests.append({"expr": f"abs({_record(b, part)} - {value!r}) < bool "
                                      f"{tolerance!r}",
                              "eval_time": f"{at}m",
                              "exp_samples": [{"labels": "{}", "value": 1}]})
        clamps = [band(samples, at)[0] - band(samples, at)[1] < 0
                  for at in (HISTORY_MIN + GAP_MIN, 83, minutes - 1)]
        assert index == 0 or any(clamps), "the second band's noise should reach the clamp"
    test_file = tmp_path / "band.test.yml"
    test_file.write_text(yaml.safe_dump({
        "rule_files": [str(RULES)], "evaluation_interval": "1m",
        "tests": [{"name": "the band against numpy", "interval": "1m",
                   "input_series": series, "promql_expr_test": tests}]}))
    result = subprocess.run([promtool(), "test", "rules", str(test_file)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _scenarios() -> list[dict]:
    return yaml.safe_load(SCENARIOS.read_text())["tests"]


@pytest.mark.parametrize("b", anomaly.BANDS, ids=lambda b: b.key)
def test_the_band_not_the_minimum_rise_decides_at_its_edge(b):
    """The scenarios "just inside" and "just outside" the band: numpy's band over the
    scenario's own samples (at every minute the alert must hold for, up to the check)
    has the silent value above mean + min_rise and inside the band, and the firing value
    outside it but inside a band of the sample standard deviation, which a rule that
    took the wrong one would draw. promtool runs them (tests/unit/test_alerting_rules.py)."""
    alert = anomaly.anomaly_alert(b)
    edge = {}
    for test in _scenarios():
        if not test["name"].startswith(f"{alert.name}: above mean + min_rise, just "):
            continue
        (samples,) = [expand(s["values"]) for s in test["input_series"]
                      if s["series"] == b.series]
        last = test["alert_rule_test"][-1]
        at = int(last["eval_time"].removesuffix("m"))
        value = samples[at]
        checked = range(at - FOR_MIN, at + 1)  # pending for FOR_MIN, then firing
        assert all(samples[t] == value for t in checked)
        inside = "inside" in test["name"]
        assert bool(last["exp_alerts"]) is not inside
        for t in checked:
            mean, spread = band(samples, t)
            assert value - mean > b.min_rise, "min_rise would decide, not the band"
            if inside:
                assert mean + spread * 0.99 < value <= mean + spread
            else:
                sample_mean, sample_spread = band(samples, t, ddof=1)
                assert mean + spread < value < sample_mean + sample_spread
        edge[inside] = value
    assert set(edge) == {True, False}, "both scenarios must be generated"
