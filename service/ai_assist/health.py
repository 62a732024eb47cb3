"""Health checks (the plan's 1.4): embedding model, ChromaDB, Gemini API, GPU.

healthy: every check passes. degraded: still serving, but Gemini is failing or off, so
answers come from the fallback (HTTP 200). unhealthy: the embedding model or the index
is broken and no answer can be given (HTTP 503).
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timezone

from ai_assist.schemas import ComponentHealth, HealthResponse

CRITICAL_COMPONENTS = ("embedding_model", "chroma_db")
GEMINI_FAILURE_STREAK = 5


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
        model = self.state.model
        if model is None:
            return ComponentHealth(ok=False, detail="model not loaded")
        try:
            vector = await asyncio.wait_for(self.state.batcher.embed("health check"), 10)
        except Exception as exc:
            return ComponentHealth(ok=False, detail=f"embedding failed: {exc}")
        return ComponentHealth(ok=True, detail=f"{model.name} on {model.device}, "
                                               f"{len(vector)} dims")

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
        if self.state.gemini_outcomes.failing():
            return ComponentHealth(ok=False, detail=f"last {GEMINI_FAILURE_STREAK} calls failed")
        return ComponentHealth(ok=True, detail=f"{settings.gemini_model}, recent calls succeed")

    def _gpu(self) -> ComponentHealth:
        model = self.state.model
        count = self.state.gpu.device_count if self.state.gpu else 0
        if model is not None and model.device == "cuda":
            import torch

            ok = torch.cuda.is_available()
            return ComponentHealth(ok=ok, detail=f"{count} GPU(s), model on CUDA" if ok
                                   else "model on CUDA but CUDA is unavailable")
        return ComponentHealth(ok=True, detail=f"not used: model on CPU ({count} GPU(s) seen)")

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
