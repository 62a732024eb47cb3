"""Write an Alertmanager config from the environment.

    python -m alerting.render_alertmanager --out alertmanager.local.yml
    AI_ASSIST_ALERT_WEBHOOK_URL=http://127.0.0.1:9999/ \\
        python -m alerting.render_alertmanager --out /tmp/am.yml --group-wait 1s

Variables (unset: the default, as in the committed alerting/alertmanager.yml):
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from alerting.alertmanager import COMMITTED_FILE, ENV, ConfigError, Settings, Timing, render

ROOT = Path(__file__).resolve().parents[1]


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
    if str(args.out) == "-":
        sys.stdout.write(text)
        return 0
    if settings.inline_secrets and args.out.resolve() == COMMITTED_FILE:
        print(f"error: {', '.join(settings.inline_secrets)} would put a secret into the "
              f"committed {COMMITTED_FILE.relative_to(ROOT)}; write elsewhere, or use the *_FILE "
              "variables", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Only its owner may read a file with a secret in it; a container's Alertmanager user
    # may not either, so the *_FILE variables are the way for containers.
    mode = 0o600 if settings.inline_secrets else 0o644
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(args.out, mode)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
