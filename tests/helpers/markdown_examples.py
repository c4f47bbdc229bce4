"""The Python examples of the Markdown pages (README.md, docs/**/*.md): run as written, checked against their comments.

A line ``print(...)  # prints TEXT`` states what it prints; :func:`output_mismatches` runs an example and
lists every ``print`` line whose output differs from its comment, or that has none.
"""
import doctest
import re
import sys
from collections import defaultdict

PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", flags=re.S)
PRINTS = re.compile(r"#\s*prints\s+(.*?)\s*$")


def python_blocks(markdown: str) -> list[str]:
    """The source of every ```` ```python ```` block of ``markdown``, in order."""
    return PYTHON_BLOCK.findall(markdown)


def stated_outputs(source: str) -> dict[int, str]:
    """``{line number: stated text}`` of the ``print(...)  # prints TEXT`` lines of ``source``."""
    return {n: m.group(1) for n, line in enumerate(source.splitlines(), 1) if (m := PRINTS.search(line))}


def printed_outputs(source: str, name: str) -> dict[int, str]:
    """Run ``source``; ``{line number: what the print calls on that line printed}``, in order."""
    out: dict[int, list[str]] = defaultdict(list)

    def recording_print(*args, sep=" ", end="\n", file=None, flush=False):
        out[sys._getframe(1).f_lineno].append(sep.join(map(str, args)) + end)

    exec(compile(source, name, "exec"), {"print": recording_print, "__name__": "__markdown_example__"})
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
