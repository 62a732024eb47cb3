"""Alerts on the service's state rather than on the plan's tables: a replica or the whole
service down, a failing component, a full embedding queue, errors of critical classes,
Gemini's circuit breaker open, a scale-out due."""

from __future__ import annotations

from ai_assist import errors as E
from ai_assist import ports
from ai_assist.health import CRITICAL_COMPONENTS
from ai_assist.telemetry import metrics as M
from alerting.model import Alert, Guidance
from observability import autoscaling as A
from observability import uids as links
from observability.durations import COMMITTED, Scale
from observability.promql import aggregate, sel, sum_increase, sum_rate
from observability.selectors import RULES, SCRAPE_JOB

QUEUE_SCALE_OUT = A.QUEUE.target  # the plan's scale-out trigger (3.2): 100 texts queued
QUEUE_REFUSALS_PER_MIN = 1
CRITICAL_ERRORS_MIN = 3  # errors of one class within CRITICAL_ERRORS_WINDOW
CRITICAL_ERRORS_WINDOW = "10m"

UP = sel("up", m=RULES)


def _critical_error_classes() -> tuple[list[str], list[str]]:
    """(service's own, Gemini's) error classes whose severity is CRITICAL.

    A Gemini failure is answered by the fallback when it is on: a warning. The service's
    own components failing (embedding, index, bugs) fail requests: critical."""
    found, stack = [], [E.AIAssistError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.severity == "CRITICAL":
            found.append(cls)
    own = sorted(c.__name__ for c in found if not issubclass(c, E.GeminiAPIError))
    gemini = sorted(c.__name__ for c in found if issubclass(c, E.GeminiAPIError))
    assert set(own + gemini) <= set(M.ERROR_TYPES), "metrics.ERROR_TYPES is behind errors.py"
    return own, gemini


def service_down(scale: Scale) -> list[Alert]:
    for_ = scale("2m")
    return [
        Alert("AIAssistServiceDown", "warning", f"{UP} == 0", for_,
              "A replica of the service does not answer Prometheus (warning)",
              f"{{{{ $labels.instance }}}} has failed its scrapes for {for_} "
              f"(up = {{{{ $value | humanize }}}}); the other replicas serve.",
              links.HEALTH, f"A replica's scrape fails (up == 0) for {for_}"),
        Alert("AIAssistServiceDown", "critical", f"{aggregate('sum', UP, RULES)} == 0\nor on() (vector(0) unless on() {UP})", for_,
              "No replica of the service answers (critical)",
              f"{{{{ $value | humanize }}}} replicas of job {SCRAPE_JOB} are up, for "
              f"{for_}: no mapping request can be answered.",
              links.HEALTH, f"No replica is up, or none is found, for {for_}"),
    ]


def component_unhealthy(scale: Scale) -> list[Alert]:
    for_ = scale("5m")
    vital = tuple(c for c in M.HEALTH_COMPONENTS if c in CRITICAL_COMPONENTS)
    other = tuple(c for c in M.HEALTH_COMPONENTS if c not in CRITICAL_COMPONENTS)
    out = []
    for severity, components, words in (
            ("critical", vital, "the service cannot answer without it"),
            ("warning", other, "answers go on (Gemini: from the fallback)")):
        matcher = f'component=~"{"|".join(components)}"'
        out.append(Alert(
            "AIAssistHealthComponentUnhealthy", severity,
            f"{sel(M.HEALTH_STATUS, matcher, RULES)} == 0", for_,
            f"A component of the service fails its health check ({severity})",
            f"{{{{ $labels.component }}}} on {{{{ $labels.instance }}}} has failed its "
            f"health check for {for_} (status {{{{ $value | humanize }}}}): {words}.",
            links.HEALTH,
            f"{M.HEALTH_STATUS} == 0 for {for_}, for {' or '.join(components)}"))
    return out


def queue_saturated(scale: Scale) -> list[Alert]:
    warn_for, crit_for, window = scale("5m"), scale("2m"), scale("5m")
    refusals = sum_rate(M.ERRORS_TOTAL, window, 'error_type="QueueFullError"', RULES,
                        by="instance")
    return [
        Alert("AIAssistEmbeddingQueueSaturated", "warning",
              f"{aggregate('max', sel(M.EMBEDDING_QUEUE_DEPTH, m=RULES), RULES, 'instance')}"
              f" > {QUEUE_SCALE_OUT}",
              warn_for, "Texts pile up before the embedding model (warning)",
              f"{{{{ $value | humanize }}}} texts wait for the embedding model on "
              f"{{{{ $labels.instance }}}} (for {warn_for}): time to add replicas.",
              links.REALTIME,
              f"More than {QUEUE_SCALE_OUT} texts queued on a replica for {warn_for}"),
        Alert("AIAssistEmbeddingQueueSaturated", "critical",
              f"{refusals} * 60 >= {QUEUE_REFUSALS_PER_MIN}", crit_for,
              "The embedding queue is full: requests are refused (critical)",
              "{{ $labels.instance }} refuses {{ $value | humanize }} requests/min "
              "with 503 because its embedding queue is full.",
              links.REALTIME,
              f"{QUEUE_REFUSALS_PER_MIN}+ requests/min refused with QueueFullError over "
              f"{window}, for {crit_for}"),
    ]


def critical_errors(scale: Scale) -> list[Alert]:
    window = scale(CRITICAL_ERRORS_WINDOW)
    own, gemini = _critical_error_classes()
    out = []
    for severity, classes, words in (("critical", own, "requests fail"),
                                     ("warning", gemini, "the fallback answers if it is on")):
        matchers = 'severity="CRITICAL", error_type=~"%s"' % "|".join(classes)
        count = sum_increase(M.ERRORS_TOTAL, window, matchers, RULES, by="error_type")
        out.append(Alert(
            "AIAssistCriticalErrors", severity, f"{count} >= {CRITICAL_ERRORS_MIN}", "0m",
            f"Errors of severity CRITICAL: {{{{ $labels.error_type }}}} ({severity})",
            f"{{{{ $value | humanize }}}} {{{{ $labels.error_type }}}} errors (severity "
            f"CRITICAL) in the last {window}: {words}.",
            links.HEALTH,
            f"{CRITICAL_ERRORS_MIN}+ errors of one class in {window}, for "
            f"{' or '.join(classes)}"))
    return out


def circuit_open(scale: Scale) -> list[Alert]:
    for_ = scale("1m")
    state = aggregate("max", sel(M.CIRCUIT_STATE, m=RULES), RULES, "instance")
    return [Alert(
        "AIAssistGeminiCircuitOpen", "warning", f"{state} >= 1", for_,
        "Gemini's circuit breaker is open: answers come from the fallback",
        f"The circuit breaker on {{{{ $labels.instance }}}} has not been closed for {for_} "
        "(state {{ $value | humanize }}: 1 half-open, 2 open): Gemini kept failing, so requests get the embedding-only "
        "fallback without a Gemini call.",
        links.HEALTH,
        f"{M.CIRCUIT_STATE} open or half-open (>= 1) on a replica for {for_}")]


def scale_out_due(scale: Scale) -> list[Alert]:
    """The plan's scale_up (3.2) as a notification, for where no orchestrator acts."""
    for_ = scale(A.SCALE_OUT_DUE_FOR)
    return [Alert(
        "AIAssistScaleOutDue", "warning", f"{A.DESIRED} > {RULES.on} {A.REPLICAS}", for_,
        "More replicas are needed than are running (warning)",
        f"The autoscaling signals ask for {{{{ $value | humanize }}}} replicas, more than "
        f"are up, for {for_}: add replicas, or check why the autoscaler has not.",
        links.REALTIME,
        f"The desired replica count ({A.DESIRED}) exceeds the replicas up for {for_}")]


def unenforced_or_blind(scale: Scale) -> list[Alert]:
    """Failures that do not stop answers but take a safeguard away: rate limits that are
    not enforced (the shared store is down) and GPU figures that stopped coming."""
    window, for_ = scale("5m"), scale("5m")
    store = sum_rate(M.RATE_LIMIT_STORAGE_ERRORS_TOTAL, window, "", RULES, by="instance")
    gpu = sum_increase(M.GPU_SAMPLE_ERRORS_TOTAL, window, "", RULES, by="instance")
    return [
        Alert("AIAssistRateLimitStoreDown", "warning", f"{store} > 0", for_,
              "Rate limits are not enforced: the shared store (Redis) fails",
              "{{ $labels.instance }} let {{ $value | humanize }} requests/s "
              "through without a rate-limit check because the shared store failed.",
              links.HEALTH,
              f"{M.RATE_LIMIT_STORAGE_ERRORS_TOTAL} rising over {window}, for {for_}"),
        Alert("AIAssistGPUSamplingFails", "warning", f"{gpu} > 0", for_,
              "GPU utilisation and memory are not being read (NVML errors)",
              f"{{{{ $value | humanize }}}} NVML errors on {{{{ $labels.instance }}}} in the "
              f"last {window}: the GPU panels and the gpu autoscaling signal are stale.",
              links.HEALTH,
              f"{M.GPU_SAMPLE_ERRORS_TOTAL} rising over {window}, for {for_}"),
    ]


def alerts(scale: Scale = COMMITTED) -> list[Alert]:
    return [*service_down(scale), *component_unhealthy(scale), *queue_saturated(scale),
            *critical_errors(scale), *circuit_open(scale), *unenforced_or_blind(scale),
            *scale_out_due(scale)]


GUIDANCE = {
    "AIAssistServiceDown": Guidance(
        meaning="Prometheus cannot scrape the service: warning for one replica, critical "
                "when none answers (or none is found by DNS).",
        causes=("The process crashed or failed at start (model load, index build): the "
                "log line `service_start_failed` says why.",
                "The container restarts in a loop: its health check (`/readyz`) fails.",
                "Out of memory while loading the embedding model.",
                "Network or DNS trouble between Prometheus and the service."),
        actions=("`docker compose ps ai-assist` and `docker compose logs --tail=200 "
                 "ai-assist`.",
                 "Open the Health dashboard: *Replicas up* and *Uptime (scrapes)*.",
                 "Restart the replica; if it fails again, roll back the last change.")),
    "AIAssistHealthComponentUnhealthy": Guidance(
        meaning="A component fails the health check the service runs in the background "
                "(`ai_assist_health_status{component}`). Critical for the embedding model "
                "and ChromaDB, without which no request is answered; warning for Gemini "
                "(the fallback answers) and the GPU.",
        causes=("embedding_model: the model failed to load or to embed (memory, CUDA).",
                "chroma_db: the index directory is unreadable or incomplete.",
                "gemini_api: the last 5 Gemini calls failed, or the LLM is off (no key).",
                "gpu: the model was put on CUDA but CUDA is not available."),
        actions=(f"`GET http://<replica>:{ports.SERVICE}/health` names the failing check "
                 "and why (it answers 503 while unhealthy).",
                 "Open the Health dashboard's *Health per component*.",
                 "chroma_db: restart the replica; the index is rebuilt at start.",
                 "gemini_api: see the Fallback ratio alert; check the key and the quota.")),
    "AIAssistEmbeddingQueueSaturated": Guidance(
        meaning="Texts wait for the embedding model: warning past the plan's autoscaling "
                f"trigger ({QUEUE_SCALE_OUT} queued texts), critical when the queue is full "
                "and requests are refused with 503 (QueueFullError).",
        causes=("More requests than one replica embeds: a traffic spike or too few "
                "replicas.",
                "The model runs on CPU where a GPU was expected, or a larger model.",
                "AI_ASSIST_EMBEDDING_QUEUE_SIZE set too small for the bursts."),
        actions=("Add replicas: `docker compose up -d --scale ai-assist=N`.",
                 "Open the Real-time dashboard: *Embedding queue depth*, *Embedding batch "
                 "size*, *Requests in progress*.",
                 "Check the `device` in the Health dashboard's *Build info*.")),
    "AIAssistCriticalErrors": Guidance(
        meaning="Errors of the classes the plan rates CRITICAL keep occurring "
                f"({CRITICAL_ERRORS_MIN} or more of one class in {CRITICAL_ERRORS_WINDOW}). "
                "Critical for the service's own components (embedding, vector store, "
                "internal errors): those requests fail. Warning for Gemini API errors: "
                "the fallback answers while it is on.",
        causes=("EmbeddingError: the model fails (memory, CUDA).",
                "VectorStoreError: ChromaDB fails (disk, a corrupt index).",
                "InternalError: a bug; the stack trace is in the log line.",
                "GeminiAPIError: Gemini fails after every retry (5xx, connection errors)."),
        actions=("Open the Health dashboard's *Errors by type and severity*.",
                 "Read the log lines in Loki: `ai_error_occurred` or `unhandled_exception` "
                 "with this error_type carry the stack trace and a trace id.",
                 "For GeminiAPIError, see the Fallback ratio and Error rate alerts.")),
    "AIAssistGeminiCircuitOpen": Guidance(
        meaning="A replica stopped calling Gemini: its circuit breaker opened after "
                "consecutive failed calls (AI_ASSIST_CIRCUIT_FAILURE_THRESHOLD) and every "
                "request is answered by the embedding-only fallback (reason "
                "`circuit_open`). After AI_ASSIST_CIRCUIT_COOLDOWN_S it lets one probe "
                "call through (half-open); a success closes it. Quality drops, the "
                "service stays up, Gemini costs stop.",
        causes=("Gemini is down or overloaded (5xx, timeouts), or the quota is spent "
                "(429).",
                "The network path to Gemini is broken (connection errors).",
                "A wrong or revoked API key makes every call fail."),
        actions=("Open the Health dashboard: *Gemini circuit breaker* per replica, and "
                 "*Errors by type and severity* for the failures that opened it.",
                 "Read the `circuit_breaker_opened` log line and the `gemini_attempt_failed`"
                 " lines before it (status code, error message).",
                 "Check Gemini's status page and the project's quota; the breaker closes "
                 "by itself on the first successful probe.")),
    "AIAssistScaleOutDue": Guidance(
        meaning="The desired replica count, by the HPA's formula over the plan's "
                "autoscaling signals (texts queued per replica, GPU utilisation per "
                "replica, p95 response time as a guardrail; "
                "`observability/autoscaling.py`), has exceeded the replicas up for "
                f"{A.SCALE_OUT_DUE_FOR}. On Kubernetes with KEDA or the HPA this means the "
                "autoscaler could not add them (at its maximum, pods pending, the trigger "
                "failing); in compose, where nothing acts, it is the signal to scale by "
                "hand.",
        causes=("More traffic than the running replicas embed and answer: a peak or a "
                "burst.",
                "The model runs on CPU where a GPU was planned, or a larger model.",
                "Kubernetes: the ScaledObject is at maxReplicaCount, new pods stay Pending "
                "(no GPU node, quota), or KEDA cannot query Prometheus."),
        actions=("Open the Real-time dashboard: *Replicas: desired and up* and "
                 "*Embedding queue depth* show which signal asks and how far.",
                 "Compose: `docker compose up -d --scale ai-assist=N` with N the desired "
                 "count.",
                 "Kubernetes: `kubectl describe scaledobject ai-assist` (or `hpa`) and "
                 "`kubectl get pods -l app.kubernetes.io/name=ai-assist`: Pending pods, "
                 "trigger errors, or the maximum reached (raise maxReplicaCount).")),
    "AIAssistRateLimitStoreDown": Guidance(
        meaning="The replicas share their rate limits through Redis (AI_ASSIST_REDIS_URL). "
                "The store fails, and the limiter fails open: requests are answered "
                "without a limit, so one client can take every replica's capacity.",
        causes=("Redis is down, restarting or out of memory.",
                "The network between the replicas and Redis, or a wrong URL / password.",
                "Redis answers slower than the limiter's 1 s timeout."),
        actions=("Read the `rate_limit_storage_unavailable` log line: it names the error.",
                 "`redis-cli -u $AI_ASSIST_REDIS_URL ping` from a replica's network.",
                 "Watch *Throughput by status* for a client taking more than its share.")),
    "AIAssistGPUSamplingFails": Guidance(
        meaning="The service cannot read its GPUs through NVML. Answers go on, but the GPU "
                "utilisation and memory panels and the gpu autoscaling signal go stale.",
        causes=("The driver was reloaded or the GPU fell off the bus (Xid errors).",
                "The container lost access to /dev/nvidia* or the NVML library."),
        actions=("Read the `gpu_sample_failed` log lines and the `/health` gpu detail.",
                 "`nvidia-smi` on the host; restart the replica if the GPU is back.")),
}


def guidance() -> dict[str, Guidance]:
    return dict(GUIDANCE)
