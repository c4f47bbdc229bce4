"""Split protocols: how a dataset's images are divided into train / val / test.

All draws use ``numpy.random.default_rng(seed)`` over ids sorted in a fixed order, so a seed
always gives the same split.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitProtocol:
    """A declarative split protocol.

    Attributes:
        kind: one of
            ``"pool"``: test = ids in ``test_ids``; ``n_train`` then ``n_val`` ids drawn from the
            remaining development pool (VGG cells);
            ``"counts"``: a seeded permutation gives ``n_train`` train, ``n_val`` val, the rest
            test (MBM, ADI);
            ``"official"``: the published train/test split, ``val_fraction`` of train carved
            out as val (crowd sets);
            ``"hint_or_fractions"``: the split each record carries (a split file) or, where none,
            seeded fractions ``train_fraction`` / ``val_fraction`` / rest test.
        params: defaults of the protocol's parameters (overridable at prepare time).
        description: one line for ``--help`` and ``meta.json``.
    """

    kind: str
    params: dict = field(default_factory=dict)
    description: str = ""


def _check_count(name: str, n, limit: int) -> int:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise TypeError(f"{name}: expected a non-negative int, got {n!r}")
    if n > limit:
        raise ValueError(f"{name}: expected at most {limit} (images available), got {n}")
    return int(n)


def check_overrides(protocol: SplitProtocol, overrides: dict) -> dict:
    """The split ``overrides`` (``n_train``, ``val_fraction``...), checked before anything is read:
    each a parameter of ``protocol``, counts non-negative ints, fractions in [0, 1]. Counts are
    checked against the images available, and fractions against each other, when splitting.

    Raises:
        ValueError: an unknown parameter or a value out of range (named).
        TypeError: a count that is not an int.

    Example:
        >>> check_overrides(SplitProtocol("counts", {"n_train": 15, "n_val": 0}), {"n_train": 10})
        {'n_train': 10}
    """
    unknown = set(overrides) - set(protocol.params)
    if unknown:
        raise ValueError(
            f"split parameters: {sorted(unknown)} not used by protocol {protocol.kind!r} "
            f"(accepted: {sorted(protocol.params)})"
        )
    for name, value in overrides.items():
        if value is None:
            continue
        if name.startswith("n_"):
            _check_count(name, value, float("inf"))
        elif name.endswith("_fraction") and (isinstance(value, bool) or not isinstance(value, (int, float))
                                             or not 0 <= value <= 1):
            raise ValueError(f"{name}: expected a fraction in [0, 1], got {value!r}")
    return overrides


def make_splits(
    protocol: SplitProtocol, ids: list[str], hints: dict[str, str | None], seed: int, **overrides
) -> dict[str, list[str]]:
    """Assign every id to a split.

    Args:
        protocol: the dataset's protocol.
        ids: all image ids, in the dataset's canonical order.
        hints: id -> published split ("train"/"test"/"val") or None.
        seed: seed of the draws.
        **overrides: protocol parameters to override (``n_train``, ``n_val``, ``val_fraction``...).

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``; each list in canonical id order.

    Raises:
        ValueError: unknown protocol or parameter, or counts larger than the images available.
    """
    params = dict(protocol.params)
    params.update({k: v for k, v in check_overrides(protocol, overrides).items() if v is not None})
    rng = np.random.default_rng(seed)
    order = {i: n for n, i in enumerate(ids)}
    assign: dict[str, str] = {}

    if protocol.kind == "pool":
        test = set(params["test_ids"])
        pool = [i for i in ids if i not in test]
        n_train = _check_count("n_train", params["n_train"], len(pool))
        n_val = _check_count("n_val", params["n_val"], len(pool) - n_train)
        perm = [pool[k] for k in rng.permutation(len(pool))]
        assign.update({i: "train" for i in perm[:n_train]})
        assign.update({i: "val" for i in perm[n_train : n_train + n_val]})
        assign.update({i: "test" for i in ids if i in test})
    elif protocol.kind == "counts":
        n_train = _check_count("n_train", params["n_train"], len(ids))
        n_val = _check_count("n_val", params["n_val"], len(ids) - n_train)
        perm = [ids[k] for k in rng.permutation(len(ids))]
        for n, i in enumerate(perm):
            assign[i] = "train" if n < n_train else "val" if n < n_train + n_val else "test"
    elif protocol.kind == "official":
        frac = float(params["val_fraction"])
        if not 0 <= frac < 1:
            raise ValueError(f"val_fraction: expected in [0, 1), got {frac}")
        train = [i for i in ids if hints.get(i) == "train"]
        n_val = int(round(frac * len(train)))
        val = {train[k] for k in rng.permutation(len(train))[:n_val]}
        for i in ids:
            h = hints.get(i)
            if h not in ("train", "test"):
                raise ValueError(f"official split: image {i} has no published split (got {h!r})")
            assign[i] = "val" if i in val else h
    elif protocol.kind == "hint_or_fractions":
        bad = {h for h in hints.values() if h is not None and h not in SPLITS}
        if bad:
            raise ValueError(f"split file: expected splits in {SPLITS}, got {sorted(bad)}")
        free = [i for i in ids if hints.get(i) is None]
        ft, fv = float(params["train_fraction"]), float(params["val_fraction"])
        if not (0 <= ft and 0 <= fv and ft + fv <= 1):
            raise ValueError(f"train_fraction + val_fraction: expected fractions summing to <= 1, got {ft} + {fv}")
        nt, nv = int(round(ft * len(free))), int(round(fv * len(free)))
        perm = [free[k] for k in rng.permutation(len(free))]
        for n, i in enumerate(perm):
            assign[i] = "train" if n < nt else "val" if n < nt + nv else "test"
        assign.update({i: h for i, h in hints.items() if h is not None and i in order})
    else:
        raise ValueError(f"protocol.kind: expected pool/counts/official/hint_or_fractions, got {protocol.kind!r}")

    out = {s: [] for s in SPLITS}
    for i in ids:
        if i in assign:
            out[assign[i]].append(i)
    return out
