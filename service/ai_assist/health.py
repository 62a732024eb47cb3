"""Health checks (the plan's 1.4): embedding model, ChromaDB, Gemini API, GPU.

healthy: every check passes. degraded: still serving, but Gemini is failing or off, so
answers come from the fallback (HTTP 200). unhealthy: the embedding model or the index
is broken and no answer can be given (HTTP 503).
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timezone

from ai_assist.mapping.breaker import CLOSED, OPEN
from ai_assist.schemas import ComponentHealth, HealthResponse

CRITICAL_COMPONENTS = ("embedding_model", "chroma_db")
GEMINI_FAILURE_STREAK = 5
RECENT_BATCH_S = 10.0  # an embedding batch this recent proves the model works
EMBEDDING_PROBE_TIMEOUT_S = 10.0


class GeminiOutcomes:
    """Recent Gemini call outcomes: a passive health signal that costs no API calls."""

    def __init__(self) -> None:
        self._recent: deque[bool] = deque(maxlen=GEMINI_FAILURE_STREAK)

    def record(self, ok: bool) -> None:
        self._recent.append(ok)

    def failing(self) -> bool:
        return len(self._recent) == GEMINI_FAILURE_STREAK and not any(self._recent)


class HealthChecker:
    def __init__(self, state) -> None:
        self.state = state  # the app's ServiceState

    async def _embedding(self) -> ComponentHealth:
        """Never waits in the request queue: a busy model is not a broken one. A batch
        that succeeded in the last RECENT_BATCH_S seconds is proof enough; otherwise one
        text is embedded on the model's own thread (behind at most the batch it is
        running), with its own timeout."""
        model, batcher = self.state.model, self.state.batcher
        if model is None or batcher is None:
            return ComponentHealth(ok=False, detail="model not loaded")
        about = f"{model.name} on {model.device}, {model.dimension} dims"
        since = batcher.seconds_since_success()
        if since is not None and since < RECENT_BATCH_S and batcher.last_error is None:
            return ComponentHealth(ok=True, detail=f"{about}; last batch {since:.1f} s ago, "
                                                   f"{batcher.queued} texts queued")
        try:
            await asyncio.wait_for(batcher.probe(), EMBEDDING_PROBE_TIMEOUT_S)
        except asyncio.TimeoutError:
            return ComponentHealth(ok=False, detail=f"embedding one text took over "
                                                    f"{EMBEDDING_PROBE_TIMEOUT_S:g} s: the "
                                                    f"model is stuck")
        except Exception as exc:
            return ComponentHealth(ok=False, detail=f"embedding failed: {exc}")
        return ComponentHealth(ok=True, detail=f"{about}; probe embedded, "
                                               f"{batcher.queued} texts queued")

    async def _chroma(self) -> ComponentHealth:
        store = self.state.store
        if store is None:
            return ComponentHealth(ok=False, detail="index not built")
        try:
            count = await asyncio.to_thread(store.count)
        except Exception as exc:
            return ComponentHealth(ok=False, detail=f"index unreadable: {exc}")
        expected = len(self.state.catalogue)
        if count != expected:
            return ComponentHealth(ok=False, detail=f"{count} of {expected} disclosures indexed")
        return ComponentHealth(ok=True, detail=f"{count} disclosures indexed")

    def _gemini(self) -> ComponentHealth:
        settings = self.state.settings
        if not settings.llm_configured:
            return ComponentHealth(ok=False, detail="LLM off (no API key or base URL, or "
                                                    "AI_ASSIST_LLM_ENABLED=false): fallback only")
        mapper = self.state.pipeline.mapper if self.state.pipeline else None
        circuit = mapper.breaker.state if mapper is not None else CLOSED
        if circuit != CLOSED:  # mapping/breaker.py
            what = ("open: Gemini is not called" if circuit == OPEN
                    else "half-open: one probe call is let through")
            return ComponentHealth(ok=False, detail=(
                f"circuit breaker {what}, the fallback answers (opened after "
                f"{mapper.breaker.threshold} consecutive failed calls)"))
        if self.state.gemini_outcomes.failing():
            return ComponentHealth(ok=False, detail=f"last {GEMINI_FAILURE_STREAK} calls failed")
        return ComponentHealth(ok=True, detail=f"{settings.gemini_model}, recent calls succeed")

    def _gpu(self) -> ComponentHealth:
        model = self.state.model
        count = self.state.gpu.device_count if self.state.gpu else 0
        problem = self.state.gpu.problem if self.state.gpu else None
        nvml = f"; NVML sampling: {problem}" if problem else ""
        if model is not None and model.device == "cuda":
            import torch

            ok = torch.cuda.is_available()
            return ComponentHealth(ok=ok, detail=f"{count} GPU(s), model on CUDA{nvml}" if ok
                                   else "model on CUDA but CUDA is unavailable")
        return ComponentHealth(ok=True, detail=f"not used: model on CPU ({count} GPU(s) "
                                               f"seen){nvml}")

    async def check(self) -> HealthResponse:
        embedding, chroma = await asyncio.gather(self._embedding(), self._chroma())
        checks = {"embedding_model": embedding, "chroma_db": chroma,
                  "gemini_api": self._gemini(), "gpu": self._gpu()}
        for name, result in checks.items():
            self.state.metrics.health.labels(name).set(1 if result.ok else 0)
        if not all(checks[c].ok for c in CRITICAL_COMPONENTS) or not checks["gpu"].ok:
            status = "unhealthy"
        elif not all(c.ok for c in checks.values()):
            status = "degraded"
        else:
            status = "healthy"
        return HealthResponse(status=status, checks=checks, version=self.state.settings.version,
                              timestamp=datetime.now(timezone.utc).isoformat())
