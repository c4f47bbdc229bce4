"""The project's Markdown pages (README.md and the documentation site's docs/**/*.md) and what they embed."""
import re
from pathlib import Path

from tests.helpers.paths import ROOT

DOCS = ROOT / "docs"
"""The documentation site's source folder (docs/conf.py, the pages)."""


def doc_pages() -> list[Path]:
    """Every Markdown page of docs/, sorted, without the build output (docs/_build)."""
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)


def markdown_pages() -> list[Path]:
    """README.md and every page of docs/."""
    return [ROOT / "README.md", *doc_pages()]


def name(page: Path) -> str:
    """``page`` relative to the repository root, as a test id."""
    return page.relative_to(ROOT).as_posix()


def embedded_blocks(start: str, end: str) -> dict[str, str]:
    """``{page: the text between the markers start and end}`` of every page that holds ``start``.

    Raises:
        AssertionError: a page holds ``start`` but not ``end`` after it.
    """
    blocks = {}
    for page in markdown_pages():
        text = page.read_text()
        if start in text:
            after = text.split(start, 1)[1]
            assert end in after, f"{name(page)} opens {start} but does not close it with {end}"
            blocks[name(page)] = after.split(end, 1)[0]
    return blocks


HEADING = re.compile(r"^(#{1,6}) ")


def enclosing_section(text: str, position: int) -> str:
    """The section of ``text`` around character ``position``: from the last heading before it to the next
    heading of the same or a higher level (``#`` lines inside code fences are not headings)."""
    offset, fenced, headings = 0, False, []  # (level, start offset of the heading line)
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            headings.append((len(m.group(1)), offset))
        offset += len(line)
    before = [h for h in headings if h[1] <= position]
    level, start = before[-1] if before else (0, 0)
    end = next((o for lv, o in headings if o > position and lv <= level), len(text))
    return text[start:end]
