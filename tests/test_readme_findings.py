"""The README's sentences about the real study's effects follow its committed numbers.

The effects are generated (``results/cells/tables/findings.md``, rendered by ``report`` from
``metrics.json``; ``test_committed_results_regenerate_identically`` checks that file) and
embedded in the README; the hand-written reading around them may quote a difference only as the
generated block states it, and may not use a verdict the numbers do not support.
"""
import re
import shutil
import subprocess

import pytest

from experiments.analysis.rendering import readme_block_markers
from tests.helpers.paths import ROOT

README = (ROOT / "README.md").read_text()
FINDINGS = "results/cells/tables/findings.md"
SIGNED = re.compile(r"(?<![\w.])[+-]\d+\.\d+")


def _section() -> str:
    """The README's results section of the cells study, its embedded blocks removed."""
    text = README.split("### The cells study", 1)[1].split("\n### ", 1)[0]
    return re.sub(r"<!-- (results/[^ ]+) -->.*?<!-- /\1 -->", "", text, flags=re.S)


def _block(table: str) -> str:
    start, end = readme_block_markers(table)
    assert start in README and end in README, f"the README does not embed {table}"
    return README.split(start, 1)[1].split(end, 1)[0]


def test_readme_embeds_the_committed_findings():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip(f"needs a git checkout to read the committed {FINDINGS}")
    done = subprocess.run(["git", "show", f"HEAD:{FINDINGS}"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"{FINDINGS} is not committed yet")
    assert _block(FINDINGS).strip() == done.stdout.strip()


def test_every_difference_quoted_in_the_prose_is_one_the_findings_state():
    generated = set(SIGNED.findall(_block(FINDINGS)))
    quoted = SIGNED.findall(_section())
    assert quoted, "the results prose quotes no difference: is the section where this test looks?"
    stray = [q for q in quoted if q not in generated]
    assert not stray, f"README quotes differences the findings do not state: {stray}"


def test_the_prose_uses_no_verdict_the_numbers_contradict():
    """'match' (the controls 'match' TG-HEM) was written where TG-HEM led them in every seed."""
    prose = _section().lower()
    for words in ("controls match", "match it", "significantly better", "significantly worse"):
        assert words not in prose, words
