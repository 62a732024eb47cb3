"""The configs of the compose stack agree with each other and with the code: ports
(service/ai_assist/ports.py), datasource uids and the scrape job (dashboards/lib/
datasources.py), metric names (the metric catalogue), log labels (what the dashboards
filter on) and the service's settings. Checked as far as is possible without Grafana,
Loki, Alloy or Tempo binaries; Prometheus's config goes through the real promtool."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ai_assist import composition, ports
from ai_assist.config import Settings, env_name, is_secret
from ai_assist.telemetry import metrics as M
from ai_assist.telemetry.logging import SERVICE_NAME
from dashboards.lib.profiles import PROFILE_TYPE
from observability import uids as DS
from observability.selectors import SCRAPE_JOB
from tests.harness.compose import GPU_FILE, ROOT, resolved_config, run_compose

PROMETHEUS_YML = ROOT / "prometheus" / "prometheus.yml"
RULES_DIR = ROOT / "prometheus" / "rules"
LOKI_YML = ROOT / "loki" / "loki-config.yml"
ALLOY = ROOT / "loki" / "config.alloy"
TEMPO_YML = ROOT / "tempo" / "tempo.yml"
DATASOURCES_YML = ROOT / "dashboards" / "provisioning" / "datasources" / "datasources.yml"
STACK_FILES = (ROOT / "docker-compose.yml", GPU_FILE, PROMETHEUS_YML, LOKI_YML, ALLOY,
               TEMPO_YML, DATASOURCES_YML, ROOT / ".env.example", ROOT / "service" / "Dockerfile")

# Which ports each compose service answers on.
SERVICE_PORTS = {
    SERVICE_NAME: {ports.SERVICE},
    "gemini-emulator": {ports.GEMINI_EMULATOR},
    "prometheus": {ports.PROMETHEUS},
    "alertmanager": {ports.ALERTMANAGER},
    "grafana": {ports.GRAFANA},
    "loki": {ports.LOKI},
    "tempo": {ports.TEMPO, ports.OTLP_GRPC, ports.OTLP_HTTP},
    "alloy": {ports.ALLOY},
    "pyroscope": {ports.PYROSCOPE},
}
# Never stream labels: unbounded values belong in the log line (DESIGN.md, Logs).
HIGH_CARDINALITY = {"request_id", "trace_id", "span_id", "company_id", "user_id", "text",
                    "text_sha256", "container_id", "id"}


@pytest.fixture(scope="module")
def services() -> dict:
    return resolved_config()["services"]


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


# --- one port table ---------------------------------------------------------------------

# `host:port`, not an image tag such as grafana/grafana:12.1.1 (digits then a dot).
HOST_PORT = re.compile(r"(?<![\w.-])([a-z][a-z0-9-]*):(\d{2,5})(?![\d.])")


def test_every_host_port_in_the_stack_agrees_with_ports_py(services):
    """Wherever a config names `service:port`, the service exists and answers on that port."""
    assert set(SERVICE_PORTS) == set(services)
    every_port = {v for k, v in vars(ports).items() if k.isupper()}
    seen = set()
    for path in STACK_FILES:
        for host, port in HOST_PORT.findall(path.read_text()):
            if host == "localhost":
                assert int(port) in every_port, f"{path.name}: localhost:{port}"
                continue
            assert host in SERVICE_PORTS, f"{path.name}: {host}:{port} is not a compose service"
            assert int(port) in SERVICE_PORTS[host], f"{path.name}: {host}:{port}"
            seen.add(host)
    assert {"prometheus", "loki", "tempo", "alertmanager", "gemini-emulator",
            SERVICE_NAME} <= seen


def test_listen_ports_agree_with_ports_py(services):
    env = services[SERVICE_NAME]["environment"]
    assert int(env["AI_ASSIST_PORT"]) == ports.SERVICE
    assert f"EXPOSE {ports.SERVICE}" in (ROOT / "service" / "Dockerfile").read_text()
    emulator = services["gemini-emulator"]["command"]
    assert int(emulator[emulator.index("--port") + 1]) == ports.GEMINI_EMULATOR
    assert f"--web.listen-address=0.0.0.0:{ports.PROMETHEUS}" in services["prometheus"]["command"]
    assert (f"--web.listen-address=0.0.0.0:{ports.ALERTMANAGER}"
            in services["alertmanager"]["command"])
    assert f"--server.http.listen-addr=0.0.0.0:{ports.ALLOY}" in services["alloy"]["command"]
    (grafana,) = services["grafana"]["ports"]
    assert grafana["target"] == ports.GRAFANA and int(grafana["published"]) == ports.GRAFANA
    for name, service in services.items():
        probe = " ".join(service["healthcheck"]["test"])
        port = int(re.search(r"127\.0\.0\.1[:/](\d+)", probe).group(1))
        assert port in SERVICE_PORTS[name], f"{name} health check probes port {port}"


# --- Prometheus ---------------------------------------------------------------------------

def test_promtool_accepts_the_config_with_its_rules(tmp_path):
    """The compose file mounts prometheus/rules at /etc/prometheus/rules; here they sit
    beside a copy of the config, so promtool checks both."""
    config = _yaml(PROMETHEUS_YML)
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    rules = tmp_path / "rules"
    rules.mkdir()
    for rule_file in sorted(RULES_DIR.glob("*.yml")):
        shutil.copy(rule_file, rules / rule_file.name)
    config["rule_files"] = [str(rules / "*.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: make system-deps"
    result = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_every_replica_and_alerts_alertmanager(services):
    config = _yaml(PROMETHEUS_YML)
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == SCRAPE_JOB]
    assert SCRAPE_JOB == SERVICE_NAME and SERVICE_NAME in services
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == [SERVICE_NAME] and sd["type"] == "A" and sd["port"] == ports.SERVICE
    assert job.get("metrics_path", "/metrics") == "/metrics"
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"] == [{"targets": [f"alertmanager:{ports.ALERTMANAGER}"]}]


def test_prometheus_runs_with_exemplars_and_the_mounted_files(services):
    prometheus = services["prometheus"]
    flags = prometheus["command"]
    for flag in ("--enable-feature=exemplar-storage", "--web.enable-lifecycle",
                 "--web.enable-remote-write-receiver",
                 "--config.file=/etc/prometheus/prometheus.yml"):
        assert flag in flags
    mounts = {m["target"]: m.get("source") for m in prometheus["volumes"]}
    assert Path(mounts["/etc/prometheus/prometheus.yml"]) == PROMETHEUS_YML
    assert Path(mounts["/etc/prometheus/rules"]) == RULES_DIR


# --- Loki and Alloy -----------------------------------------------------------------------

def test_loki_config_is_single_binary_on_its_volume(services):
    config = _yaml(LOKI_YML)
    assert config["server"]["http_listen_port"] == ports.LOKI
    assert config["auth_enabled"] is False
    (schema,) = config["schema_config"]["configs"]
    assert (schema["store"], schema["object_store"], schema["schema"]) == (
        "tsdb", "filesystem", "v13")
    (volume,) = [m["target"] for m in services["loki"]["volumes"] if m["type"] == "volume"]
    paths = [config["common"]["path_prefix"], config["compactor"]["working_directory"],
             *config["common"]["storage"]["filesystem"].values()]
    assert all(p.startswith(volume) for p in paths), (volume, paths)
    assert services["loki"]["command"] == ["-config.file=/etc/loki/loki-config.yml"]


def _strip_alloy(text: str) -> str:
    """Alloy source with comments and string contents blanked to spaces, so that brackets
    can be counted; same length as `text`, so positions carry over."""
    out, i = list(text), 0
    while i < len(text):
        if text.startswith("//", i) or text.startswith("/*", i):
            end = text.find("\n", i) if text[i + 1] == "/" else text.index("*/", i) + 2
            end = len(text) if end < 0 else end
            out[i:end] = " " * (end - i)
            i = end
        elif text[i] in "\"`":
            quote, j = text[i], i + 1
            while text[j] != quote:
                j += 2 if quote == '"' and text[j] == "\\" else 1
            out[i + 1:j] = " " * (j - i - 1)
            i = j + 1
        else:
            i += 1
    return "".join(out)


def _alloy_components(text: str) -> dict[str, str]:
    """Top-level blocks `kind "label" { ... }` -> their source text, by `kind.label`."""
    stripped = _strip_alloy(text)
    blocks = {}
    for m in re.finditer(r'^([a-z_][a-z0-9_.]*)\s+"([A-Za-z0-9_]+)"\s*\{', text, re.M):
        depth, i = 0, m.end() - 1
        while True:
            depth += {"{": 1, "}": -1}.get(stripped[i], 0)
            if depth == 0:
                break
            i += 1
        blocks[f"{m.group(1)}.{m.group(2)}"] = text[m.end():i]
    return blocks


def test_alloy_config_is_balanced_and_wired():
    source = ALLOY.read_text()
    stripped = _strip_alloy(source)
    for open_, close in ("{}", "[]", "()"):
        depth = 0
        for ch in stripped:
            depth += (ch == open_) - (ch == close)
            assert depth >= 0, f"unbalanced {close}"
        assert depth == 0, f"unbalanced {open_}"
    components = _alloy_components(source)
    kinds = {name.rsplit(".", 1)[0] for name in components}
    assert {"discovery.docker", "discovery.relabel", "loki.source.docker", "loki.process",
            "loki.write"} <= kinds
    # Every reference to another component's export names a declared component.
    for ref in re.findall(r"\b((?:discovery|loki)\.[a-z_.]+)\.(?:targets|output|receiver|rules)\b",
                          stripped):
        assert ref in components, f"{ref} is referenced but not declared"
    (write,) = [body for name, body in components.items() if name.startswith("loki.write.")]
    (url,) = re.findall(r'url\s*=\s*"([^"]+)"', write)
    assert url == f"http://loki:{ports.LOKI}/loki/api/v1/push"


def test_alloy_reads_the_socket_that_compose_mounts(services):
    hosts = set(re.findall(r'host\s*=\s*"unix://([^"]+)"', ALLOY.read_text()))
    mounts = {m["target"]: m for m in services["alloy"]["volumes"]}
    assert hosts == {"/var/run/docker.sock"}
    assert mounts["/var/run/docker.sock"].get("read_only") is True
    assert Path(mounts["/etc/alloy/config.alloy"]["source"]) == ALLOY
    assert "/etc/alloy/config.alloy" in services["alloy"]["command"]


def test_alloy_stream_labels_are_the_small_set_the_dashboards_use():
    from dashboards.lib.logql import STREAM_LABELS

    source = _strip_alloy_comments_only(ALLOY.read_text())
    relabelled = set(re.findall(r'target_label\s*=\s*"([^"]+)"', source))
    promoted = set()
    for body in re.findall(r"stage\.labels\s*\{(.*?)\n\s*\}", source, re.S):
        promoted |= set(re.findall(r"(\w+)\s*=", body.split("{", 1)[1]))
    labels = relabelled | promoted
    assert labels == {"service", "container", "level"}
    assert set(STREAM_LABELS) <= labels
    assert not labels & HIGH_CARDINALITY
    # The service's stream is {service="ai-assist"}: the compose service name.
    assert ('source_labels = ["__meta_docker_container_label_com_docker_compose_service"]'
            in source)


def _strip_alloy_comments_only(text: str) -> str:
    return re.sub(r"^\s*//.*$", "", text, flags=re.M)


# --- Tempo --------------------------------------------------------------------------------

def test_tempo_receives_otlp_and_serves_grafana(services):
    config = _yaml(TEMPO_YML)
    assert config["server"]["http_listen_port"] == ports.TEMPO
    protocols = config["distributor"]["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == f"0.0.0.0:{ports.OTLP_GRPC}"
    assert protocols["http"]["endpoint"] == f"0.0.0.0:{ports.OTLP_HTTP}"
    (remote_write,) = config["metrics_generator"]["storage"]["remote_write"]
    assert remote_write["url"] == f"http://prometheus:{ports.PROMETHEUS}/api/v1/write"
    (volume,) = [m["target"] for m in services["tempo"]["volumes"] if m["type"] == "volume"]
    storage = config["storage"]["trace"]
    paths = [storage["wal"]["path"], storage["local"]["path"],
             config["metrics_generator"]["storage"]["path"],
             config["metrics_generator"]["traces_storage"]["path"]]
    assert all(p.startswith(volume + "/") for p in paths), (volume, paths)
    assert services[SERVICE_NAME]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == (
        f"http://tempo:{ports.OTLP_HTTP}")


# --- Grafana datasources ------------------------------------------------------------------

@pytest.fixture(scope="module")
def datasources() -> dict[str, dict]:
    config = _yaml(DATASOURCES_YML)
    assert config["apiVersion"] == 1
    return {ds["uid"]: ds for ds in config["datasources"]}


def test_datasource_uids_are_the_ones_the_dashboards_use(datasources):
    expected = {DS.PROMETHEUS_UID: "prometheus", DS.LOKI_UID: "loki",
                DS.TEMPO_UID: "tempo", DS.ALERTMANAGER_UID: "alertmanager",
                DS.PYROSCOPE_UID: "grafana-pyroscope-datasource"}
    assert {uid: ds["type"] for uid, ds in datasources.items()} == expected
    assert [uid for uid, ds in datasources.items() if ds.get("isDefault")] == [DS.PROMETHEUS_UID]


def test_datasource_urls_point_at_the_compose_services(datasources):
    expected = {DS.PROMETHEUS_UID: f"http://prometheus:{ports.PROMETHEUS}",
                DS.LOKI_UID: f"http://loki:{ports.LOKI}",
                DS.TEMPO_UID: f"http://tempo:{ports.TEMPO}",
                DS.ALERTMANAGER_UID: f"http://alertmanager:{ports.ALERTMANAGER}",
                DS.PYROSCOPE_UID: f"http://pyroscope:{ports.PYROSCOPE}"}
    assert {uid: ds["url"] for uid, ds in datasources.items()} == expected
    assert datasources[DS.ALERTMANAGER_UID]["jsonData"]["implementation"] == "prometheus"


def test_grafana_mounts_the_provisioning(services):
    mounts = {m["target"]: m["source"] for m in services["grafana"]["volumes"]}
    assert Path(mounts["/etc/grafana/provisioning"]) == DATASOURCES_YML.parents[1]
    assert Path(mounts["/var/lib/grafana/dashboards/ai-assist"]) == ROOT / "dashboards" / "json"
    # The dashboard provider reads the directory compose mounts.
    (provider,) = _yaml(DATASOURCES_YML.parents[1] / "dashboards" / "ai-assist.yml")["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/ai-assist"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith("/var/lib/grafana/dashboards/ai-assist/")
    assert (ROOT / "dashboards" / "json" / Path(home).name).is_file()


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_no_dollar_is_left_for_grafana_to_expand_as_an_env_var():
    for value in _strings(_yaml(DATASOURCES_YML)):
        assert not re.search(r"(?<!\$)\$(?!\$)", value.replace("$$", "")), value


def test_signals_link_to_each_other(datasources):
    prometheus = datasources[DS.PROMETHEUS_UID]["jsonData"]
    (exemplar,) = prometheus["exemplarTraceIdDestinations"]
    # The service's exemplars are {"trace_id": ...} (mapping/pipeline.py: trace_exemplar).
    assert exemplar == {**exemplar, "name": "trace_id", "datasourceUid": DS.TEMPO_UID}
    assert prometheus["timeInterval"] == _yaml(PROMETHEUS_YML)["global"]["scrape_interval"]

    (derived,) = datasources[DS.LOKI_UID]["jsonData"]["derivedFields"]
    assert derived["datasourceUid"] == DS.TEMPO_UID and derived["url"] == "$${__value.raw}"

    tempo = datasources[DS.TEMPO_UID]["jsonData"]
    assert tempo["tracesToLogsV2"]["datasourceUid"] == DS.LOKI_UID
    assert tempo["tracesToLogsV2"]["tags"] == [{"key": "service.name", "value": "service"}]
    assert tempo["tracesToMetrics"]["datasourceUid"] == DS.PROMETHEUS_UID
    assert tempo["tracesToMetrics"]["tags"] == [{"key": "service.name", "value": "job"}]
    assert tempo["serviceMap"]["datasourceUid"] == DS.PROMETHEUS_UID
    assert "lokiSearch" not in tempo  # ignored by current Grafana: tracesToLogsV2 does it
    # the service's profiles: {service_name="ai-assist"}, the type the Python SDK sends
    profiles = tempo["tracesToProfiles"]
    assert profiles["datasourceUid"] == DS.PYROSCOPE_UID
    assert profiles["tags"] == [{"key": "service.name", "value": "service_name"}]
    assert profiles["profileTypeId"] == PROFILE_TYPE and profiles["customQuery"] is False


def test_trace_to_metrics_queries_name_catalogue_metrics_and_labels(datasources):
    queries = datasources[DS.TEMPO_UID]["jsonData"]["tracesToMetrics"]["queries"]
    assert queries
    for query in queries:
        expr = query["query"].replace("$$__tags", "")
        names = re.findall(r"([a-z_][a-z0-9_]*)\{", expr)
        assert names and set(names) <= M.exposed_series_names(), expr
        for name in names:
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            labels = set(M.BY_NAME[base].labels) | {"le"}
            for grouping in re.findall(r"by \(([^)]*)\)", expr):
                assert {g.strip() for g in grouping.split(",")} <= labels, expr


LOG_LINE_SCRIPT = """
import io, sys
from opentelemetry.sdk.trace import TracerProvider
from ai_assist.telemetry.logging import configure_logging, get_logger
stream = io.StringIO()
configure_logging("INFO", "json", "test", "0", stream=stream)
with TracerProvider().get_tracer("probe").start_as_current_span("probe") as span:
    get_logger().info("probe", request_id="r-1")
    sys.stdout.write(format(span.get_span_context().trace_id, "032x") + "\\n")
sys.stdout.write(stream.getvalue())
"""


def test_the_trace_link_in_logs_matches_a_real_service_log_line(datasources):
    """The derived field's regex, run on a line the service's own logger writes inside a
    span, finds that span's trace id. (In a subprocess: logging setup is process-wide.)"""
    result = subprocess.run([sys.executable, "-c", LOG_LINE_SCRIPT], capture_output=True,
                            text=True, timeout=60, cwd=ROOT,
                            env={"PYTHONPATH": f"{ROOT / 'service'}:{ROOT}", "PATH": ""})
    assert result.returncode == 0, result.stderr
    trace_id, line = result.stdout.splitlines()[:2]
    assert json.loads(line)["trace_id"] == trace_id
    (derived,) = datasources[DS.LOKI_UID]["jsonData"]["derivedFields"]
    match = re.search(derived["matcherRegex"], line)
    assert match and match.group(1) == trace_id


# --- the service's settings ---------------------------------------------------------------

def _settings_env_names() -> set[str]:
    names = set()
    for info in Settings.model_fields.values():
        names.add(env_name(info))
        if is_secret(info):
            names.add(env_name(info) + "_FILE")
    return names


@pytest.mark.parametrize("gpu", [False, True], ids=["cpu", "gpu"])
def test_service_env_is_known_settings_that_validate(gpu):
    env = resolved_config(gpu=gpu)["services"][SERVICE_NAME]["environment"]
    unknown = set(env) - _settings_env_names()
    assert unknown == set(), "compose sets env vars the service does not read"
    settings = composition.load({k: v for k, v in env.items() if v is not None}).settings
    assert settings.host == "0.0.0.0" and settings.port == ports.SERVICE
    assert settings.tracing_enabled and settings.metrics_enabled
    assert settings.log_format == "json"
    assert settings.gemini_base_url == f"http://gemini-emulator:{ports.GEMINI_EMULATOR}"
    assert settings.llm_configured


def test_real_gemini_is_an_empty_base_url_and_a_key():
    result = run_compose("config", "--format", "json",
                         env={"GRAFANA_ADMIN_PASSWORD": "x", "AI_ASSIST_GEMINI_BASE_URL": "",
                              "GEMINI_API_KEY": "k"})
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)["services"][SERVICE_NAME]["environment"]
    settings = composition.load({k: v for k, v in env.items() if v is not None}).settings
    assert settings.gemini_base_url == "" and settings.gemini_api_key == "k"
