"""Committed files compiled from Python: write them, or with `--check` name every stale one.

alerting/build.py, dashboards/build.py, deploy/k8s_build.py and alerting/readme.py give the
files they compile (path -> text) and the folders they own: a file there that the build
does not write is an orphan.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

Owned = Sequence[tuple[Path, str]]  # (folder, glob pattern) of files only the build writes


def orphans(fresh: dict[Path, str], owned: Owned) -> list[Path]:
    return [path for folder, pattern in owned for path in sorted(folder.glob(pattern))
            if path not in fresh]


def stale(fresh: dict[Path, str], owned: Owned) -> list[Path]:
    """Files missing or differing from `fresh`, and orphans."""
    problems = [path for path, text in fresh.items()
                if not path.is_file() or path.read_text() != text]
    return sorted(problems + orphans(fresh, owned))


def main(argv: list[str] | None, module: str, doc: str, flag: str, default: Path,
         files: Callable[[Path], tuple[dict[Path, str], Owned]], done: str) -> int:
    """`python -m <module> [--check]`; `flag` (hidden, for tests) moves the output under
    another folder, which `files` maps to (fresh, owned). `done` may name {n} and {where}."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a committed file is stale")
    parser.add_argument(flag, dest="where", type=Path, default=default,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    fresh, owned = files(args.where)
    if args.check:
        problems = stale(fresh, owned)
        for path in problems:
            print(f"stale: {path} (run `python -m {module}`)", file=sys.stderr)
        return 1 if problems else 0
    for path, text in fresh.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for orphan in orphans(fresh, owned):
        orphan.unlink()
    print(done.format(n=len(fresh), where=args.where))
    return 0
