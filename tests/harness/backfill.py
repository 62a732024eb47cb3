"""Mutated recording rules judged on the traffic the session stack already recorded.

A reload of the live Prometheus would make it evaluate a mutated rule from then on only;
the truths read the traffic's own window, minutes in the past. So each mutated copy's
changed recording rules (and every rule that reads one of them) are renamed with a
prefix of the mutation's own and backfilled over that window with Prometheus's own rule
backfiller, `promtool tsdb create-blocks-from rules`, which evaluates each rule as a
range query against a Prometheus API at the rules' evaluation interval and writes TSDB
blocks. The truths then read the prefixed names.

Where the blocks are served: a second, "shadow" Prometheus with no scrape jobs whose
storage is the backfilled blocks and whose `remote_read` (read_recent: true, so every
query also reads the remote) is the live stack's Prometheus. Its queries see the live
raw series and the baseline's recorded series beside the prefixed ones, so a panel query
or a truth's raw-bucket read works there unchanged. Prometheus opens the blocks of its
data directory when it starts, so a start (one to three seconds) replaces the live
server's periodic block reload (once a minute, tsdb/db.go). promtool documents that a
rule cannot read what the same backfill writes ("rules that refer to other rules being
backfilled is not supported ... backfill multiple times and create the dependent data
first"): the renamed rules go in levels by what they read, each level backfilled from
the shadow holding the levels before it, the shadow restarted in between. All mutations
share each level's file, so the whole mutation set costs one backfill and one start per
level, not one per mutation.

Each level is evaluated at the same instants as the levels it reads. promtool starts a
rule's range query at its group's evaluation timestamp (cmd/promtool/rules.go, importRule:
`grp.EvalTimestamp(start)`), whose offset within the interval is a hash of the group's
name and file (rules/group.go). So a plan's rules keep one group name and every level
is written to one file path: a level-1 sample at t reads the level-0 sample written at t,
as a live group evaluates its rules in order at one timestamp. With a name or a file per
level, each level would read the one below as it was up to an interval earlier, and a
rule two levels up would miss the traffic's last second (seen: a daily increase 3 % short).

Written here rather than taken from a library: no Python package drives promtool's
backfill or a throwaway Prometheus; the rule files are read with PyYAML.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from observability.promapi import Prometheus
from tests.harness.processes import Process, free_port
from tests.harness.prom import PromHandle, _binary, _wait_ready

RULE_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def recording_rules(rules_dir: Path) -> list[dict]:
    """Every recording rule of every generated rule file: record, expr, labels."""
    out = []
    for path in sorted(Path(rules_dir).glob("*.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            out += [{"record": r["record"], "expr": str(r["expr"]),
                     "labels": dict(r.get("labels") or {})}
                    for r in group["rules"] if "record" in r]
    return out


def _reads(expr: str, names: set[str]) -> set[str]:
    return {token for token in RULE_NAME.findall(expr) if token in names}


def _key(rule: dict) -> tuple:
    return rule["expr"], tuple(sorted(rule["labels"].items()))


@dataclass
class Plan:
    """One mutated copy's recording rules that differ from the baseline's, with every
    rule that reads them, renamed `prefix + record` (references renamed too)."""
    prefix: str
    rules: list[dict] = field(default_factory=list)  # renamed
    renamed: dict[str, str] = field(default_factory=dict)  # old name -> prefixed

    def rename(self, text: str) -> str:
        """`text` (a query, a selector) reading the prefixed names."""
        if not self.renamed:
            return text
        return RULE_NAME.sub(lambda m: self.renamed.get(m.group(), m.group()), text)


def plan(prefix: str, baseline_dir: Path, copy_dir: Path) -> Plan:
    """The copy's recording rules whose name, expression or labels differ from the
    baseline's, and every rule that reads one of them, transitively."""
    base, mutated = defaultdict(list), defaultdict(list)
    for rule in recording_rules(baseline_dir):
        base[rule["record"]].append(_key(rule))
    copy_rules = recording_rules(copy_dir)
    for rule in copy_rules:
        mutated[rule["record"]].append(_key(rule))
    changed = {name for name in mutated if sorted(mutated[name]) != sorted(base.get(name, []))}
    names = set(mutated)
    while True:
        readers = {r["record"] for r in copy_rules if _reads(r["expr"], changed)}
        if readers <= changed:
            break
        changed |= readers
    out = Plan(prefix)
    out.renamed = {name: prefix + name for name in sorted(changed & names)}
    out.rules = [{**rule, "record": out.renamed[rule["record"]], "expr": out.rename(rule["expr"])}
                 for rule in copy_rules if rule["record"] in changed]
    return out


def levels(plans: list[Plan]) -> list[list[tuple[Plan, dict]]]:
    """The plans' rules in backfill order: a rule comes after every rule it reads."""
    pending = [(p, r) for p in plans for r in p.rules]
    produced = {r["record"] for _, r in pending}
    done: set[str] = set()
    out: list[list[tuple[Plan, dict]]] = []
    while pending:
        ready = [(p, r) for p, r in pending
                 if _reads(r["expr"], produced) - {r["record"]} <= done]
        assert ready, f"recording rules that read each other in a cycle: {pending}"
        pending = [item for item in pending if item not in ready]
        done |= {r["record"] for _, r in ready} - {r["record"] for _, r in pending}
        out.append(ready)
    return out


class Shadow:
    """A Prometheus with no scrape jobs that serves `data` (backfilled blocks) and the
    live Prometheus's series through remote read."""

    def __init__(self, work: Path, live_url: str) -> None:
        self.work, self.live_url = work, live_url
        self.data = work / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.handle: PromHandle | None = None
        self.starts = 0

    def start(self) -> PromHandle:
        self.stop()
        port = free_port()
        address = f"127.0.0.1:{port}"
        config = self.work / "prometheus.yml"
        # The live server's external labels, which its remote-read endpoint adds to every
        # series it returns: a server with the same ones asks for them and takes them off
        # again (storage/remote/read.go, addExternalLabels), so live and backfilled series
        # carry the same labels and a rule that joins them matches one to one.
        live = yaml.safe_load(Prometheus(self.live_url).get("/api/v1/status/config")["yaml"])
        config.write_text(yaml.safe_dump({
            "global": {"evaluation_interval": "1m",
                       "external_labels": live["global"].get("external_labels") or {}},
            "remote_read": [{"url": f"{self.live_url}/api/v1/read", "read_recent": True}],
        }))
        self.starts += 1
        process = Process("prometheus-shadow", [
            _binary("prometheus"), f"--config.file={config}",
            f"--storage.tsdb.path={self.data}", f"--web.listen-address={address}",
        ], None, self.work / f"prometheus-{self.starts}.log", f"http://{address}")
        handle = PromHandle(process, process.url)
        _wait_ready(process, "the shadow Prometheus", handle.ready)
        self.handle = handle
        return handle

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.stop()
            self.handle = None


def backfill(plans: list[Plan], work: Path, live_url: str, start: float, end: float,
             interval_s: float) -> Shadow:
    """Every plan's rules backfilled over [start, end] at `interval_s`, level by level;
    returns the shadow, started on all of them."""
    shadow = Shadow(work, live_url)
    shadow.start()
    try:
        for depth, level in enumerate(levels(plans)):
            groups = defaultdict(list)
            for p, rule in level:
                groups[f"{p.prefix}backfill"].append(
                    {"record": rule["record"], "expr": rule["expr"],
                     **({"labels": rule["labels"]} if rule["labels"] else {})})
            rules_file = work / "rules.yml"  # one path for every level: see the docstring
            rules_file.write_text(yaml.safe_dump(
                {"groups": [{"name": n, "rules": r} for n, r in groups.items()]},
                sort_keys=False))
            blocks = work / f"blocks{depth}"
            result = subprocess.run(
                [_binary("promtool"), "tsdb", "create-blocks-from", "rules", "--quiet",
                 f"--url={shadow.handle.url}", f"--start={int(start)}",
                 f"--end={int(end) + 1}", f"--eval-interval={interval_s:g}s",
                 f"--output-dir={blocks}", str(rules_file)],
                capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, \
                f"promtool backfill of {rules_file}: {result.stderr}"
            for block in blocks.iterdir():
                if block.is_dir():
                    shutil.move(str(block), shadow.data / block.name)
            shadow.start()  # opens the new blocks
        for p in plans:
            _assert_one_phase(shadow.handle, p, end, interval_s)
    except BaseException:
        shadow.stop()  # no Prometheus left running behind a failed backfill
        raise
    return shadow


def _assert_one_phase(prom: PromHandle, plan: Plan, end: float, interval_s: float) -> None:
    """Every series the plan backfilled was evaluated at the same instants (the module's
    docstring): their last samples before `end` share one offset within the interval."""
    # timestamp() gives a sample's own time only around a plain selector
    stamps = [v for record in sorted({r["record"] for r in plan.rules})
              for _, v in prom.query(f"timestamp({record})", at=end)]
    phases = {round(t * 1000) % round(interval_s * 1000) for t in stamps}
    assert len(phases) <= 1, \
        f"{plan.prefix}: backfilled series evaluated at {len(phases)} offsets: {sorted(phases)} ms"
