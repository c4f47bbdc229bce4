"""Argument checks shared by every loss in :mod:`tghem` and :mod:`baselines`.

Each check raises ``TypeError`` (wrong kind of object or dtype) or ``ValueError``
(right kind, wrong shape, range or device) with a message that names the argument
and states what was expected and what was received, so a user sees the cause at
the call site instead of a shape error from deep inside a kernel.
"""
from __future__ import annotations

import functools
import math
import numbers
from typing import Iterable, Optional

import numpy as np
import torch

REDUCTIONS = ("none", "mean", "sum")


def _describe(value, most: int = 80) -> str:
    """A value for an error message: a tensor or array by its shape and dtype, anything else by its
    type and repr, cut at ``most`` characters (a nested list of an image would fill a screen)."""
    if isinstance(value, torch.Tensor):
        return f"Tensor(shape={tuple(value.shape)}, dtype={value.dtype}, device={value.device})"
    if isinstance(value, np.ndarray):
        return f"ndarray(shape={value.shape}, dtype={value.dtype})"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= most else text[:most - 3] + '...'}"


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {choices}, got {_describe(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_real(
    name: str,
    value,
    *,
    low: Optional[float] = None,
    high: Optional[float] = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` as float after checking it is a finite real number in range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    value = float(value)
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    interval = f"{'[' if low_inclusive and low is not None else '('}{lo}, {hi}{']' if high_inclusive and high is not None else ')'}"
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {_describe(value)}")
    return value


def check_int(name: str, value, *, low: Optional[int] = None, high: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {_describe(value)}")
    value = int(value)
    if high is not None and not (low if low is not None else value) <= value <= high:
        raise ValueError(f"{name} must be an int in [{'-inf' if low is None else low}, {high}], got {value}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value}")
    return value


def check_optional_int(name: str, value) -> Optional[int]:
    if value is None:
        return None
    return check_int(name, value)


def check_ignore_index(value) -> Optional[int]:
    """``ignore_index``: None or an int other than the mask's labels 0 and 1 (which would leave
    every background or foreground pixel out of the loss)."""
    value = check_optional_int("ignore_index", value)
    if value in (0, 1):
        raise ValueError(f"ignore_index must not be {value}, a label of the mask (0 background, 1 foreground): every "
                         f"{'background' if value == 0 else 'foreground'} pixel would be ignored; use e.g. 255 or None")
    return value


def as_float_array(name: str, value, expected: str) -> np.ndarray:
    """``value`` as a float64 array (no copy where it already is one), or a ``TypeError`` that names
    ``name`` and ``expected``: ``None``, text, complex numbers and ragged rows are refused, not
    converted (numpy would read ``"1"`` as 1.0 and drop an imaginary part with a warning only).
    Tensors of any real dtype (bfloat16 included) are accepted."""
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be {expected}, got {_describe(value)}")
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise TypeError(f"{name} must be {expected}, got {_describe(value)}")
        value = value.detach().cpu()
        value = value.double() if value.is_floating_point() else value
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "biufO":
            raise TypeError
        return np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError):  # ragged rows; text, complex or None inside an object array
        raise TypeError(f"{name} must be {expected}, got {_describe(value)}") from None


def as_pairs_array(name: str, value, what: str) -> np.ndarray:
    """``value`` as a finite (K, 2) float64 array; ``what`` names a row in errors. An empty input
    (shape (0,) or (0, 2)) gives (0, 2); another empty shape, such as (3, 0), is refused."""
    array = as_float_array(name, value, f"a (K, 2) array of {what}")
    if array.shape in ((0,), (0, 2)):
        return np.zeros((0, 2))
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must have shape (K, 2) of {what}, got shape {array.shape}")
    if not np.isfinite(array).all():
        bad = array[~np.isfinite(array).all(axis=1)][:3].tolist()
        raise ValueError(f"{name} must be finite, got rows {bad}")
    return array


def as_diagram(name: str, value) -> np.ndarray:
    """A persistence diagram as a finite (K, 2) float64 array of (birth, death) rows, each with
    death >= birth (a row below the diagonal would count a negative distance to it)."""
    array = as_pairs_array(name, value, "(birth, death); clamp infinite deaths first")
    below = array[:, 1] < array[:, 0]
    if below.any():
        raise ValueError(f"{name}: expected death >= birth in every row, got rows {array[below][:3].tolist()}")
    return array


def check_logits(pred_logits) -> None:
    """``pred_logits``: floating tensor (B, 1, H, W), B, H, W > 0, all values finite."""
    if not isinstance(pred_logits, torch.Tensor):
        raise TypeError(f"pred_logits must be a torch.Tensor of shape (B, 1, H, W), got {_describe(pred_logits)}")
    if not pred_logits.is_floating_point():
        raise TypeError(f"pred_logits must have a floating dtype (raw logits), got dtype {pred_logits.dtype}")
    if pred_logits.dim() != 4 or pred_logits.shape[1] != 1:
        raise ValueError(
            f"pred_logits must have shape (B, 1, H, W) (one logit channel), got shape {tuple(pred_logits.shape)}"
        )
    if pred_logits.numel() == 0:
        raise ValueError(f"pred_logits must have B, H, W > 0, got shape {tuple(pred_logits.shape)}")
    if not bool(torch.isfinite(pred_logits).all()):
        n_bad = int((~torch.isfinite(pred_logits)).sum())
        raise ValueError(f"pred_logits must be finite, got {n_bad} NaN/inf value(s)")


def _check_map(name: str, value, pred_logits: torch.Tensor) -> None:
    expected = (pred_logits.shape[0],) + tuple(pred_logits.shape[2:])
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, H, W) = {expected}, got {_describe(value)}")
    if value.is_complex():
        raise TypeError(f"{name} must have a real (bool, integer or floating) dtype, got {value.dtype}")
    if tuple(value.shape) != expected:
        raise ValueError(f"{name} must have shape (B, H, W) = {expected} to match pred_logits, got {tuple(value.shape)}")
    if value.device != pred_logits.device:
        raise ValueError(f"{name} must be on the device of pred_logits ({pred_logits.device}), got {value.device}")


@functools.lru_cache(maxsize=None)
def _holds(dtype: torch.dtype, value: int) -> bool:
    """Whether a tensor of ``dtype`` can hold the integer ``value`` exactly."""
    if dtype == torch.bool:
        return value in (0, 1)
    if dtype.is_floating_point:
        return torch.tensor(value, dtype=torch.float64).to(dtype).item() == value
    info = torch.iinfo(dtype)
    return info.min <= value <= info.max


def equals_label(gt_mask: torch.Tensor, value: int, invert: bool = False) -> torch.Tensor:
    """The boolean map ``gt_mask == value`` (``!=`` with ``invert``), compared exactly.

    Where the mask's dtype cannot hold ``value``, no pixel equals it. Torch would instead cast the
    number to the mask's dtype: ``-1`` or ``511`` become 255 in a uint8 mask and ``256`` becomes 0,
    and float16 rounds 2049 to 2048.

    Example:
        >>> mask = torch.tensor([0, 1, 255], dtype=torch.uint8)
        >>> equals_label(mask, 255).tolist(), equals_label(mask, -1).tolist(), (mask == -1).tolist()
        ([False, False, True], [False, False, False], [False, False, True])
    """
    if _holds(gt_mask.dtype, value):
        return gt_mask != value if invert else gt_mask == value
    return torch.full_like(gt_mask, invert, dtype=torch.bool)


def check_mask(gt_mask, pred_logits: torch.Tensor, ignore_index: Optional[int]) -> None:
    """``gt_mask``: (B, H, W) on pred's device, values in {0, 1} or ``ignore_index``."""
    _check_map("gt_mask", gt_mask, pred_logits)
    allowed = (gt_mask == 0) | (gt_mask == 1)
    if ignore_index is not None:
        allowed |= equals_label(gt_mask, ignore_index)
    if not bool(allowed.all()):
        bad = gt_mask[~allowed]
        expected = "{0, 1}" if ignore_index is None else f"{{0, 1}} or ignore_index={ignore_index}"
        raise ValueError(
            f"gt_mask values must be in {expected}, got {bad.numel()} other value(s), e.g. {bad.flatten()[0].item()!r}"
        )


def check_dots(gt_dots, pred_logits: torch.Tensor) -> None:
    """``gt_dots``: (B, H, W) on pred's device, finite and non-negative (non-zero pixel = a point)."""
    _check_map("gt_dots", gt_dots, pred_logits)
    if gt_dots.is_floating_point() and not bool(torch.isfinite(gt_dots).all()):
        raise ValueError("gt_dots must be finite, got NaN/inf value(s)")
    if gt_dots.dtype != torch.bool and bool((gt_dots < 0).any()):
        raise ValueError(f"gt_dots must be non-negative (non-zero pixels are points), got minimum {gt_dots.min().item()!r}")


def check_inputs(
    pred_logits, gt_mask, gt_dots, *, ignore_index: Optional[int], require_dots: bool
) -> torch.Tensor:
    """Validate the common loss call ``loss(pred_logits, gt_mask, gt_dots)``.

    Returns ``pred_logits``, upcast to float32 when it is float16/bfloat16 (as under
    autocast): the losses sum over ~1e5 pixels, which half precision cannot hold.
    """
    check_logits(pred_logits)
    check_mask(gt_mask, pred_logits, ignore_index)
    if gt_dots is None:
        if require_dots:
            raise TypeError("gt_dots must be a torch.Tensor of shape (B, H, W) for this loss, got None")
    else:
        check_dots(gt_dots, pred_logits)
    if pred_logits.dtype in (torch.float16, torch.bfloat16):
        return pred_logits.float()
    return pred_logits
