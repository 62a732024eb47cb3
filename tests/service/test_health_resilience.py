"""Health that tells a busy service from a broken one, a GPU sampler that outlives NVML
errors, and an index rebuilt from the catalogue when its files are damaged."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import types

import pytest
import requests
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from ai_assist import health
from ai_assist.mapping import vector_store
from ai_assist.telemetry.gpu import GPUSampler
from ai_assist.telemetry.metrics import Metrics
from tests.conftest import running_service
from tests.harness.processes import copy_index, wait_until

QUEUE_SIZE = 4
TEXT = "Water withdrawal in areas of high baseline water stress fell 8%."


@pytest.fixture(scope="module")
def damaged_index(live_service, tmp_path_factory):
    """A copy of a real ChromaDB index whose SQLite file is truncated to 1 MB, beside a
    file of someone else's that must survive the repair."""
    work = tmp_path_factory.mktemp("damaged")
    path = copy_index(live_service.settings.chroma_path, work / "chroma")
    sqlite = os.path.join(path, "chroma.sqlite3")
    assert os.path.getsize(sqlite) > 1 << 20  # so truncating really cuts it
    with open(sqlite, "r+b") as f:
        f.truncate(1 << 20)
    with open(os.path.join(path, "notes.txt"), "w") as f:
        f.write("not the index's")
    return path


@pytest.fixture(scope="module")
def service(damaged_index, emulator, tmp_path_factory):
    with running_service(tmp_path_factory.mktemp("resilient"), emulator.url,
                         chroma_path=damaged_index, embedding_queue_size=QUEUE_SIZE,
                         embedding_max_batch=1, llm_enabled=False) as service:
        yield service


def events(service) -> list[dict]:
    return [json.loads(line) for line in list(service.logs.lines)]


def test_a_damaged_index_is_rebuilt_at_start_and_the_service_gets_ready(service, damaged_index):
    damaged = [e for e in events(service) if e["event"] == "vector_index_damaged"]
    assert len(damaged) == 1
    warning = damaged[0]
    assert warning["level"] == "warning"
    assert "malformed" in warning["problem"] and "chroma.sqlite3" in warning["removed"]
    assert warning["action"] == "rebuilding the index from the catalogue"
    ready = [e for e in events(service) if e["event"] == "service_ready"]
    assert ready and ready[0]["index_rebuilt"] is True
    report = requests.get(f"{service.url}/health", timeout=30).json()
    expected = len(service.state.catalogue)
    assert report["checks"]["chroma_db"] == {"ok": True,
                                             "detail": f"{expected} disclosures indexed"}
    answer = requests.post(f"{service.url}/v1/esg/map", json={"text": TEXT}, timeout=30)
    assert answer.status_code == 200 and answer.json()["matches"]
    assert open(os.path.join(damaged_index, "notes.txt")).read() == "not the index's"


def test_only_damage_is_repaired():
    damage = ["error returned from database: (code: 11) database disk image is malformed",
              "error returned from database: (code: 26) file is not a database",
              "no such table: collections"]
    other = ["database is locked", "Permission denied", "No space left on device",
             "unable to open database file"]
    assert all(vector_store._is_damage(Exception(m)) for m in damage)
    assert not any(vector_store._is_damage(Exception(m)) for m in other)


def test_a_saturated_queue_is_load_not_a_broken_model(service, monkeypatch):
    batcher = service.state.batcher
    post = lambda: requests.post(f"{service.url}/v1/esg/map", json={"text": TEXT}, timeout=60)
    assert post().status_code == 200  # the model works: a batch has just succeeded
    encode = service.state.model.encode
    busy = threading.Event()  # while clear, the batch on the model does not finish

    def slow_encode(*args, **kwargs):
        busy.wait(30)
        time.sleep(0.2)
        return encode(*args, **kwargs)

    monkeypatch.setattr(service.state.model, "encode", slow_encode)
    results: list[int] = []
    clients = [threading.Thread(target=lambda: results.append(post().status_code))
               for _ in range(3 * QUEUE_SIZE)]
    for client in clients:
        client.start()
    try:
        wait_until(lambda: batcher.queued == QUEUE_SIZE and len(results) == 2 * QUEUE_SIZE - 1,
                   30, "a full embedding queue, the requests beyond it refused")
        # Full queue, one batch on the model: the check must not queue behind it (or be
        # refused by it), first from the recent batch, then, that proof taken away, from
        # a probe on the model's own thread once the batch in hand finishes.
        for forget_recent_batches in (False, True):
            if forget_recent_batches:
                monkeypatch.setattr(health, "RECENT_BATCH_S", 0.0)
                busy.set()
            response = requests.get(f"{service.url}/health", timeout=30)
            check = response.json()["checks"]["embedding_model"]
            assert check["ok"], check
            assert response.status_code == 200 and response.json()["status"] != "unhealthy"
            assert service.sample("ai_assist_health_status", component="embedding_model") == 1
    finally:
        busy.set()
        for client in clients:
            client.join(60)
    assert sorted(results) == [200] * (QUEUE_SIZE + 1) + [503] * (2 * QUEUE_SIZE - 1)


def test_a_stuck_model_is_still_reported(service, monkeypatch):
    release = threading.Event()
    encode = service.state.model.encode
    monkeypatch.setattr(service.state.model, "encode",
                        lambda *a, **kw: (release.wait(10), encode(*a, **kw))[1])
    monkeypatch.setattr(health, "RECENT_BATCH_S", 0.0)
    monkeypatch.setattr(health, "EMBEDDING_PROBE_TIMEOUT_S", 0.5)
    try:
        response = requests.get(f"{service.url}/health", timeout=30)
        check = response.json()["checks"]["embedding_model"]
        assert not check["ok"] and "stuck" in check["detail"]
        assert response.status_code == 503
    finally:
        release.set()


class FakeNVML(types.ModuleType):
    """pynvml's surface the sampler uses, with errors on the samples the test chooses."""

    class NVMLError(Exception):
        pass

    class NVMLError_GpuIsLost(NVMLError):
        pass

    class NVMLError_Unknown(NVMLError):
        pass

    def __init__(self, failures: dict[tuple[int, int], type]) -> None:
        super().__init__("pynvml")
        self.failures = failures  # (sample number, device) -> error class
        self.round = 0

    def nvmlInit(self):
        pass

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetUtilizationRates(self, handle):
        error = self.failures.get((self.round, handle))
        if error is not None:
            raise error(f"fake failure on GPU {handle}")
        return types.SimpleNamespace(gpu=10 * self.round + handle)

    def nvmlDeviceGetMemoryInfo(self, handle):
        return types.SimpleNamespace(used=1000 * self.round, total=80_000)


def test_the_gpu_sampler_survives_nvml_errors(monkeypatch):
    fake = FakeNVML({(2, 0): FakeNVML.NVMLError_GpuIsLost, (3, 0): FakeNVML.NVMLError_GpuIsLost,
                     (3, 1): FakeNVML.NVMLError_Unknown})
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    metrics = Metrics(CollectorRegistry())
    sampler = GPUSampler(metrics)
    assert sampler.device_count == 2

    def value(name, gpu=None):
        return metrics.registry.get_sample_value(name, {"gpu": gpu} if gpu else None)

    problems = []
    with capture_logs() as logged:
        for round_ in range(1, 6):
            fake.round = round_
            sampler.sample()  # never raises
            problems.append(sampler.problem)
            if round_ == 3:
                assert value("ai_assist_gpu_utilization_ratio", "0") is None  # no stale value
    assert value("ai_assist_gpu_sample_errors_total") == 3
    warnings = [e for e in logged if e["event"] == "gpu_sample_failed"]
    assert [(w["log_level"], w["nvml_error"]) for w in warnings] == [
        ("warning", "NVMLError_GpuIsLost"), ("warning", "NVMLError_Unknown")]
    assert problems[0] is None and "GpuIsLost" in problems[1] and "Unknown" in problems[2]
    assert problems[3] is None and problems[4] is None  # recovered, and the detail says so
    assert value("ai_assist_gpu_utilization_ratio", "0") == pytest.approx(0.5)  # round 5
    assert value("ai_assist_gpu_utilization_ratio", "1") == pytest.approx(0.51)
    assert value("ai_assist_gpu_memory_used_bytes", "1") == 5000
