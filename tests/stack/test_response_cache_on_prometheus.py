"""The cost dashboard's "Response cache" panels, proven on a real Prometheus: two replicas
sharing one Redis, a known mix of hits and misses by two tenants, then a Redis outage
(the cache itself: tests/service/test_response_cache.py)."""

from __future__ import annotations

import math
import time
from collections import Counter

import pytest
import requests
from ai_assist.config import Settings
from ai_assist.samples import SAMPLES
from ai_assist.telemetry.metrics import (
    CACHE_ERRORS_TOTAL,
    CACHE_LOOKUPS_TOTAL,
    CACHE_TOKENS_SAVED_TOTAL,
)

from tests.harness.cache import cache_replicas, post, redis, total  # noqa: F401 (fixtures)
from tests.harness.processes import emulator_stats, start_redis

M_LOOKUPS = CACHE_LOOKUPS_TOTAL
M_SAVED = CACHE_TOKENS_SAVED_TOTAL


def sampled_spans(prom, metric: str, window_s: float, at: float) -> dict[str, float]:
    """instance -> the shortest span, first to last sample, of its `metric` series in
    the window [at - window_s, at], from the samples Prometheus holds."""
    data = prom.get("/api/v1/query", query=f"{metric}[{round(window_s * 1000)}ms]",
                     time=f"{at:.3f}")
    spans: dict[str, float] = {}
    for series in data["result"]:
        times = [float(t) for t, _ in series["values"]]
        instance = series["metric"]["instance"]
        spans[instance] = min(spans.get(instance, math.inf), times[-1] - times[0])
    return spans


def test_the_cache_panels_show_the_truth_of_a_known_mix(cache_replicas, redis, emulator,
                                                        tmp_path_factory):
    """Two replicas sharing Redis, scraped by a real Prometheus: texts sent by two
    tenants (API keys) a known number of times (alternating replicas: the shared cache
    serves the other replica's answers, but only to their own tenant), then a Redis
    outage. The hit ratio is the per-tenant truth. Every target of the panels equals the
    truth of the client's X-Cache tally and of the tokens the emulator billed for each
    miss, the answer every later hit of its text serves again."""
    from tests.harness.panels import (
        all_queries,
        fill_variables,
        load_dashboards,
        rate_interval_s,
        strip_guards,
    )
    from tests.harness.processes import wait_until
    from tests.harness.prom import start_prometheus
    from tests.harness import prices
    from tests.harness.truth import CACHE_TRUTH, CacheTruth, Expected

    scrape, lead_in = 0.5, 2.0
    work = tmp_path_factory.mktemp("cache-panels")
    redis.stop()  # one brought back on its port in its place, stopped for the outage below
    revived = start_redis(work, port=redis.port)
    prom = start_prometheus(work, [s.target for s in cache_replicas],
                            scrape_interval="500ms")
    config = requests.get(f"{emulator.url}/_emulator/config", timeout=5).json()
    emulator.configure(cached_tokens=300)  # every token type, so every price, is driven
    try:
        # a hit on each replica first: the tokens-saved series are born with a hit, and
        # rate() cannot see the increase that created a series
        warm = SAMPLES[0][1]

        def warm_hit(service) -> bool:
            return post(service, warm, "alice", top_k=2).headers["X-Cache"] == "hit"
        for service in cache_replicas:
            wait_until(lambda service=service: warm_hit(service), 30, "a warm-up cache hit")
        lookups = sum(total(s, M_LOOKUPS) for s in cache_replicas)
        wait_until(lambda: sum(v for _, v in prom.query(f"sum({M_LOOKUPS})")) == lookups
                   and len(prom.query(f'{M_SAVED}{{type="input"}}')) == 2, 30,
                   "Prometheus holding the warm-up")
        flat = time.time()  # the lead-in: flat counters before the measured traffic
        wait_until(lambda: time.time() >= flat + lead_in + 2 * scrape + 1, 10, "the lead-in",
                   interval=0.1)

        started = time.time()
        # Two tenants (API keys) send the same passages: a hit only ever comes from the
        # sender's own earlier miss, so the truth is, per passage, the sends less the
        # tenants that sent it. Hits outnumber the misses' calls: what they saved is not
        # what was billed.
        plan = {SAMPLES[1][1]: ["alice", "alice", "bob", "alice", "bob", "alice", "bob"],
                SAMPLES[5][1]: ["alice", "bob", "bob", "alice"],
                SAMPLES[6][1]: ["bob", "bob", "bob"], SAMPLES[7][1]: ["alice"]}
        expected_misses = sum(len(set(senders)) for senders in plan.values())
        expected = {"miss": expected_misses,
                    "hit": sum(map(len, plan.values())) - expected_misses}
        tally = Counter()
        saved = Counter()
        billed_for: dict[tuple[str, str], dict] = {}
        turn = 0
        for text, senders in plan.items():
            for tenant in senders:
                before = emulator_stats(emulator)
                response = post(cache_replicas[turn % 2], text, tenant, top_k=2)
                turn += 1
                after = emulator_stats(emulator)
                outcome = response.headers["X-Cache"]
                tally[outcome] += 1
                if outcome == "miss":
                    assert not response.json()["fallback_used"]
                    assert after["calls"] == before["calls"] + 1, "one call per stored answer"
                    billed_for[(text, tenant)] = {k: after["tokens"][k] - before["tokens"][k]
                                                  for k in after["tokens"]}
                    continue
                assert after["calls"] == before["calls"]
                billed = billed_for[(text, tenant)]  # a hit serves the tenant's own answer
                saved.update({"input": billed["prompt"] - billed["cached"],
                              "cached_input": billed["cached"], "output": billed["output"],
                              "thinking": billed["thinking"]})
        assert tally == expected == {"hit": 9, "miss": 6}, tally
        assert all(saved[kind] > 0 for kind in ("input", "cached_input", "output", "thinking"))
        revived.stop()
        outage = [SAMPLES[8][1], SAMPLES[10][1]]
        for n, text in enumerate(outage):  # each: a failed get (a miss) and a failed set
            response = post(cache_replicas[n % 2], text, "bob", top_k=2)
            assert response.status_code == 200 and response.headers["X-Cache"] == "miss"
            tally["miss"] += 1
        lookups = sum(total(s, M_LOOKUPS) for s in cache_replicas)
        errors = sum(total(s, CACHE_ERRORS_TOTAL) for s in cache_replicas)
        wait_until(lambda: sum(v for _, v in prom.query(f"sum({M_LOOKUPS})")) == lookups
                   and sum(v for _, v in prom.query(f"sum({CACHE_ERRORS_TOTAL})")) == errors,
                   30, "Prometheus holding the counters after the traffic", interval=0.1)
        at = max(v for _, v in prom.query(f"timestamp({M_LOOKUPS})"))
        interval_s = math.ceil(at - started + lead_in)
        window_s = rate_interval_s(interval_s, scrape)
        assert at - window_s >= flat, "the window reaches back before the lead-in"
        truth = CacheTruth(hits=tally["hit"], misses=tally["miss"],
                           saved={k: v for k, v in saved.items() if v},
                           model=Settings.from_env({}).gemini_model,
                           errors={"get": len(outage), "set": len(outage)},
                           window_s=window_s)
        # rate() stretches each replica's sampled span (the window less up to a scrape at
        # either end) to the window; the replicas are scraped at different offsets
        rel = {"ratio": 1.2 * scrape / interval_s, "rate": 2.5 * scrape / interval_s}
        # The tokens the hits saved, and their price, from Prometheus's own timestamps:
        # every increase lies inside each series' sampled span, which rate() stretches
        # by at most the gaps to the window's edges, so a rate lies between the truth and
        # the truth x window / the shortest span, never outside.
        stretch = window_s / min(sampled_spans(prom, M_SAVED, window_s, at).values())
        priced = {kind: prices.USD_PER_MILLION[truth.model][kind] for kind in truth.saved}
        assert all(stretch < max(p, other) / min(p, other) for p in priced.values()
                   for other in prices.USD_PER_MILLION[truth.model].values() if other != p), \
            f"a window stretched by {stretch:.3f} could hide a token type priced at " \
            f"another's price"
        queries = [q for q in all_queries(load_dashboards())
                   if (q.dashboard.removeprefix("ai-assist-"), q.panel, q.ref) in CACHE_TRUTH]
        assert len(queries) == len(CACHE_TRUTH), "a cache panel is missing or renamed"
        problems = []
        for q in queries:
            expected = CACHE_TRUTH[(q.dashboard.removeprefix("ai-assist-"), q.panel, q.ref)](
                truth)
            bounded = q.panel in ("Tokens saved by the cache",
                                  "Cost saved by the cache per hour")
            for expr in (q.expr, strip_guards(q.expr)):
                filled = fill_variables(expr, 3600, interval_s, scrape)
                checks = [(filled, expected)]
                if q.panel == "Cost saved by the cache per hour":
                    # the panel's own pricing, one token type at a time
                    assert filled.count(f"{M_SAVED}{{") > 0
                    checks += [(filled.replace(f"{M_SAVED}{{", f'{M_SAVED}{{type="{kind}", '),
                                Expected({(truth.model,): want}, "rate", ("model",)))
                               for (kind,), want in truth.usd_saved_by_type().values.items()]
                for query, want_all in checks:
                    got = {tuple(labels.get(b, "") for b in want_all.by): value
                           for labels, value in prom.query(query, at=at)}
                    what = q.panel if query == filled else f"{q.panel} [{query[-60:]}]"
                    if set(got) != set(want_all.values):
                        problems.append(f"{what}: series {sorted(got)}, the truth "
                                        f"{sorted(want_all.values)}")
                        continue
                    for key, want in want_all.values.items():
                        if bounded:
                            fits = want * (1 - 1e-9) <= got[key] <= want * stretch * (1 + 1e-9)
                        else:
                            fits = got[key] == pytest.approx(want, rel=rel[want_all.kind],
                                                             abs=1e-9)
                        if not fits:
                            problems.append(f"{what} {key}: {got[key]:g}, the truth {want:g}"
                                            + (f" .. {want * stretch:g}" if bounded else ""))
        assert not problems, "\n".join(problems)
    finally:
        emulator.configure(cached_tokens=config["cached_tokens"])
        prom.stop()
        revived.stop()
