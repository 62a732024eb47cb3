"""GPU utilization and memory through NVML (nvidia-ml-py), when a GPU is present.

An NVML call that fails (a lost GPU, a driver reload, an unsupported query) never stops
the sampling: the device's series are dropped until it answers again (no stale value),
the failure is counted in ai_assist_gpu_sample_errors_total, the first failure of each
kind is logged as one warning, and /health's gpu detail names the latest one.
"""

from __future__ import annotations

from ai_assist.telemetry.logging import get_logger
from ai_assist.telemetry.metrics import Metrics

log = get_logger("ai_assist.gpu")


class GPUSampler:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._handles: list = []
        self._warned: set[str] = set()
        self.errors = 0
        self.last_error: str | None = None  # the latest failed sample's error, until one works
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i)
                             for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception:  # no driver, no GPU: nothing to sample
            self._nvml = None
        metrics.gpu_devices.set(len(self._handles))

    @property
    def device_count(self) -> int:
        return len(self._handles)

    @property
    def problem(self) -> str | None:
        """For /health: the failing sample's error and the running count, if failing."""
        if self.last_error is None:
            return None
        return f"{self.last_error} ({self.errors} failed sample(s) so far)"

    def sample(self) -> None:
        failed = False
        for index, handle in enumerate(self._handles):
            gpu = str(index)
            try:
                util = self._nvml.nvmlDeviceGetUtilizationRates(handle)
                mem = self._nvml.nvmlDeviceGetMemoryInfo(handle)
            except Exception as exc:
                failed = True
                self._failed(gpu, exc)
                continue
            self.metrics.gpu_utilization.labels(gpu).set(util.gpu / 100)
            self.metrics.gpu_memory_used.labels(gpu).set(mem.used)
            self.metrics.gpu_memory_total.labels(gpu).set(mem.total)
        if not failed:
            self.last_error = None

    def _failed(self, gpu: str, exc: Exception) -> None:
        self.errors += 1
        self.metrics.gpu_sample_errors.inc()
        kind = type(exc).__name__
        self.last_error = f"GPU {gpu}: {kind}: {exc}"[:300]
        for gauge in (self.metrics.gpu_utilization, self.metrics.gpu_memory_used,
                      self.metrics.gpu_memory_total):
            try:
                gauge.remove(gpu)
            except KeyError:  # never sampled
                pass
        if kind not in self._warned:  # once per kind of error, not once per sample
            self._warned.add(kind)
            log.warning("gpu_sample_failed", gpu=gpu, nvml_error=kind,
                        error=str(exc)[:300], action="sampling goes on; repeats of this "
                        "error are counted in ai_assist_gpu_sample_errors_total")
