"""Continuous CPU profiling: Grafana Pyroscope's Python SDK (pyroscope-io) samples every
thread of the process and pushes a profile to AI_ASSIST_PYROSCOPE_URL every 10 s, tagged
with service_name, environment, version and replica. Off by default
(AI_ASSIST_PROFILING_ENABLED).

Traces to profiles: with tracing on as well, pyroscope-otel's span processor gives each
request's root span the attribute `pyroscope.profile.id` (its span id) and tags the
samples of the thread that runs it with span_id / span_name / trace_id, which is what
Grafana's Tempo "Profiles for this span" link queries. With tracing off no span is
exported, so there is nothing to link from and the processor is not installed; the
profiles are sent all the same.

Stage tags: the SDK's tags belong to a thread (pyroscope.add_thread_tag). The embedding
and vector-search stages run on worker threads of their own, so those threads carry
`stage` for their whole life (`tag_worker_thread`, an executor initializer): exact, and
free per request. The llm and json_parsing stages run on the event loop thread among
other requests' work, so a thread tag there would label their CPU with the wrong stage
(and json_parsing's sub-millisecond block is shorter than the skew between the SDK's
reading of a thread's tags and of its stack): their samples carry no stage and are
found by their functions (GeminiMapper, parse_llm_json). The root span's labels share
the limit: on the event loop a sample carries the span ids of every request in flight
at that moment, exact when requests do not overlap, an over-attribution when they do.

The agent's sampler and uploader are threads: they do not survive a fork, so the agent
starts in the app's lifespan, in the process that serves, and stops with it. It is one
per process: a second app in the same process (tests) replaces the first's.

A Pyroscope that is down costs nothing but the dropped profiles: the SDK's uploads fail
quietly (its own logging would write Rust-formatted lines to stderr, so it stays off), and
a probe of the server's /ready every PROBE_INTERVAL_S logs each outage once and counts
it in ai_assist_profiling_server_outages_total.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

from ai_assist.config import Settings
from ai_assist.telemetry.logging import SERVICE_NAME, get_logger
from ai_assist.telemetry.metrics import PROFILING_OUTAGES_TOTAL, Metrics

PROBE_INTERVAL_S = 30.0
PROBE_TIMEOUT_S = 2.0
UPLOAD_INTERVAL_S = 10
SHUTDOWN_TIMEOUT_S = 3.0
STAGE_TAG = "stage"
# The SDK's threads are unnamed ("python"): named, `top -H` and the benchmark can tell
# the sampler's own CPU time from the service's.
AGENT_THREAD_NAME = "pyroscope"

log = get_logger("ai_assist.profiling")
_lock = threading.Lock()
_running: ContinuousProfiler | None = None  # the process's agent, when one runs


def replica_name(settings: Settings) -> str:
    return settings.replica or socket.gethostname()


def profile_tags(settings: Settings) -> dict[str, str]:
    """The tags on every profile (service_name is the SDK's application name)."""
    return {"environment": settings.environment, "version": settings.version,
            "replica": replica_name(settings)}


def span_processors(settings: Settings) -> tuple:
    """The span processor that links root spans to profiles, when both are on."""
    if not (settings.profiling_enabled and settings.tracing_enabled):
        return ()
    from pyroscope.otel import PyroscopeSpanProcessor

    return (PyroscopeSpanProcessor(),)


def tag_worker_thread(name: str) -> None:
    """ThreadPoolExecutor initializer: every sample of this worker thread carries the
    stage. Worker threads start on the first submit, after the agent started."""
    if _running is not None:
        import pyroscope

        pyroscope.add_thread_tag(STAGE_TAG, name)


def _thread_ids() -> set[str]:
    try:
        return set(os.listdir("/proc/self/task"))
    except OSError:  # not Linux
        return set()


def _name_threads(ids: set[str], name: str) -> None:
    for tid in ids:
        try:
            Path(f"/proc/self/task/{tid}/comm").write_text(name)
        except OSError:
            pass  # gone already, or not allowed: a name is only a convenience


class ContinuousProfiler:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._stop = threading.Event()
        self._probe: threading.Thread | None = None
        self.reachable: bool | None = None  # None until the first probe

    @property
    def enabled(self) -> bool:
        return self.settings.profiling_enabled

    def start(self) -> None:
        global _running
        if not self.enabled:
            return
        import pyroscope

        with _lock:
            if _running is not None:
                _running._shutdown_agent()
            before = _thread_ids()
            try:
                started = pyroscope.configure(
                    application_name=SERVICE_NAME, server_address=self.settings.pyroscope_url,
                    sample_rate=self.settings.profiling_sample_rate,
                    upload_interval=UPLOAD_INTERVAL_S, tags=profile_tags(self.settings),
                    # on a CPU only; the GIL holder alone unless native threads are asked for
                    oncpu=True, gil_only=not self.settings.profiling_native_threads,
                    enable_logging=False)
            except Exception as exc:  # the service runs on without profiles
                started, error = False, f"{type(exc).__name__}: {exc}"
            else:
                error = None if started else "the SDK refused the configuration"
            if not started:
                log.error("profiling_start_failed", pyroscope_url=self.settings.pyroscope_url,
                          error=error)
                return
            _name_threads(_thread_ids() - before, AGENT_THREAD_NAME)
            _running = self
        self._probe = threading.Thread(target=self._watch, name="pyroscope-probe",
                                       daemon=True)
        self._probe.start()
        log.info("profiling_started", pyroscope_url=self.settings.pyroscope_url,
                 sample_rate=self.settings.profiling_sample_rate,
                 native_threads=self.settings.profiling_native_threads,
                 replica=replica_name(self.settings))

    def stop(self) -> None:
        """Flush the last profile and stop the agent, waiting at most SHUTDOWN_TIMEOUT_S
        (a Pyroscope that accepts and never answers must not hold the process's exit)."""
        self._stop.set()
        if _running is not self:
            return
        stopper = threading.Thread(target=self._stop_if_running, name="pyroscope-shutdown",
                                   daemon=True)
        stopper.start()
        stopper.join(SHUTDOWN_TIMEOUT_S)
        if stopper.is_alive():
            log.warning("profiling_flush_timeout", timeout_s=SHUTDOWN_TIMEOUT_S)

    def _stop_if_running(self) -> None:
        with _lock:
            if _running is self:
                self._shutdown_agent()

    def _shutdown_agent(self) -> None:
        """Flush the last profile and stop the agent (under _lock)."""
        global _running
        import pyroscope

        pyroscope.shutdown()
        self._stop.set()
        _running = None

    def probe(self) -> None:
        """One look at the server: any HTTP answer means it is there."""
        url = self.settings.pyroscope_url.rstrip("/") + "/ready"
        try:
            urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S).close()
            error = None
        except urllib.error.HTTPError:
            error = None  # it answered
        except (OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            if self.reachable is False:
                log.info("profiling_server_reachable", pyroscope_url=self.settings.pyroscope_url)
            self.reachable = True
            return
        if self.reachable is not False:
            self.metrics[PROFILING_OUTAGES_TOTAL].inc()
            log.warning("profiling_server_unreachable", pyroscope_url=self.settings.pyroscope_url,
                        error=error[:300], note="profiles are dropped until it answers")
        self.reachable = False

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.probe()
            self._stop.wait(PROBE_INTERVAL_S)
