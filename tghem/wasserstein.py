r"""Exact order-1 Wasserstein distances between finite persistence diagrams.

Both solvers compute

.. math::
    W_1(A, B) = \min_{\text{partial matchings } \gamma}
        \sum_{(a, b) \in \gamma} \lVert a - b \rVert_2
        + \sum_{a \text{ unmatched}} \frac{d_a - b_a}{\sqrt 2}
        + \sum_{b \text{ unmatched}} \frac{d_b - b_b}{\sqrt 2},

the distance with Euclidean ground metric (``internal_p = 2``) in which every point
may be sent to its orthogonal projection onto the diagonal.

- :func:`wasserstein_distance`: any diagrams, as an assignment problem on the
  diagonal-augmented cost matrix solved by scipy's ``linear_sum_assignment``.
- :func:`wasserstein_matching`: the same assignment, returning an optimal
  matching as well (which point goes to which, or to the diagonal), e.g. to draw it.
- :func:`h0_wasserstein_distance`: diagrams whose births are all 0 (H0 of a
  Vietoris-Rips filtration). A point is then its death ``d``; matching costs
  ``|d - d'|`` and the diagonal ``d / sqrt(2)``. This is a matching problem on a
  line, solved exactly in ``O(n log n)`` by dynamic programming over the signed
  number of open matches, kept as a convex piecewise-linear function through its
  slopes in two heaps ("slope trick"); compiled with numba.

Points present in both diagrams cancel first: by Kantorovich-Rubinstein duality
``W_1`` depends on the difference of the two measures only, so equal points are
matched to each other at zero cost in some optimal plan. Rips diagrams of pixel
coordinates repeat values (deaths of 1, sqrt(2), 2, ...) a lot, so this is a large
saving. What is left is sorted before solving, so every distance depends on the two
multisets only, bit for bit, whatever order an engine lists its bars in.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np
from scipy.optimize import linear_sum_assignment

from tghem._validation import as_pairs_array

_DIAGONAL_FACTOR = 1.0 / math.sqrt(2.0)


def _sorted_values(a: np.ndarray, b: np.ndarray):
    """The distinct rows (or values) of ``a`` and ``b`` together, sorted, and each row's index among them.

    A (birth, death) row is viewed as one complex number: numpy sorts complex values
    lexicographically, and a 1-D unique is much faster than ``np.unique(axis=0)``.
    Rows come back as complex values; ``.view(np.float64).reshape(-1, 2)`` restores them.
    """
    stacked = np.concatenate([a, b])
    if stacked.ndim == 2:
        stacked = np.ascontiguousarray(stacked, dtype=np.float64).view(np.complex128).reshape(-1)
    values, inverse = np.unique(stacked, return_inverse=True)
    return values, inverse.reshape(-1)


def _cancel_common_rows(a: np.ndarray, b: np.ndarray):
    """Remove, with multiplicity, the rows (or values) that occur in both arrays.

    What is left comes sorted (lexicographically for rows), so that the distances
    computed from it depend on the two multisets only, bit for bit, not on the order
    in which an engine listed the bars.
    """
    if len(a) + len(b) == 0:
        return a, b
    values, inverse = _sorted_values(a, b)
    count_a = np.bincount(inverse[: len(a)], minlength=len(values))
    count_b = np.bincount(inverse[len(a) :], minlength=len(values))
    common = np.minimum(count_a, count_b)
    rest_a, rest_b = np.repeat(values, count_a - common), np.repeat(values, count_b - common)
    if a.ndim == 2:
        return rest_a.view(np.float64).reshape(-1, 2), rest_b.view(np.float64).reshape(-1, 2)
    return rest_a, rest_b


def wasserstein_distance(diagram_a, diagram_b) -> float:
    """Exact order-1 Wasserstein distance (``internal_p = 2``) between two diagrams.

    Solved as an ``(n + m) x (n + m)`` assignment problem: point ``a_i`` is assigned
    to some ``b_j`` or to its own diagonal copy, point ``b_j`` likewise, and diagonal
    copies pair with each other for free.

    Args:
        diagram_a: (n, 2) array of finite (birth, death) pairs.
        diagram_b: (m, 2) array of finite (birth, death) pairs.

    Example:
        >>> round(wasserstein_distance([[0.0, 4.0], [1.0, 2.0]], [[0.0, 3.0]]), 6)
        1.707107
    """
    a = as_pairs_array("diagram_a", diagram_a, "(birth, death); clamp infinite deaths first")
    b = as_pairs_array("diagram_b", diagram_b, "(birth, death); clamp infinite deaths first")
    a, b = _cancel_common_rows(a, b)
    distance, _, _ = _augmented_assignment(a, b)
    return distance


def _augmented_assignment(a: np.ndarray, b: np.ndarray):
    """Optimal assignment of ``a``'s rows to ``b``'s rows or to the diagonal.

    Returns:
        ``(distance, rows, cols)``: the cost, and the assignment on the ``(n + m) x (n + m)``
        matrix: row ``i < n`` is ``a_i``, column ``j < m`` is ``b_j``; column ``m + i`` is
        ``a_i``'s diagonal copy and row ``n + j`` ``b_j``'s. ``rows``/``cols`` are None when a
        diagram is empty (everything goes to the diagonal).
    """
    n, m = len(a), len(b)
    to_diagonal_a = (a[:, 1] - a[:, 0]) * _DIAGONAL_FACTOR
    to_diagonal_b = (b[:, 1] - b[:, 0]) * _DIAGONAL_FACTOR
    if n == 0 or m == 0:
        return float(to_diagonal_a.sum() + to_diagonal_b.sum()), None, None
    cost = np.zeros((n + m, n + m))
    cost[:n, :m] = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    # Forbidden pairs get a cost larger than any feasible assignment instead of inf,
    # which linear_sum_assignment would reject when a row has a single finite entry.
    forbidden = 1.0 + 2.0 * (to_diagonal_a.sum() + to_diagonal_b.sum()) + cost[:n, :m].sum()
    cost[:n, m:] = forbidden
    cost[n:, :m] = forbidden
    cost[np.arange(n), m + np.arange(n)] = to_diagonal_a
    cost[n + np.arange(m), np.arange(m)] = to_diagonal_b
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].sum()), rows, cols


def _common_row_indices(a: np.ndarray, b: np.ndarray):
    """Indices behind :func:`_cancel_common_rows`: pairs of equal rows, and what is left.

    Returns:
        ``(common_a, common_b, rest_a, rest_b)``: ``a[common_a[k]] == b[common_b[k]]``;
        ``a[rest_a]`` and ``b[rest_b]`` are exactly the arrays :func:`_cancel_common_rows`
        returns (same rows, same order), so an assignment on them costs the same bits.
    """
    empty = np.zeros(0, np.int64)
    if len(a) + len(b) == 0:
        return empty, empty, empty, empty
    _, inverse = _sorted_values(a, b)
    # Rows sorted by value (the order of _cancel_common_rows), equal rows by index.
    order_a = np.lexsort((np.arange(len(a)), inverse[: len(a)]))
    order_b = np.lexsort((np.arange(len(b)), inverse[len(a) :]))
    common_a, common_b, rest_a, rest_b = [empty], [empty], [empty], [empty]
    value_a, value_b = inverse[: len(a)][order_a], inverse[len(a) :][order_b]
    for value in np.unique(inverse):
        in_a, in_b = order_a[value_a == value], order_b[value_b == value]
        k = min(len(in_a), len(in_b))
        common_a.append(in_a[:k])
        common_b.append(in_b[:k])
        rest_a.append(in_a[k:])
        rest_b.append(in_b[k:])
    return tuple(np.concatenate(part).astype(np.int64) for part in (common_a, common_b, rest_a, rest_b))


def wasserstein_matching(diagram_a, diagram_b) -> tuple[float, np.ndarray]:
    """:func:`wasserstein_distance` and an optimal matching that attains it.

    The matching comes from the same diagonal-augmented assignment (after the same
    cancellation of points present in both diagrams, which are matched to each other), so
    the returned distance equals :func:`wasserstein_distance` bit for bit.

    Args:
        diagram_a: (n, 2) array of finite (birth, death) pairs.
        diagram_b: (m, 2) array of finite (birth, death) pairs.

    Returns:
        ``(distance, pairs)``: ``pairs`` is a (K, 2) int64 array of ``(i, j)``: ``a_i``
        matched to ``b_j`` (cost ``|a_i - b_j|``), ``(i, -1)``: ``a_i`` sent to the diagonal,
        ``(-1, j)``: ``b_j`` sent to the diagonal (cost ``(death - birth) / sqrt(2)``). Every
        point of either diagram occurs exactly once; rows are sorted by ``i``, then ``j``.

    Example:
        >>> d, pairs = wasserstein_matching([[0.0, 4.0], [1.0, 2.0]], [[0.0, 3.0]])
        >>> round(d, 6), pairs.tolist()
        (1.707107, [[0, 0], [1, -1]])
    """
    a = as_pairs_array("diagram_a", diagram_a, "(birth, death); clamp infinite deaths first")
    b = as_pairs_array("diagram_b", diagram_b, "(birth, death); clamp infinite deaths first")
    common_a, common_b, rest_a, rest_b = _common_row_indices(a, b)
    distance, rows, cols = _augmented_assignment(a[rest_a], b[rest_b])
    n, m = len(rest_a), len(rest_b)
    pairs = [np.stack([common_a, common_b], axis=1)]
    if rows is None:
        pairs.append(np.stack([rest_a, np.full(n, -1)], axis=1))
        pairs.append(np.stack([np.full(m, -1), rest_b], axis=1))
    else:
        matched = (rows < n) & (cols < m)
        pairs.append(np.stack([rest_a[rows[matched]], rest_b[cols[matched]]], axis=1))
        a_to_diagonal = (rows < n) & (cols >= m)
        pairs.append(np.stack([rest_a[rows[a_to_diagonal]], np.full(a_to_diagonal.sum(), -1)], axis=1))
        b_to_diagonal = (rows >= n) & (cols < m)
        pairs.append(np.stack([np.full(b_to_diagonal.sum(), -1), rest_b[cols[b_to_diagonal]]], axis=1))
    pairs = np.concatenate(pairs).astype(np.int64).reshape(-1, 2)
    return distance, pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def h0_wasserstein_distance(deaths_a, deaths_b) -> float:
    r"""Exact order-1 Wasserstein distance between two diagrams whose births are all 0.

    With every birth 0 a diagram is the multiset of its deaths; matching ``d`` with
    ``d'`` costs ``|d - d'|`` and sending ``d`` to the diagonal ``d / \sqrt 2``.
    In an optimal plan, matched pairs never cross and every interval between
    consecutive values is crossed only by matches of one orientation. Sweeping the
    sorted values, the optimal cost as a function of the signed number ``k`` of
    open matches is convex, so it is kept as its slopes in two heaps (``k < 0`` and
    ``k >= 0``); each value either opens or closes a match (a shift of the
    function) or is sent to the diagonal, and each gap adds ``|k| * gap``. The
    answer is the function at ``k = 0`` after the last value. ``O((n + m) log(n + m))``.

    Args:
        deaths_a: (n,) deaths (>= 0) of the first diagram, or its (n, 2) array with
            births 0.
        deaths_b: (m,) deaths of the second, likewise.

    Example:
        >>> round(h0_wasserstein_distance([4.0, 2.0], [3.0]), 6)
        2.414214
        >>> round(wasserstein_distance([[0, 4.0], [0, 2.0]], [[0, 3.0]]), 6)
        2.414214
    """
    a = np.sort(_h0_deaths("deaths_a", deaths_a))
    b = np.sort(_h0_deaths("deaths_b", deaths_b))
    return float(_h0_distance_sorted(a, b, _DIAGONAL_FACTOR))


@nb.njit(cache=True)
def _heap_push(heap, size, value):  # pragma: no cover - compiled
    """Push onto the min-heap ``heap[:size]``; returns the new size."""
    i = size
    heap[i] = value
    while i > 0:
        parent = (i - 1) // 2
        if heap[parent] <= value:
            break
        heap[i] = heap[parent]
        i = parent
    heap[i] = value
    return size + 1


@nb.njit(cache=True)
def _heap_replace_top(heap, size, value):  # pragma: no cover - compiled
    """Replace the smallest item of ``heap[:size]`` by ``value`` and restore the heap."""
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and heap[child + 1] < heap[child]:
            child += 1
        if heap[child] >= value:
            break
        heap[i] = heap[child]
        i = child
    heap[i] = value


@nb.njit(cache=True)
def _h0_distance_sorted(a, b, factor):  # pragma: no cover - compiled
    # Cancel values present in both (with multiplicity) while merging the sorted arrays.
    values = np.empty(len(a) + len(b), np.float64)
    from_a = np.empty(len(a) + len(b), np.bool_)
    i = j = k = 0
    while i < len(a) or j < len(b):
        if j == len(b) or (i < len(a) and a[i] < b[j]):
            values[k] = a[i]
            from_a[k] = True
            i += 1
            k += 1
        elif i == len(a) or b[j] < a[i]:
            values[k] = b[j]
            from_a[k] = False
            j += 1
            k += 1
        else:
            i += 1
            j += 1
    # Slope trick: slopes for k < 0 in ``left`` (negated, so a min-heap serves as a
    # max-heap), for k >= 0 in ``right``; offsets are added lazily to every slope.
    left = np.empty(k, np.float64)
    right = np.empty(k, np.float64)
    n_left = n_right = 0
    left_offset = right_offset = 0.0
    cost_at_zero = 0.0
    previous = values[0] if k else 0.0
    for index in range(k):
        value = values[index]
        gap = value - previous
        previous = value
        right_offset += gap
        left_offset -= gap
        to_diagonal = factor * value
        if from_a[index]:
            # k -> k + 1 (open an A match, or close a B one), or send to the diagonal.
            if n_left:
                largest_left = -left[0] + left_offset
                cost_at_zero += min(to_diagonal, -largest_left)
                pushed = -(-to_diagonal - left_offset)
                if pushed > left[0]:
                    moved_stored = left[0]
                    _heap_replace_top(left, n_left, pushed)
                else:
                    moved_stored = pushed
                n_right = _heap_push(right, n_right, (-moved_stored + left_offset) - right_offset)
            else:
                cost_at_zero += to_diagonal
                n_right = _heap_push(right, n_right, -to_diagonal - right_offset)
        else:
            if n_right:
                smallest_right = right[0] + right_offset
                cost_at_zero += min(to_diagonal, smallest_right)
                pushed = to_diagonal - right_offset
                if pushed > right[0]:
                    moved_stored = right[0]
                    _heap_replace_top(right, n_right, pushed)
                else:
                    moved_stored = pushed
                n_left = _heap_push(left, n_left, -((moved_stored + right_offset) - left_offset))
            else:
                cost_at_zero += to_diagonal
                n_left = _heap_push(left, n_left, -(to_diagonal - left_offset))
    return cost_at_zero


def _h0_deaths(name: str, value) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 2 and array.shape[1] == 2:
        if array.size and np.any(array[:, 0] != 0):
            raise ValueError(f"{name}: every birth must be 0 for the H0 solver, got births {np.unique(array[:, 0])[:5]}")
        array = array[:, 1]
    if array.ndim != 1 and array.size:
        raise ValueError(f"{name} must have shape (n,) of deaths or (n, 2) with births 0, got shape {array.shape}")
    array = array.reshape(-1)
    if not np.isfinite(array).all() or np.any(array < 0):
        raise ValueError(f"{name}: deaths must be finite and >= 0, got min {array.min()} max {array.max()}")
    return array
