"""How the report writes numbers: one rule per kind of number, for the tables, the findings and the figures.

* :func:`format_number`: fixed decimals, never ``-0.000``;
* :func:`interval_cell`: a difference and its 95% interval, with as many decimals as it takes for
  the sign of every nonzero number to show (:func:`sign_decimals`), so that an interval printed as
  ``[0.000, +0.003]`` can no longer stand for both ``[-0.0004, +0.0030]`` (which contains 0) and
  ``[+0.0004, +0.0030]`` (which does not);
* :func:`format_spread`, :func:`mean_sd_text`: a standard deviation or range, ``<0.001`` where a
  nonzero one would print as 0 (``0.880 ± 0.000`` read as seeds that all agree);
* :func:`format_p`, :func:`format_value_text`, :func:`seeds_text`, :func:`per_dataset_text`.
"""

from __future__ import annotations

EXTRA_DECIMALS = 3
"""At most this many decimals beyond the column's are added by :func:`sign_decimals`."""

INTERVAL_DECIMALS_TEXT = "more decimals where fewer would print a nonzero difference or interval end as 0"
"""What the tables and the findings say about :func:`interval_cell`'s precision."""


def format_number(value: float | None, decimals: int, signed: bool = False) -> str:
    """``value`` with ``decimals`` decimals (``'-'`` for None or NaN); never ``-0.000``.

    Example:
        >>> format_number(0.0126, 3, signed=True), format_number(-0.0004, 3), format_number(None, 2)
        ('+0.013', '0.000', '-')
    """
    if value is None or value != value:
        return "-"
    text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    if float(text) == 0:  # -0.000 and +0.000 read as a sign where there is none
        text = f"{0:.{decimals}f}"
    return text


def format_spread(value: float | None, decimals: int) -> str:
    """A spread (a standard deviation, a range: >= 0) with ``decimals`` decimals, but ``<0.001`` (at 3)
    where a nonzero one would print as 0, as :func:`format_p` does; ``'-'`` for None or NaN.

    Example:
        >>> format_spread(0.0004, 3), format_spread(0.0, 3), format_spread(0.004, 2), format_spread(None, 1)
        ('<0.001', '0.000', '<0.01', '-')
    """
    text = format_number(value, decimals)
    if value is not None and value == value and value > 0 and float(text) == 0:
        return f"<{10.0 ** -decimals:.{decimals}f}"
    return text


def mean_sd_text(mean: float | None, sd: float | None, decimals: int) -> str:
    """``mean ± sd`` at one precision (:func:`format_spread` for the sd).

    Example:
        >>> mean_sd_text(0.8803, 0.0004, 3), mean_sd_text(12.642, 1.331, 2)
        ('0.880 ± <0.001', '12.64 ± 1.33')
    """
    return f"{format_number(mean, decimals)} ± {format_spread(sd, decimals)}"


def sign_decimals(values, decimals: int) -> int:
    """The fewest decimals, from ``decimals`` to ``decimals + EXTRA_DECIMALS``, at which no nonzero value prints as 0.

    None and NaN are skipped. Where even ``decimals + EXTRA_DECIMALS`` is not enough, that is the
    answer, and :func:`interval_cell` writes the values it still cannot show in scientific notation.

    Example:
        >>> sign_decimals([0.0014, -0.0003, 0.0031], 3), sign_decimals([0.0014, 0.0, 0.0031], 3)
        (4, 3)
    """
    shown = [v for v in values if v is not None and v == v and v != 0]
    for d in range(decimals, decimals + EXTRA_DECIMALS):
        if all(float(f"{v:.{d}f}") != 0 for v in shown):
            return d
    return decimals + EXTRA_DECIMALS


def interval_cell(stats: dict, decimals: int) -> str:
    """A mean difference and its 95% interval (seed level: t; image level: bootstrap): ``+0.003 [-0.002, +0.009]``.

    ``decimals`` is the column's precision; the cell gets more (:func:`sign_decimals`) where a nonzero
    mean or end would otherwise print as 0, so the sign of each, and whether the interval contains
    0, can be read from the text. ``'-'`` where there is no mean.

    Example:
        >>> interval_cell({"mean_diff": 0.0014, "ci95_low": -0.0003, "ci95_high": 0.0031}, 3)
        '+0.0014 [-0.0003, +0.0031]'
        >>> interval_cell({"mean_diff": 0.0126, "ci95_low": 0.004, "ci95_high": 0.021}, 3)
        '+0.013 [+0.004, +0.021]'
    """
    mean, low, high = stats["mean_diff"], stats["ci95_low"], stats["ci95_high"]
    if mean is None:
        return "-"
    d = sign_decimals((mean, low, high), decimals)

    def number(value: float) -> str:
        text = format_number(value, d, signed=True)
        return f"{value:+.0e}" if value != 0 and float(text) == 0 else text

    return number(mean) + (f" [{number(low)}, {number(high)}]" if low is not None else "")


def format_p(p: float | None) -> str:
    """A p-value with 3 decimals; ``<0.001`` where that would print 0.000; ``-`` for None."""
    if p is None:
        return "-"
    return "<0.001" if p < 0.0005 else f"{p:.3f}"


def format_value_text(value: float) -> str:
    """A swept value as the tables print it (0.01, 0.5, 0)."""
    return f"{value:g}"


def seeds_text(counts) -> str:
    """``'3 seeds'``, ``'1 seed'``, ``'2 or 3 seeds'`` from the seed counts of a table or panel."""
    counts = sorted(set(counts))
    joined = " or ".join(str(n) for n in counts)
    return f"{joined} seed" + ("" if counts == [1] else "s")


def per_dataset_text(values: dict, unit: str = "") -> str:
    """``'5 px'`` where every dataset has the same value, else ``'5 px (vgg_cells, adi), 8 px (mbm)'``."""
    groups: dict[str, list[str]] = {}
    for dataset, value in values.items():
        groups.setdefault(f"{value:g}{unit}", []).append(dataset)
    return next(iter(groups)) if len(groups) == 1 else ", ".join(f"{v} ({', '.join(d)})" for v, d in groups.items())
