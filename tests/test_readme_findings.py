"""The README's sentences about each real study's effects follow its committed numbers.

The effects are generated (``results/<study>/tables/findings.md``, rendered by ``report`` from
``metrics.json``; ``test_committed_results_regenerate_identically`` checks that file) and
embedded in the README (``tests/test_readme.py`` checks the embedded block against the committed
file); the hand-written reading around them may quote a difference only as the generated block
states it, and may not use a verdict the numbers do not support.
"""
import re

import pytest

from experiments.analysis.rendering import readme_block_markers
from tests.helpers.paths import ROOT

README = (ROOT / "README.md").read_text()
SIGNED = re.compile(r"(?<![\w.])[+-]\d+\.\d+")
# Each real study's results section of the README (its heading under "## Results") and its findings.
STUDIES = {"benchmark": "### The benchmark study", "cells": "### The cells study"}


def _findings(study: str) -> str:
    return f"results/{study}/tables/findings.md"


def _section(study: str) -> str:
    """The README's results section of ``study``, its embedded blocks removed."""
    heading = STUDIES[study]
    assert heading in README, f"the README has no section {heading!r}"
    text = README.split(heading, 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    return re.sub(r"<!-- (results/[^ ]+) -->.*?<!-- /\1 -->", "", text, flags=re.S)


def _block(table: str) -> str:
    start, end = readme_block_markers(table)
    assert start in README and end in README, f"the README does not embed {table}"
    return README.split(start, 1)[1].split(end, 1)[0]


@pytest.mark.parametrize("study", STUDIES)
def test_every_difference_quoted_in_the_prose_is_one_the_findings_state(study):
    generated = set(SIGNED.findall(_block(_findings(study))))
    quoted = SIGNED.findall(_section(study))
    assert quoted, "the results prose quotes no difference: is the section where this test looks?"
    stray = [q for q in quoted if q not in generated]
    assert not stray, f"README quotes differences the findings do not state: {stray}"


@pytest.mark.parametrize("study", STUDIES)
def test_the_prose_uses_no_verdict_the_numbers_contradict(study):
    """'match' (the controls 'match' TG-HEM) was written where TG-HEM led them in every seed."""
    prose = _section(study).lower()
    for words in ("controls match", "match it", "significantly better", "significantly worse"):
        assert words not in prose, words
