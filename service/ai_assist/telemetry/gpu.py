"""GPU utilization and memory through NVML (nvidia-ml-py), when a GPU is present."""

from __future__ import annotations

from ai_assist.telemetry.metrics import Metrics


class GPUSampler:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._handles: list = []
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

    def sample(self) -> None:
        for index, handle in enumerate(self._handles):
            util = self._nvml.nvmlDeviceGetUtilizationRates(handle)
            mem = self._nvml.nvmlDeviceGetMemoryInfo(handle)
            gpu = str(index)
            self.metrics.gpu_utilization.labels(gpu).set(util.gpu / 100)
            self.metrics.gpu_memory_used.labels(gpu).set(mem.used)
            self.metrics.gpu_memory_total.labels(gpu).set(mem.total)
