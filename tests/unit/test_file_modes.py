"""Alertmanager in compose (prom/alertmanager) runs as nobody, uid 65534: it must be able
to read its config and its secret files as that user, or it fails to start or every Slack
and e-mail send fails. Rendered here, then read with the uid switched (setpriv)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from alerting.alertmanager import ALERTMANAGER_UID, COMMITTED_FILE
from tests.harness.processes import ROOT, python_env

SLACK_URL = "https://hooks.slack.com/services/T0/B0/modes"
SMTP_PASSWORD = "smtp-pw-modes"

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="switching to uid 65534 (setpriv) needs root; CI runs as root")


def as_nobody(*args: str) -> subprocess.CompletedProcess:
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is missing"
    return subprocess.run([setpriv, f"--reuid={ALERTMANAGER_UID}", f"--regid={ALERTMANAGER_UID}",
                           "--clear-groups", *args],
                          capture_output=True, text=True, timeout=60, cwd="/")


@pytest.fixture
def workdir():
    # Not pytest's tmp_path: /tmp/pytest-of-root is 0700, which nobody cannot enter.
    path = Path(tempfile.mkdtemp(prefix="am-modes-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def render(workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    # A umask as strict as a careful operator's: the modes must not depend on it.
    return subprocess.run(
        [sys.executable, "-c", "import os, sys; os.umask(0o077); "
         "from alerting.render_alertmanager import main; sys.exit(main())",
         "--out", str(workdir / "alertmanager.local.yml"),
         "--secrets-dir", str(workdir / "secrets")],
        cwd=ROOT, env=python_env(env), capture_output=True, text=True, timeout=60)


@needs_root
def test_rendered_config_and_secrets_are_readable_by_alertmanagers_uid(workdir):
    secrets = workdir / "secrets"
    result = render(workdir, {
        "AI_ASSIST_ALERT_WEBHOOK_URL": SLACK_URL, "AI_ASSIST_SMTP_PASSWORD": SMTP_PASSWORD,
        # Where the files are on this machine (compose: /etc/alertmanager/secrets/...).
        "AI_ASSIST_ALERT_WEBHOOK_URL_FILE": str(secrets / "slack-webhook-url"),
        "AI_ASSIST_SMTP_PASSWORD_FILE": str(secrets / "smtp-password")})
    assert result.returncode == 0, result.stderr
    config_path = workdir / "alertmanager.local.yml"
    config_text = config_path.read_text()
    assert SLACK_URL not in config_text and SMTP_PASSWORD not in config_text

    read = as_nobody("cat", str(config_path))
    assert read.returncode == 0, f"uid 65534 cannot read the config: {read.stderr}"
    assert read.stdout == config_text

    config = yaml.safe_load(config_text)
    critical = next(r for r in config["receivers"] if r["name"] == "critical")
    files = {critical["slack_configs"][0]["api_url_file"]: SLACK_URL,
             critical["email_configs"][0]["auth_password_file"]: SMTP_PASSWORD}
    for path, value in files.items():
        read = as_nobody("cat", path)
        assert read.returncode == 0, f"uid 65534 cannot read {path}: {read.stderr}"
        assert read.stdout == value

    amtool = shutil.which("amtool")
    assert amtool, "amtool is missing: make setup installs prometheus-alertmanager"
    check = as_nobody(amtool, "check-config", str(config_path))
    assert check.returncode == 0, check.stdout + check.stderr


def test_committed_config_and_secrets_folder_are_readable_by_alertmanagers_uid():
    """What compose mounts by default: alerting/alertmanager.yml and alerting/secrets/."""
    assert COMMITTED_FILE.stat().st_mode & 0o004, f"{COMMITTED_FILE} is not world-readable"
    secrets = ROOT / "alerting" / "secrets"
    assert secrets.stat().st_mode & 0o005 == 0o005, f"{secrets} must be 0755"
