"""Only the one Prometheus HTTP client (observability/promapi.py) calls Prometheus's HTTP
API: no other module of the product, the tests, the benches or the scripts calls an HTTP
library with a Prometheus API path (the client against a real Prometheus:
tests/stack/test_promapi.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# What calls an HTTP library: requests.get(...), a Session's .post(...), httpx, urllib.
HTTP_CALLS = {"get", "post", "put", "request", "urlopen", "Session", "Client"}
HTTP_MODULES = {"requests", "httpx", "urllib", "urllib.request", "aiohttp"}


def _prometheus_requests(path: Path) -> list[str]:
    """Lines of `path` where a call to an HTTP library names a Prometheus API path."""
    tree = ast.parse(path.read_text())
    imported = {alias.asname or alias.name for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names
                if (alias.name.split(".")[0] if isinstance(node, ast.Import)
                    else (node.module or "").split(".")[0]) in HTTP_MODULES}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in HTTP_CALLS and imported):
            continue
        receiver = ast.unparse(node.func.value)
        if receiver.split(".")[0] not in imported and "session" not in receiver.lower():
            continue  # a method of something else: promapi's own client, a dict
        text = " ".join(ast.unparse(a) for a in [*node.args, *(k.value for k in node.keywords)])
        if "/api/v1/" in text or "/-/ready" in text and "prom" in text.lower():
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_only_promapi_talks_to_prometheus_http_api():
    """One client (observability/promapi.py): no other module calls an HTTP library
    with a Prometheus API path (the Alertmanager's /api/v2 is its own API)."""
    files = [p for folder in ("service", "observability", "alerting", "dashboards", "deploy",
                              "scale", "eval", "tests", "bench", "scripts")
             for p in (ROOT / folder).rglob("*.py")
             if ".venv" not in p.parts and p != ROOT / "observability" / "promapi.py"]
    assert len(files) > 100
    offenders = [line for p in files for line in _prometheus_requests(p)]
    assert not offenders, f"Prometheus's HTTP API called outside observability/promapi.py: {offenders}"
