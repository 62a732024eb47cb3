"""Every code example of the README and the docs pages, run or checked as written.

- `python` blocks are executed, each in a fresh namespace (so each imports what it uses).
- `yaml` blocks are parsed; the experiment file must be the committed example.
- `promql` blocks (the runbook's rule expressions) go through `promtool check rules`.
- `bash` blocks: each command is run where it can run here (`python3 -c`, `python -m
  alerting.render_alertmanager` into a temporary folder, `python -m MODULE --help` for the
  others), or, where it cannot (docker, kubectl, helm, curl, the make targets that set up
  or start things), checked for what it names: make targets, compose services, Dockerfile
  build arguments, service routes, modules and repository paths. A command of a kind this
  file does not know fails, so no new example goes unchecked.
Fenced blocks without a language are output, not examples.
The report commands run for real in tests/stack/test_report_commands_on_prometheus.py, the
Kubernetes steps in tests/unit/test_k8s.py.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md"] + sorted(
    p for p in (ROOT / "docs").rglob("*.md") if "hooks" not in p.parts)
FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```", re.M | re.S)
CHECKED = {"python", "bash", "yaml", "promql"}
EXPERIMENT_EXAMPLE = ROOT / "docs" / "examples" / "experiment" / "fewer-candidates.yaml"
# where the Kubernetes steps write deploy/k8s (python -m deploy.k8s_build --out my-k8s)
RENDERED = {"my-k8s": "deploy/k8s"}


def _blocks() -> list[tuple[str, int, str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            language, body = match.groups()
            line = text[:match.start()].count("\n") + 1
            found.append((page.relative_to(ROOT).as_posix(), line, language, body))
    return found


BLOCKS = _blocks()


def _ids(language: str):
    return [pytest.param(body, id=f"{page}:{line}") for page, line, lang, body in BLOCKS
            if lang == language]


def test_every_block_has_a_known_language():
    unknown = [(page, line, lang) for page, line, lang, _ in BLOCKS
               if lang and lang not in CHECKED | {"text", "json"}]
    assert not unknown, f"mark examples python/bash/yaml/promql, output text or nothing: {unknown}"


def test_the_docs_hold_examples_of_every_kind():
    kinds = {lang for _, _, lang, _ in BLOCKS}
    assert {"python", "bash", "yaml", "promql"} <= kinds


# --- python ------------------------------------------------------------------------------
@pytest.mark.parametrize("body", _ids("python"))
def test_python_example_runs(body, monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace: dict = {"__name__": "docs_example"}
    exec(compile(body, "<docs example>", "exec"), namespace)  # noqa: S102


# --- yaml --------------------------------------------------------------------------------
@pytest.mark.parametrize("body", _ids("yaml"))
def test_yaml_example_parses(body):
    data = yaml.safe_load(body)
    assert isinstance(data, dict)
    if "variants" in data:  # the experiment file the docs walk through
        assert data == yaml.safe_load(EXPERIMENT_EXAMPLE.read_text())
        from ai_assist.experiments import load_experiment
        assert load_experiment(EXPERIMENT_EXAMPLE).name == data["name"]


# --- promql ------------------------------------------------------------------------------
def test_promql_examples_are_valid_rules(tmp_path):
    exprs = []  # an expression runs over lines until the next comment line
    for _, _, lang, body in BLOCKS:
        if lang == "promql":
            exprs += [e.strip() for e in re.split(r"^#.*$", body, flags=re.M) if e.strip()]
    assert exprs
    rules = {"groups": [{"name": "docs", "rules": [
        {"record": f"docs:example_{i}", "expr": expr} for i, expr in enumerate(exprs)]}]}
    path = tmp_path / "docs.yml"
    path.write_text(yaml.safe_dump(rules))
    promtool = shutil.which("promtool")
    assert promtool, "promtool (make setup) checks the PromQL examples"
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- bash --------------------------------------------------------------------------------
def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.M))


def _compose_services() -> set[str]:
    return set(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"])


def _commands(body: str) -> tuple[list[str], list[str]]:
    """(commands, heredoc bodies): continuation lines joined, comments dropped."""
    commands, heredocs = [], []
    lines = re.sub(r"\\\n\s*", " ", body).splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].split(" #", 1)[0].strip() if not lines[i].lstrip().startswith(
            "#") else ""
        i += 1
        if not line:
            continue
        heredoc = re.search(r"<<'?(\w+)'?", line)
        if heredoc:
            end = lines.index(heredoc.group(1), i)
            heredocs.append("\n".join(lines[i:end]))
            i = end + 1
        for part in re.split(r"\s*&&\s*", line):
            commands.append(part)
    return commands, heredocs


def _words(command: str) -> list[str]:
    words = shlex.split(command.split("<<")[0].split(" > ")[0])
    while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value prefixes
        words.pop(0)
    return words


def _repository_paths(words: list[str], created: set[str]) -> list[str]:
    """The words that name a path in the repository (first component exists at the root);
    each must exist. Paths the block itself creates, or the rendered manifests, are mapped."""
    missing = []
    for word in words:
        value = word.split("=", 1)[-1] if word.startswith("--") else word
        if "://" in value or value.startswith(("-", "$", "/")) or "/" not in value:
            continue
        first = value.split("/", 1)[0]
        if first in created:
            continue
        if first in RENDERED:
            value = RENDERED[first] + value[len(first):]
        elif not (ROOT / first).exists() or first in (".", ".."):
            continue
        if not (ROOT / value.split(":", 1)[0]).exists():
            missing.append(value)
    return missing


def _check(command: str, created: set[str], tmp_path: Path) -> None:
    words = _words(command)
    tool, args = words[0], words[1:]
    assert not _repository_paths(words, created), (command, _repository_paths(words, created))
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'service'}:{ROOT}"}
    if tool == "make":
        assert set(args) <= _make_targets(), command
    elif tool == "python3" and args[0] == "-c":
        subprocess.run([sys.executable, *args], check=True, timeout=60)
    elif tool.endswith("python") and args[0] == "-m":
        module = args[1]
        assert importlib.util.find_spec(module), command
        if module == "alerting.render_alertmanager":  # writes one file: run it for real
            out = tmp_path / "alertmanager.local.yml"
            run = [sys.executable, "-m", module, *args[2:args.index("--out")], "--out", str(out),
                   "--secrets-dir", str(tmp_path / "secrets")]
            values = dict(re.findall(r"\b([A-Z_]+)=(\S+)", command.split(" -m ")[0]))
            subprocess.run(run, check=True, timeout=60, cwd=ROOT, env={**env, **values})
            assert out.is_file()
        else:
            sub = [a for a in args[2:] if not a.startswith("-")][:1] if module.endswith(
                "experiments") else []
            subprocess.run([sys.executable, "-m", module, *sub, "--help"], check=True,
                           timeout=120, cwd=ROOT, env=env, capture_output=True)
    elif tool == "cp":
        assert (ROOT / args[0]).is_file(), command
    elif tool == "mkdir":
        created.update(a.split("/")[0] for a in args if not a.startswith("-"))
    elif tool == "cat":
        pass  # the heredoc, checked below
    elif tool == "docker" and args[0] == "compose":
        compose = [a for a in args[1:] if not a.startswith("-")]
        if compose[0] in ("exec", "cp"):
            service = compose[1].split(":")[0]
            assert service in _compose_services(), command
        else:
            assert compose[0] in ("up", "down", "ps", "logs"), command
        for i, a in enumerate(args):
            if a == "-f":
                assert (ROOT / args[i + 1]).is_file(), command
    elif tool == "docker":
        assert args[0] in ("build", "push"), command
        if args[0] == "build":
            dockerfile = ROOT / args[args.index("-f") + 1]
            build_args = re.findall(r"^ARG (\w+)", dockerfile.read_text(), re.M)
            for i, a in enumerate(args):
                if a == "--build-arg":
                    assert args[i + 1].split("=")[0] in build_args, command
    elif tool == "kubectl":
        for i, a in enumerate(args):
            if a == "-k":
                target = args[i + 1]
                first = target.split("/")[0]
                assert first in created or (ROOT / RENDERED.get(first, first)).exists() or (
                    ROOT / target.replace(first, RENDERED.get(first, first), 1)).exists(), command
    elif tool == "helm":
        assert args[0] in ("upgrade", "install", "repo"), command
    elif tool == "curl":
        (url,) = [a for a in args if "://" in a]
        path = "/" + url.split("://", 1)[1].split("/", 1)[1].split("?")[0]
        sources = " ".join(p.read_text() for p in (ROOT / "service").rglob("*.py"))
        assert f'"{path}"' in sources, f"{command}: no route {path} in service/"
    else:
        pytest.fail(f"the docs example test does not know how to check: {command}")


@pytest.mark.parametrize("body", _ids("bash"))
def test_bash_example_runs_or_names_what_exists(body, tmp_path):
    commands, heredocs = _commands(body)
    assert commands
    created: set[str] = set()
    for command in commands:
        _check(command, created, tmp_path)
    for heredoc in heredocs:  # the kustomizations the steps write
        data = yaml.safe_load(heredoc)
        for resource in data.get("resources", []):
            first = resource.lstrip("./").split("/")[0]
            rendered = resource.replace(f"../{first}", RENDERED.get(first, first), 1)
            assert (ROOT / rendered).is_dir(), resource
