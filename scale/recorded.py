"""The recording rules' own history, for the rules and panels that read recorded series.

Prometheus is not left to evaluate the rules during the measurement (that would compete
with the queries for the CPU), so the recorded series are part of the generated
OpenMetrics: a pilot of a few replicas and two hours of the same simulated traffic is
backfilled, the real Prometheus evaluates prometheus/rules/*.yml on it every second
until every group has run often enough for rules that read other rules to see them,
and every series the rules recorded is kept with its labels and value. For the
measured deployment each is written at every sample of the whole history (30 days by
default; the rules' longest window), one per namespace, and one per replica where the
rule keeps `instance`. Their values are the pilot's with a little noise: the cost of
a query does not depend on the values.

(`promtool tsdb create-blocks-from rules` would evaluate the rules over the whole
history instead; on days of raw data for a hundred replicas that costs more than the
check's time budget, and it fills one dependency level a pass.)
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import requests

from scale import openmetrics as om
from scale.prometheus import PrometheusProcess, wait_until
from scale.promtool import Backfill
from scale.series import Family
from scale.traffic import FamilyState, replica_history

PILOT_REPLICAS = 2
PILOT_S = 2 * 3600
ITERATIONS = 5  # evaluations of every group: rules that read rules see their inputs
PILOT_TIMEOUT_S = 120
INSTANCE = "instance"
_ITERATIONS = re.compile(r'^prometheus_rule_group_iterations_total\{[^}]*\} (\S+)$', re.M)


def _iterations(url: str) -> list[float]:
    text = requests.get(f"{url}/metrics", timeout=5).text
    return [float(v) for v in _ITERATIONS.findall(text)]


def learn(work: Path, rules_dir: Path, families: tuple[Family, ...], step: float,
          namespace: str, seed: int = 7) -> list[om.Recorded]:
    """Every series the rules record on the simulated traffic, the `instance` label of
    per-replica ones left as '{instance}' for the caller to fill."""
    now = float(int(time.time() // step * step))
    times = np.arange(now - PILOT_S, now + step / 2, step)
    rngs = [np.random.default_rng(seed + i) for i in range(PILOT_REPLICAS)]
    replicas = [replica_history(r, times) for r in rngs]
    for replica in replicas:  # a quiet pilot: no restart, no incident at its end
        replica.restart = None
    states = [{f.name: FamilyState(f) for f in families} for _ in replicas]
    work.mkdir(parents=True, exist_ok=True)
    tsdb = work / "pilot-tsdb"
    path = work / "pilot.om"
    with open(path, "w") as out:
        om.write_families(out, families, replicas, states, rngs, times,
                          slice(0, len(times)), step, namespace)
        om.end(out)
    backfill = Backfill(tsdb)
    backfill.add(path, 2 * 3600)
    backfill.wait()
    rule_files = tuple(sorted(Path(rules_dir).glob("*.yml")))
    with PrometheusProcess(work / "pilot", tsdb, rule_files, evaluation_interval="1s") as prom:
        wait_until(lambda: (its := _iterations(prom.url)) and min(its) >= ITERATIONS,
                   PILOT_TIMEOUT_S, f"{ITERATIONS} evaluations of every rule group")
        found = prom.client.query('{__name__=~".+:.+"}')
    instances = {om.instance(i) for i in range(PILOT_REPLICAS)}
    out: dict[tuple, om.Recorded] = {}
    for labels, value in found:
        name = labels.pop("__name__")
        if labels.get(INSTANCE) in instances:
            labels[INSTANCE] = "{instance}"
        key = (name, tuple(sorted(labels.items())))
        out.setdefault(key, om.Recorded(name, key[1], value))
    return list(out.values())


def for_replicas(recorded: list[om.Recorded], replicas: int) -> list[om.Recorded]:
    """The pilot's recorded series for a deployment of `replicas`."""
    out = []
    for r in recorded:
        if dict(r.labels).get(INSTANCE) == "{instance}":
            for i in range(replicas):
                labels = tuple((k, om.instance(i) if k == INSTANCE else v) for k, v in r.labels)
                out.append(om.Recorded(r.name, labels, r.value))
        else:
            out.append(r)
    return out
