"""The README's Python examples run as written and print what their comments state; its commands match .ci/run."""
import doctest
import re
import sys
from collections import defaultdict

import pytest

from tests.helpers.paths import ROOT

README = (ROOT / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)
PRINTS = re.compile(r"#\s*prints\s+(.*?)\s*$")


def stated_outputs(source: str) -> dict[int, str]:
    """``{line number: stated text}`` of the ``print(...)  # prints TEXT`` lines of ``source``."""
    return {n: m.group(1) for n, line in enumerate(source.splitlines(), 1) if (m := PRINTS.search(line))}


def printed_outputs(source: str, name: str) -> dict[int, str]:
    """Run ``source``; ``{line number: what the print calls on that line printed}``, in order."""
    out: dict[int, list[str]] = defaultdict(list)

    def recording_print(*args, sep=" ", end="\n", file=None, flush=False):
        out[sys._getframe(1).f_lineno].append(sep.join(map(str, args)) + end)

    exec(compile(source, name, "exec"), {"print": recording_print, "__name__": "__readme__"})
    return {n: "".join(texts) for n, texts in out.items()}


def output_mismatches(source: str, name: str) -> list[str]:
    """Every ``print`` line whose output differs from its ``# prints`` comment, or that has no such comment.

    The comparison is doctest's: ``...`` matches anything, runs of whitespace (newlines included)
    are equal.
    """
    stated, printed = stated_outputs(source), printed_outputs(source, name)
    checker, flags = doctest.OutputChecker(), doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    lines = source.splitlines()
    problems = [f"{name}, line {n}: prints {printed[n]!r} but states nothing (add '# prints ...')"
                for n in sorted(printed) if n not in stated]
    for n, text in sorted(stated.items()):
        got = printed.get(n)
        if got is None:
            problems.append(f"{name}, line {n}: states {text!r} but printed nothing: {lines[n - 1].strip()}")
        elif not checker.check_output(text + "\n", got, flags):
            problems.append(f"{name}, line {n}: states {text!r}, printed {got.strip()!r}")
    return problems


def test_readme_has_examples():
    assert len(PYTHON_BLOCKS) >= 2
    assert all(stated_outputs(block) for block in PYTHON_BLOCKS), "every example states what it prints"


def test_a_wrong_stated_value_is_caught():
    """The check itself: the README's old comment (14.142 where 49.497 is printed) fails, ellipses match."""
    wrong = "import math\nprint(70 / math.sqrt(2))  # prints 14.142...\n"
    assert output_mismatches(wrong, "wrong") == ["wrong, line 2: states '14.142...', printed '49.49747468305832'"]
    assert output_mismatches(wrong.replace("14.142", "49.497"), "right") == []
    loop = "for i in range(3):\n    print(i, [i] * 2)  # prints 0 [0, 0] 1 ...\n"
    assert output_mismatches(loop, "loop") == []
    assert output_mismatches("print('a')\n", "silent") == ["silent, line 1: prints 'a\\n' but states nothing (add '# prints ...')"]
    assert output_mismatches("x = 1  # prints 1\n", "none") == ["none, line 1: states '1' but printed nothing: x = 1  # prints 1"]


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_readme_example_prints_what_it_states(index):
    assert output_mismatches(PYTHON_BLOCKS[index], f"README.md python block {index}") == []


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    bash_blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    install = next(b.strip() for b in bash_blocks if "pip install -r requirements.txt" in b)
    test = next(b.strip() for b in bash_blocks if "pytest" in b)
    assert install in ci
    assert test in ci


@pytest.mark.parametrize("table", [f"results/{study}/tables/{name}.md" for study in ("benchmark", "cells", "synthetic")
                                   for name in ("main", "findings")])
def test_readme_results_table_is_the_committed_one(table):
    """The README embeds each study's main table and findings as committed (refresh: report --readme README.md)."""
    import shutil
    import subprocess

    from experiments.analysis.rendering import readme_block_markers

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip(f"needs a git checkout to read the committed {table}")
    done = subprocess.run(["git", "show", f"HEAD:{table}"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"{table} is not committed yet")
    start, end = readme_block_markers(table)
    assert start in README and end in README, f"the README does not embed {table}"
    block = README.split(start, 1)[1].split(end, 1)[0]
    assert block.strip() == done.stdout.strip()
