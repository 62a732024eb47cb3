"""Check Kubernetes manifests without a cluster (tests/unit/test_k8s.py):

- `kubectl kustomize DIR`: the overlay as the cluster would receive it;
- core kinds against the Kubernetes OpenAPI schemas of KUBERNETES_VERSION, strict (an
  unknown field is an error), with the `kubernetes-validate` package (requirements.txt);
- custom resources (ServiceMonitor, PrometheusRule, ScaledObject) against their CRDs'
  schemas as the pinned npm packages @kubernetes-models/prometheus-operator and
  @kubernetes-models/keda compile them (tests/tools/validate-crds.mjs: types, required
  fields, enums and patterns), and as TypeScript object literals of the packages'
  interfaces through `tsc`, whose excess-property check makes an unknown field an error.

Each check returns its problems as readable lines, [] when all is well.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from deploy.k8s_build import KUBERNETES_VERSION
from tests.harness.real_tools import TOOLS, _node, _workdir, tsc

# apiVersion/kind -> (module, interface) of the custom resources the bundle ships
CRD_TYPES = {
    "keda.sh/v1alpha1/ScaledObject":
        ("@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject", "IScaledObject"),
    "monitoring.coreos.com/v1/ServiceMonitor":
        ("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
         "IServiceMonitor"),
    "monitoring.coreos.com/v1/PrometheusRule":
        ("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule",
         "IPrometheusRule"),
    "monitoring.coreos.com/v1alpha1/AlertmanagerConfig":
        ("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1/"
         "AlertmanagerConfig", "IAlertmanagerConfig"),
}


def kustomize_command() -> list[str]:
    """`kubectl kustomize`, or the standalone `kustomize build` where only it is there."""
    if shutil.which("kubectl"):
        return [shutil.which("kubectl"), "kustomize"]
    if shutil.which("kustomize"):
        return [shutil.which("kustomize"), "build"]
    raise FileNotFoundError("kubectl (or kustomize) is needed to build deploy/k8s "
                            "(docs/deployment/kubernetes.md)")


def kustomize(directory: Path) -> list[dict]:
    command = [*kustomize_command(), str(directory)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def key(doc: dict) -> str:
    return f"{doc['apiVersion']}/{doc['kind']}"


def name(doc: dict) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def is_custom(doc: dict) -> bool:
    group = doc["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def check_core(docs: list[dict], version: str = KUBERNETES_VERSION) -> list[str]:
    import kubernetes_validate

    problems = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            problems.append(f"{name(doc)}: {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{name(doc)}: no schema in Kubernetes {version}: {exc}")
    return problems


def check_crds(docs: list[dict]) -> list[str]:
    """The packages' compiled validators, then tsc's excess-property check."""
    node = _node()
    work = _workdir()
    try:
        (work / "docs.json").write_text(json.dumps(
            [{"id": name(d), "doc": d} for d in docs]))
        result = subprocess.run([node, str(TOOLS / "validate-crds.mjs"), str(work / "docs.json")],
                                cwd=TOOLS, capture_output=True, text=True, timeout=120)
        try:
            problems = [f"{f['id']}: {f['error']}" for f in json.loads(result.stdout)]
        except ValueError:
            problems = [f"validate-crds.mjs failed: {result.stderr.strip()[-2000:]}"]
        if result.returncode != 0 and not problems:
            problems.append(f"validate-crds.mjs failed: {result.stderr.strip()[-2000:]}")
        problems += _typecheck(docs, work)
    finally:
        shutil.rmtree(work)
    return problems


def _typecheck(docs: list[dict], work: Path) -> list[str]:
    lines, imports = [], {}
    for index, doc in enumerate(docs):
        if key(doc) not in CRD_TYPES:
            return [f"{name(doc)}: no TypeScript type here for {key(doc)}"]
        module, interface = CRD_TYPES[key(doc)]
        imports[interface] = module
        lines.append(f"export const doc{index}: {interface} = {json.dumps(doc)};")
    header = [f'import type {{ {i} }} from "{m}";' for i, m in imports.items()]
    # line numbers: the header comes first, then one line per document
    labels = [(len(header) + i + 1, name(doc)) for i, doc in enumerate(docs)]
    (work / "crds.ts").write_text("\n".join(header + lines) + "\n")
    return tsc(work, "crds.ts", labels, "imports", "--module", "esnext",
               "--moduleResolution", "bundler", describe=_short)


def _short(message: str) -> str:
    """tsc names the whole literal's type; keep the part that says what is wrong."""
    found = re.search(r"(Object literal may only specify known properties, and '[^']+' "
                      r"does not exist in type '[^']+')|(Type '[^']+' is not assignable to "
                      r"type '[^']+')", message)
    return found.group(0) if found else message[:400]
