"""The hand-written sentences about each real study's effects follow its committed numbers.

The effects are generated (``results/<study>/tables/findings.md``, rendered by ``report`` from
``metrics.json``; ``test_committed_results_regenerate_identically`` checks that file) and
embedded in the study's documentation page, ``docs/studies/<study>.md`` (``tests/test_readme.py``
checks every embedded block against the committed file); the hand-written reading around them (the
section that holds the block, in whichever Markdown page, README.md or docs/**/*.md, embeds it) may
quote a difference only as the generated block states it, and may not use a verdict the numbers do not
support. The README's headline, which reads the benchmark study, is held to the same rules.
"""
import re

import pytest

from experiments.analysis.rendering import readme_block_markers
from tests.helpers.markdown_pages import enclosing_section, markdown_pages, name
from tests.helpers.paths import ROOT

SIGNED = re.compile(r"(?<![\w.])[+-]\d+\.\d+")
STUDIES = ("benchmark", "cells")
"""The real studies whose findings are embedded and read in prose."""
README_HEADLINE = "## Headline result"
"""The README's section that reads the benchmark study's findings."""
VERDICTS = ("controls match", "match it", "significantly better", "significantly worse")
"""'match' (the controls 'match' TG-HEM) was written where TG-HEM led them in every seed."""


def _findings(study: str) -> str:
    return f"results/{study}/tables/findings.md"


def _without_blocks(text: str) -> str:
    return re.sub(r"<!-- (results/[^ ]+) -->.*?<!-- /\1 -->", "", text, flags=re.S)


def _embeddings(study: str) -> list[tuple[str, str, str]]:
    """``(page, the findings block, the section around it without embedded blocks)`` of every page that
    embeds ``study``'s findings."""
    start, end = readme_block_markers(_findings(study))
    found = []
    for page in markdown_pages():
        text = page.read_text()
        if start not in text:
            continue
        assert end in text.split(start, 1)[1], f"{name(page)} opens {start} but does not close it"
        block = text.split(start, 1)[1].split(end, 1)[0]
        found.append((name(page), block, _without_blocks(enclosing_section(text, text.index(start)))))
    assert found, f"no Markdown page embeds {_findings(study)}"
    return found


@pytest.mark.parametrize("study", STUDIES)
def test_every_difference_quoted_in_the_prose_is_one_the_findings_state(study):
    for page, block, section in _embeddings(study):
        generated = set(SIGNED.findall(block))
        quoted = SIGNED.findall(section)
        assert quoted, f"{page}: the results prose quotes no difference: is the section where this test looks?"
        stray = [q for q in quoted if q not in generated]
        assert not stray, f"{page} quotes differences the findings do not state: {stray}"


@pytest.mark.parametrize("study", STUDIES)
def test_the_prose_uses_no_verdict_the_numbers_contradict(study):
    for page, _, section in _embeddings(study):
        prose = section.lower()
        for words in VERDICTS:
            assert words not in prose, f"{page}: {words}"


def _readme_headline() -> str:
    readme = (ROOT / "README.md").read_text()
    assert README_HEADLINE in readme, f"the README has no section {README_HEADLINE!r}"
    return readme.split(README_HEADLINE, 1)[1].split("\n## ", 1)[0]


def test_the_readme_headline_quotes_only_the_benchmark_findings():
    generated = {q for _, block, _ in _embeddings("benchmark") for q in SIGNED.findall(block)}
    headline = _readme_headline()
    stray = [q for q in SIGNED.findall(headline) if q not in generated]
    assert not stray, f"the README's headline quotes differences the benchmark's findings do not state: {stray}"
    for words in VERDICTS:
        assert words not in headline.lower(), words
