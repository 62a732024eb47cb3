"""Three replicas for real: three service processes found by a real Prometheus through
file-based discovery (file_sd, as a cluster's discovery would list pods), the generated
rules loaded with every window and `for:` scaled by 1/30 (observability.durations.Scale,
as in the end-to-end alert test), and a load that fills one replica's embedding queue.

What fills `esg_embedding_queue_depth`: texts waiting for the embedding model, which
drains one micro-batch at a time. Gemini comes after the embedding, so a slow Gemini
holds requests elsewhere and never fills it; many concurrent clients against a replica
that embeds one text per batch (AI_ASSIST_EMBEDDING_MAX_BATCH=1) do. The LLM is off, so
every request is embedding, vector search and the fallback's answer.

The desired-replica rule must rise past the three replicas up, AIAssistScaleOutDue must
fire, and both must recover once the load stops (its requests are abandoned, and the
queue drains as the service drops their texts).
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from alerting import rules as alert_rules
from observability import autoscaling as A
from observability.durations import Scale
from tests.harness.processes import copy_index, start_service, wait_until
from tests.harness.prom import start_prometheus

SCALE = Scale(1 / 30)
REPLICAS = 3
CLIENTS = 3 * A.QUEUE.target + 60  # texts queued on one replica: past 3 replicas' worth
ALERT = "AIAssistScaleOutDue"
DEADLINE_S = 60
TEXT = "Our gross direct Scope 1 GHG emissions were 48,200 tonnes of CO2 equivalent."
SETTINGS = {"AI_ASSIST_LLM_ENABLED": "false", "AI_ASSIST_EMBEDDING_MAX_BATCH": "1",
            "AI_ASSIST_RATE_LIMIT_PER_MINUTE": "0", "AI_ASSIST_LOG_LEVEL": "WARNING"}


class Load:
    """CLIENTS clients posting back to back to one replica, in a thread, until stopped;
    stopping abandons the requests in flight, as clients that give up would."""

    def __init__(self, url: str) -> None:
        self.url, self.answered = url, 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._task = None

    async def _client(self, client: httpx.AsyncClient) -> None:
        while True:
            response = await client.post(f"{self.url}/v1/esg/map", json={"text": TEXT})
            self.answered += response.status_code == 200

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(timeout=httpx.Timeout(120, connect=30),
                                     limits=limits) as client:
            await asyncio.gather(*(self._client(client) for _ in range(CLIENTS)))

    def __enter__(self) -> "Load":
        self._thread.start()

        async def start() -> asyncio.Task:
            return asyncio.ensure_future(self._run())

        self._task = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        """Cancel the clients and wait until their connections are closed, so that the
        service sees them go."""
        async def cancel() -> None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

        try:
            asyncio.run_coroutine_threadsafe(cancel(), self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop.close()

    def __exit__(self, *exc) -> None:
        self.stop()


def _value(prom, expr: str) -> float | None:
    samples = prom.query(expr)
    return samples[0][1] if samples else None


def _state(prom) -> dict:
    exprs = (A.REPLICAS, A.DESIRED, A.UNSTABILISED, f"max({A.QUEUE.metric})",
             *(f'{A.SIGNAL_DESIRED}{{signal="{s.key}"}}' for s in A.SIGNALS))
    return {**{e: _value(prom, e) for e in exprs}, "firing": _firing(prom)}


def _firing(prom) -> bool:
    return any(a["labels"]["alertname"] == ALERT and a["state"] == "firing"
               for a in prom.alerts())


def test_three_replicas_a_saturated_queue_scale_out_due_and_recovery(tmp_path: Path):
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    rule_files = []
    for name, text in alert_rules.rule_files(SCALE).items():
        (rules_dir / name).write_text(text)
        rule_files.append(rules_dir / name)
    services, prom = [], None
    try:
        first = start_service(tmp_path, {**SETTINGS,
                                         "AI_ASSIST_CHROMA_PATH": str(tmp_path / "index-0")})
        services.append(first)
        # The others reuse the first one's index (the fingerprint still decides): seconds.
        with ThreadPoolExecutor(REPLICAS - 1) as pool:
            services += pool.map(lambda i: start_service(tmp_path, {
                **SETTINGS, "AI_ASSIST_CHROMA_PATH": copy_index(
                    tmp_path / "index-0", tmp_path / f"index-{i}")}), range(1, REPLICAS))
        targets = tmp_path / "targets.json"
        targets.write_text(json.dumps([{"targets": [s.target for s in services]}]))
        prom = start_prometheus(tmp_path, [], rule_files=rule_files, file_sd=targets,
                                scrape_interval="2s", evaluation_interval="1s")
        wait_until(lambda: _value(prom, A.REPLICAS) == REPLICAS, DEADLINE_S,
                   "Prometheus finding the three replicas through file_sd")
        wait_until(lambda: _value(prom, A.DESIRED) == A.MIN_REPLICAS, DEADLINE_S,
                   "the desired count at rest: the minimum")
        assert not _firing(prom)

        with Load(first.url):
            queued = wait_until(
                lambda: (_value(prom, f'{A.SIGNAL_DESIRED}{{signal="queue"}}') or 0)
                > REPLICAS and _value(prom, A.SIGNAL_DESIRED + '{signal="queue"}'),
                DEADLINE_S, "the queue signal asking for more than three replicas")
            depth = _value(prom, f"max({A.QUEUE.metric})")
            assert depth > REPLICAS * A.QUEUE.target * (1 + A.TOLERANCE), depth
            assert _value(prom, A.DESIRED) > REPLICAS
            wait_until(lambda: _firing(prom), DEADLINE_S, f"{ALERT} firing")
            assert _value(prom, A.REPLICAS) == REPLICAS  # every replica still answers
        # The abandoned texts leave the queue; after the scale-down window the count is
        # back at the minimum, and the alert has resolved.
        try:
            wait_until(lambda: _value(prom, f"max({A.QUEUE.metric})") == 0
                       and _value(prom, A.DESIRED) == A.MIN_REPLICAS and not _firing(prom),
                       DEADLINE_S, "queue drained, desired count at the minimum, alert "
                       "resolved")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; now: {_state(prom)}") from exc
        assert queued >= REPLICAS + 1
    finally:
        if prom is not None:
            prom.stop()
        for service in services:
            service.stop()
