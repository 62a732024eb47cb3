"""mkdocs hook: links from a page to a file of the repository outside docs/.

The pages link to source files the way GitHub renders them (`../../alerting/slo.py`),
so they work when browsing the repository. mkdocs only knows the files under docs/ and
would warn (and fail under --strict) on each; this hook checks that every such target
exists in the repository, fails the build when one does not, and rewrites the link to
`repo_url` + `blob/main/` + the path when `repo_url` is set (AI_ASSIST_REPO_URL), else
to the path in code (no link: there is nothing to point at).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.repo_links")
# [text](target) or [text](target#anchor); images and autolinks are left alone
LINK = re.compile(r"(?<!!)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+?)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
SCHEMES = ("http://", "https://", "mailto:", "#", "/")


def _outside(markdown: str, src: Path, docs: Path, root: Path, base: str | None,
             where: str) -> str:
    def fix(match: re.Match) -> str:
        text, target = match.groups()
        if target.startswith(SCHEMES):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = (src.parent / path).resolve()
        if resolved == docs or docs in resolved.parents:
            return match.group(0)  # mkdocs checks links between pages itself
        if root not in resolved.parents or not resolved.exists():
            log.warning("%s links to %s, which is not a file of the repository",
                        where, target)
            return match.group(0)
        rel = resolved.relative_to(root).as_posix()
        if base:
            kind = "tree" if resolved.is_dir() else "blob"
            return f"[{text}]({base.rstrip('/')}/{kind}/main/{rel}{'#' + anchor if anchor else ''})"
        return text if rel in text else f"{text} (`{rel}`)"

    out, last = [], 0
    for fence in FENCE.finditer(markdown):  # never inside code blocks
        out.append(LINK.sub(fix, markdown[last:fence.start()]))
        out.append(fence.group(0))
        last = fence.end()
    out.append(LINK.sub(fix, markdown[last:]))
    return "".join(out)


def on_page_markdown(markdown, page, config, files):
    docs = Path(config["docs_dir"]).resolve()
    root = Path(config["config_file_path"]).resolve().parent
    return _outside(markdown, docs / page.file.src_path, docs, root, config.get("repo_url"),
                    page.file.src_path)
