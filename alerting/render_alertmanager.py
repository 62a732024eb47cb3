"""Write an Alertmanager config from the environment.

    python -m alerting.render_alertmanager --out alertmanager.local.yml
    AI_ASSIST_ALERT_WEBHOOK_URL=http://127.0.0.1:9999/ \\
        python -m alerting.render_alertmanager --out /tmp/am.yml --group-wait 1s

The config names the Slack URL and the SMTP password by file (api_url_file,
auth_password_file). Given as values, they are written to those files' names under
--secrets-dir (default alerting/secrets/, which compose mounts at /etc/alertmanager/secrets/).
prom/alertmanager runs as nobody (uid 65534), so every file written here is readable by it:
the config 0644; a secret file owned by 65534 with mode 0400 when run as root, else 0644.

Variables (unset: the default, as in the committed alerting/alertmanager.yml):
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from alerting.alertmanager import (
    ALERTMANAGER_UID,
    COMMITTED_FILE,
    ENV,
    ConfigError,
    Settings,
    Timing,
    render,
)

ROOT = Path(__file__).resolve().parents[1]
SECRETS_DIR = ROOT / "alerting" / "secrets"


def _usage() -> str:
    lines = [__doc__]
    for name, (default, meaning) in ENV.items():
        lines.append(f"  {name}  (default: {default or 'unset'})\n      {meaning}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerting.render_alertmanager",
                                     description=_usage(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="file to write ('-': stdout)")
    parser.add_argument("--secrets-dir", type=Path, default=SECRETS_DIR,
                        help="where secret values given in the environment are written, one "
                             "file each, named as the *_FILE settings name them (default: "
                             "alerting/secrets, mounted at /etc/alertmanager/secrets)")
    defaults = Timing()
    parser.add_argument("--group-wait", default=defaults.group_wait)
    parser.add_argument("--group-interval", default=defaults.group_interval)
    parser.add_argument("--repeat-interval", default=defaults.repeat_interval)
    parser.add_argument("--critical-repeat-interval", default=defaults.critical_repeat_interval)
    args = parser.parse_args(argv)
    settings = Settings.from_env(os.environ)
    timing = Timing(args.group_wait, args.group_interval, args.repeat_interval,
                    args.critical_repeat_interval)
    used = sorted(name for name in ENV if name in os.environ)
    header = ("Rendered by `python -m alerting.render_alertmanager` from the environment"
              f" ({', '.join(used) or 'no variable set: the defaults'}).")
    try:
        text = render(settings, timing, header)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    to_stdout = str(args.out) == "-"
    if settings.inline_secrets and not to_stdout and args.out.resolve() == COMMITTED_FILE:
        print(f"error: {', '.join(settings.inline_secrets)} would put a secret setting into the "
              f"committed {COMMITTED_FILE.relative_to(ROOT)}; write elsewhere, or use the *_FILE "
              "variables", file=sys.stderr)
        return 2
    for name, value in settings.secret_files.items():
        write_secret(args.secrets_dir / Path(name).name, value)
    if to_stdout:
        sys.stdout.write(text)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # No secret in it (they are files): readable by Alertmanager's uid in its container.
    write_file(args.out, text, 0o644)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def write_file(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, mode)


def write_secret(path: Path, value: str) -> None:
    """A secret file that Alertmanager (uid 65534 in prom/alertmanager) can read: as root,
    owned by that uid and readable by it alone; otherwise world-readable (0644), the mode
    that works with any Docker, rootless too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.parent.stat().st_mode & 0o777
    if mode & 0o005 != 0o005:  # a umask of 077, say: Alertmanager could not enter it
        path.parent.chmod(mode | 0o755)
        print(f"note: made {path.parent} 0755 so that Alertmanager (uid {ALERTMANAGER_UID}) "
              "can read the files in it", file=sys.stderr)
    if os.geteuid() == 0:
        write_file(path, value, 0o400)
        os.chown(path, ALERTMANAGER_UID, ALERTMANAGER_UID)
    else:
        write_file(path, value, 0o644)
        print(f"note: {path} is readable by every local user (0644); to keep it to "
              f"Alertmanager alone: sudo chown {ALERTMANAGER_UID}:{ALERTMANAGER_UID} {path} "
              f"&& sudo chmod 0400 {path}", file=sys.stderr)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
