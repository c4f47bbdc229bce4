"""Stopping a training run: on a pre-emption signal (after a checkpoint) or on a non-finite loss.

SIGTERM (a scheduler's pre-emption) and SIGINT (Ctrl-C) are caught while the loop runs
(:func:`catch_stop_signals`): the loop finishes its iteration, writes ``last.pt`` and raises
:class:`TrainingInterrupted`, whose exit status is 128 + the signal. A NaN or infinite loss
stops at once with :func:`non_finite_loss`'s message, a network output that is not finite
(a diverged run) with :func:`diverged`'s.
"""

from __future__ import annotations

import math
import signal
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(Exception):
    """SIGTERM or SIGINT stopped training after ``last.pt`` was saved; ``exit_code`` is 128 + the signal."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class NonFiniteLossError(ValueError):
    """The loss of an iteration is NaN or infinite; the message names the iteration, weights and D."""


def catch_stop_signals(caught: list[int]) -> dict | None:
    """Until :func:`restore_signals`, SIGTERM and SIGINT append their number to ``caught``, so the
    loop checkpoints after the current iteration and stops; a second one stops at once (the
    previous handler). Only in the main thread (where Python delivers signals); else None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def handler(signum, frame):
        if caught:
            restore_signals(previous)
            signal.raise_signal(signum)
            return
        caught.append(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)
    return previous


def restore_signals(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def diverged(iteration: int, method: str) -> NonFiniteLossError:
    """The error of a network whose output holds NaN or infinite values at (0-based) ``iteration``."""
    return NonFiniteLossError(
        f"iteration {iteration + 1}: the network's output holds NaN or infinite values, before the {method} loss: "
        f"the training diverged (or its weights overflowed); lower train.lr and train anew")


def non_finite_loss(iteration: int, method: str, criterion) -> NonFiniteLossError:
    """The error of a NaN or infinite loss at (0-based) ``iteration``: the crop weights and D of the
    batch, from the method's ``last_crops`` and ``last_stats``."""
    crops = criterion.last_crops
    weights = [round(c["weight"], 6) if math.isfinite(c["weight"]) else c["weight"] for c in crops]
    ds = [round(c["discrepancy"], 6) if math.isfinite(c["discrepancy"]) else c["discrepancy"] for c in crops]
    stats = criterion.last_stats
    return NonFiniteLossError(
        f"iteration {iteration + 1}: the {method} loss is {stats.get('loss')} (pixel term "
        f"{stats.get('seg_loss')}); crop weights {weights}, D {ds}: a setting makes the loss overflow (e.g. "
        f"tghem.lambda_pers x D beyond float32) or the training diverged; lower it (or train.lr) and train anew")
