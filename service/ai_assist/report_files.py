"""What the cost report and the A/B report share in their files: Markdown as one HTML
page (markdown-it) and matplotlib figures saved the same way (PNG, no software stamp),
so the same figures give the same bytes and the committed examples are checked fresh."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


def html_page(markdown: str, title: str, width_em: int) -> str:
    """`markdown` (CommonMark with tables) as a standalone HTML page."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{title}</title>\n<style>\n"
            f"body {{ font-family: sans-serif; max-width: {width_em}em; margin: 2em auto; }}\n"
            "table { border-collapse: collapse; } td, th { border: 1px solid #ccc; "
            "padding: 0.3em 0.6em; } img { max-width: 100%; }\n"
            "</style>\n</head>\n<body>\n" + body + "</body>\n</html>\n")


@contextmanager
def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, in the reports' font size; the
    process's other plots keep their own settings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.size": 9}):
        yield plt


def save_figure(figure, path: Path, tight: bool = True) -> None:
    """`figure` as a PNG at `path` (90 dpi, no software stamp), then closed."""
    import matplotlib.pyplot as plt

    if tight:
        figure.tight_layout()
    figure.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(figure)
