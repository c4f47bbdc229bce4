r"""H0 and H1 persistence of the flag filtration of a weighted graph, compiled with numba.

The Vietoris-Rips filtration truncated at ``epsilon`` is the flag (clique) filtration
of the graph of pairs within ``epsilon``: an edge enters at its length, a triangle at
its longest edge. This module computes its H0 and H1 persistence pairs exactly, on
the squared lengths (the same order as the lengths, so the same pairs).

Algorithm (the standard one, specialised to dimensions 0 and 1):

- Edges are ranked by squared length (a radix sort; ties by position: any order
  compatible with the filtration gives the same diagram once zero-length bars are
  dropped).
  Triangles are ordered by the rank of their longest edge, then by the opposite
  vertex.
- H0: Kruskal's algorithm with union-find. An edge joining two components (a
  minimum-spanning-forest edge) kills a bar born at 0; each remaining component
  is an essential bar.
- H1: persistent cohomology, columns = edges from the longest down, each column
  the coboundary of the edge (the triangles on it), pivot = its earliest triangle.
  Spanning-forest edges are skipped (their columns reduce to zero: "clearing").
  An edge ``uv`` with a vertex ``w`` whose edges ``uw`` and ``vw`` both rank below
  ``uv`` (a non-empty lune, in rank order) has the triangle ``uvw`` of diameter
  ``uv`` as its earliest cofacet, and no longer edge has that triangle in its
  coboundary, so the pair (``uv``, ``uvw``) holds with zero persistence without any
  reduction (an "apparent pair"). In the plane, only the few edges with an empty
  lune (a subgraph of the relative neighbourhood graph) need reducing.
- Lunes are found in one pass over the edges in rank order: each vertex keeps its
  adjacency so far as a bitset, and the lune of an edge is the AND of its
  endpoints' bitsets (its lowest bit is the apparent pair's vertex). The same pass
  runs Kruskal on the edges with an empty lune (a non-empty lune means the ends are
  already joined).
- Coboundaries (the triangles on an edge, as keys ``rank * n + vertex``) come from
  the same bitsets and a dense rank matrix for small graphs, else from merging the
  endpoints' sorted neighbour lists. A working column is a sorted array of keys in a
  scratch buffer; adding a column is a sorted symmetric difference.
- Memory is linear in the number of pairs, plus ``n^2 / 8`` bytes of bitsets up to
  ``BITSET_MAX_VERTICES`` vertices (merged sorted lists replace them above) and
  ``4 n^2`` bytes of dense ranks up to ``DENSE_MAX_VERTICES``.

:func:`flag_persistence` checks its input and calls the compiled kernel;
:func:`tghem.rips.fast_rips_diagrams` calls the kernel directly on the graph of
:func:`neighbour_pairs`, valid by construction.

Every value returned is a squared length from the input, so nothing is rounded.
"""
from __future__ import annotations

import numpy as np
import numba as nb

from tghem._validation import _describe, as_float_array, check_int


@nb.njit(cache=True)
def _scan_pairs(points, epsilon, sorted_by_y, fill, pairs, squared):  # pragma: no cover - compiled
    """Count the pairs within ``epsilon`` or, with ``fill``, also write them out."""
    n = points.shape[0]
    reach = epsilon * (1.0 + 1e-9) + 1e-12
    k = 0
    for i in range(n):
        xi = points[i, 0]
        yi = points[i, 1]
        for j in range(i + 1, n):
            dy = yi - points[j, 1]
            if sorted_by_y and -dy > reach:
                break
            dx = xi - points[j, 0]
            value = dx * dx + dy * dy
            if np.sqrt(value) <= epsilon:
                if fill:
                    pairs[k, 0] = i
                    pairs[k, 1] = j
                    squared[k] = value
                k += 1
    return k


@nb.njit(cache=True)
def _is_sorted_by_y(points):  # pragma: no cover - compiled
    for i in range(1, points.shape[0]):
        if points[i, 1] < points[i - 1, 1]:
            return False
    return True


@nb.njit(cache=True)
def count_neighbour_pairs(points, epsilon):  # pragma: no cover - compiled
    """How many pairs :func:`neighbour_pairs` returns, without storing any (its first pass)."""
    return _scan_pairs(points, epsilon, _is_sorted_by_y(points), False, np.empty((0, 2), np.int64), np.empty(0))


@nb.njit(cache=True)
def neighbour_pairs(points, epsilon, count=-1):  # pragma: no cover - compiled
    """Pairs ``i < j`` with ``sqrt(dx*dx + dy*dy) <= epsilon``, in lexicographic order, and ``dx*dx + dy*dy``.

    All pairs are tested (two passes: count, then fill; ``count`` from
    :func:`count_neighbour_pairs` skips the first). When the points come sorted by y,
    each row stops at the first point more than ``epsilon`` (plus a rounding margin)
    further down.
    """
    sorted_by_y = _is_sorted_by_y(points)
    if count < 0:
        count = _scan_pairs(points, epsilon, sorted_by_y, False, np.empty((0, 2), np.int64), np.empty(0))
    pairs = np.empty((count, 2), np.int64)
    squared = np.empty(count, np.float64)
    _scan_pairs(points, epsilon, sorted_by_y, True, pairs, squared)
    return pairs, squared


@nb.njit(cache=True)
def _argsort_nonnegative(values):  # pragma: no cover - compiled
    """Stable argsort of non-negative float64 values by LSD radix sort on their bits.

    Non-negative IEEE doubles order like their bit patterns read as unsigned
    integers. Bytes that are equal in every value (the low mantissa bytes of
    integer squared lengths, say) are skipped, so pixel data takes about 4 passes.
    """
    m = values.shape[0]
    keys = values.view(np.uint64)
    order = np.arange(m)
    spare = np.empty(m, np.int64)
    count = np.empty(257, np.int64)
    for shift in range(0, 64, 8):
        count[:] = 0
        for i in range(m):
            count[((keys[i] >> np.uint64(shift)) & np.uint64(255)) + 1] += 1
        if count.max() == m:
            continue  # this byte is the same in every value
        for digit in range(256):
            count[digit + 1] += count[digit]
        for i in range(m):
            index = order[i]
            digit = (keys[index] >> np.uint64(shift)) & np.uint64(255)
            spare[count[digit]] = index
            count[digit] += 1
        order, spare = spare, order
    return order


@nb.njit(cache=True)
def _find(parent, x):  # pragma: no cover - compiled
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


# Up to this many vertices ranks are looked up in a dense n x n int32 matrix (4 MB at
# the limit) and common neighbours found by AND-ing bitsets; above, by merging sorted
# neighbour lists.
DENSE_MAX_VERTICES = 1024

# Up to this many vertices lunes come from adjacency bitsets (n^2 / 8 bytes: 32 MB at
# the limit); above, from merging sorted neighbour lists, so that memory stays linear
# in the number of pairs for large sparse sets.
BITSET_MAX_VERTICES = 16384

_DE_BRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DE_BRUIJN_INDEX = np.zeros(64, np.int64)
for _bit in range(64):
    _DE_BRUIJN_INDEX[((1 << _bit) * 0x03F79D71B4CB0A89 & 0xFFFFFFFFFFFFFFFF) >> 58] = _bit


@nb.njit(cache=True)
def _lowest_bit(word, table):  # pragma: no cover - compiled
    """Index of the lowest set bit of a non-zero uint64 (de Bruijn multiplication)."""
    isolated = word & (~word + np.uint64(1))
    return table[(isolated * _DE_BRUIJN) >> np.uint64(58)]


@nb.njit(cache=True)
def _insert_triangle(out, k, r, ru, rv, u, v, w, n):  # pragma: no cover - compiled
    """Insert into sorted ``out[:k]`` the key of triangle ``uvw``, given the ranks of ``uv``, ``uw``, ``vw``."""
    if r > ru and r > rv:
        key = r * n + w
    elif ru > rv:
        key = ru * n + v
    else:
        key = rv * n + u
    # Insertion sort: coboundaries are short (the common neighbours of an edge).
    j = k
    while j > 0 and out[j - 1] > key:
        out[j] = out[j - 1]
        j -= 1
    out[j] = key


@nb.njit(cache=True)
def _next_common(neighbour, iu, end_u, iv, end_v):  # pragma: no cover - compiled
    """Positions of the next vertex in both sorted lists ``neighbour[iu:end_u]`` and ``neighbour[iv:end_v]``, or (-1, -1)."""
    while iu < end_u and iv < end_v:
        a = neighbour[iu]
        b = neighbour[iv]
        if a < b:
            iu += 1
        elif b < a:
            iv += 1
        else:
            return iu, iv
    return -1, -1


@nb.njit(cache=True)
def _coboundary(e, u, v, rank, start, neighbour, neighbour_rank, n, out):  # pragma: no cover
    """Keys ``rank(longest edge) * n + opposite vertex`` of the triangles on edge ``e``, sorted, into ``out``.

    Returns how many there are.
    """
    r = rank[e]
    iu, iv = start[u], start[v]
    k = 0
    while True:
        iu, iv = _next_common(neighbour, iu, start[u + 1], iv, start[v + 1])
        if iu < 0:
            return k
        _insert_triangle(out, k, r, neighbour_rank[iu], neighbour_rank[iv], u, v, neighbour[iu], n)
        k += 1
        iu += 1
        iv += 1


@nb.njit(cache=True)
def _coboundary_dense(e, u, v, rank, adjacency, dense_rank, n, table, out):  # pragma: no cover
    """:func:`_coboundary` from adjacency bitsets and a dense rank matrix (small graphs)."""
    r = rank[e]
    k = 0
    for word in range(adjacency.shape[1]):
        common = adjacency[u, word] & adjacency[v, word]
        while common:
            a = word * 64 + _lowest_bit(common, table)
            common &= common - np.uint64(1)
            _insert_triangle(out, k, r, dense_rank[u * n + a], dense_rank[v * n + a], u, v, a, n)
            k += 1
    return k


@nb.njit(cache=True)
def _smallest_lune_vertex(u, v, r, start, neighbour, neighbour_rank):  # pragma: no cover - compiled
    """Smallest vertex joined to ``u`` and ``v`` by edges of rank below ``r``, or -1 (sorted-list merge)."""
    iu, iv = start[u], start[v]
    while True:
        iu, iv = _next_common(neighbour, iu, start[u + 1], iv, start[v + 1])
        if iu < 0:
            return -1
        if neighbour_rank[iu] < r and neighbour_rank[iv] < r:
            return neighbour[iu]
        iu += 1
        iv += 1


@nb.njit(cache=True)
def _symmetric_difference(a, len_a, b, len_b, out):  # pragma: no cover - compiled
    """Sorted ``a[:len_a]`` xor sorted ``b[:len_b]`` into ``out``; returns its length."""
    i = j = k = 0
    while i < len_a and j < len_b:
        if a[i] < b[j]:
            out[k] = a[i]
            i += 1
            k += 1
        elif b[j] < a[i]:
            out[k] = b[j]
            j += 1
            k += 1
        else:
            i += 1
            j += 1
    while i < len_a:
        out[k] = a[i]
        i += 1
        k += 1
    while j < len_b:
        out[k] = b[j]
        j += 1
        k += 1
    return k


@nb.njit(cache=True)
def _flag_persistence(n, pairs, squared, dense_max_vertices, bitset_max_vertices):  # pragma: no cover - compiled
    """:func:`flag_persistence` without the input checks (out-of-range input is undefined behaviour)."""
    m = squared.shape[0]
    order = _argsort_nonnegative(squared)
    rank = np.empty(m, np.int64)
    for k in range(m):
        rank[order[k]] = k

    # Small graphs look ranks up in a dense matrix; large ones in neighbour lists
    # sorted by vertex (in one pass over lexicographic pairs, vertex v receives its
    # smaller neighbours, rows before v, before its larger ones, row v).
    dense = n <= min(dense_max_vertices, bitset_max_vertices)
    start = np.zeros(n + 1, np.int64)
    for e in range(m):
        start[pairs[e, 0] + 1] += 1
        start[pairs[e, 1] + 1] += 1
    max_degree = 0
    for i in range(n):
        max_degree = max(max_degree, start[i + 1])
        start[i + 1] += start[i]
    if dense:
        dense_rank = np.empty(n * n, np.int32)
        for e in range(m):
            dense_rank[pairs[e, 0] * n + pairs[e, 1]] = rank[e]
            dense_rank[pairs[e, 1] * n + pairs[e, 0]] = rank[e]
        neighbour = np.empty(0, np.int64)
        neighbour_rank = np.empty(0, np.int64)
    else:
        dense_rank = np.empty(0, np.int32)
        fill = start[:n].copy()
        neighbour = np.empty(2 * m, np.int64)
        neighbour_rank = np.empty(2 * m, np.int64)
        for e in range(m):
            u = pairs[e, 0]
            v = pairs[e, 1]
            neighbour[fill[u]] = v
            neighbour_rank[fill[u]] = rank[e]
            fill[u] += 1
            neighbour[fill[v]] = u
            neighbour_rank[fill[v]] = rank[e]
            fill[v] += 1

    # One pass in rank order. The lune of an edge (the common neighbours over edges of
    # lower rank) is the AND of its endpoints' adjacency bitsets so far; its smallest
    # vertex makes the apparent pair. Only edges with an empty lune can join two
    # components (H0, Kruskal with union-find) or need an H1 column reduced.
    bitsets = n <= bitset_max_vertices
    words = (n + 63) // 64 if bitsets else 0
    adjacency = np.zeros((n, words), np.uint64)
    table = _DE_BRUIJN_INDEX
    lune_vertex = np.full(m, -1, np.int64)
    in_forest = np.zeros(m, np.bool_)
    parent = np.arange(n)
    h0_deaths = np.empty(max(n - 1, 0), np.float64)
    n_forest = 0
    for k in range(m):
        e = order[k]
        u = pairs[e, 0]
        v = pairs[e, 1]
        if bitsets:
            for w in range(words):
                common = adjacency[u, w] & adjacency[v, w]
                if common:
                    lune_vertex[e] = w * 64 + _lowest_bit(common, table)
                    break
            adjacency[u, v >> 6] |= np.uint64(1) << np.uint64(v & 63)
            adjacency[v, u >> 6] |= np.uint64(1) << np.uint64(u & 63)
        else:
            lune_vertex[e] = _smallest_lune_vertex(u, v, k, start, neighbour, neighbour_rank)
        if lune_vertex[e] >= 0:
            continue
        a = _find(parent, u)
        b = _find(parent, v)
        if a != b:
            parent[a] = b
            in_forest[e] = True
            h0_deaths[n_forest] = squared[e]
            n_forest += 1

    # H1: reduce the remaining columns, longest edge first. The working column
    # alternates between two scratch arrays; reduced columns are kept end to end in
    # one buffer, and the columns owning a pivot are chained per rank of the pivot's
    # longest edge (few columns are ever stored, so chains are short).
    scratch = np.empty(max_degree + 1, np.int64)
    column = np.empty(64, np.int64)
    spare = np.empty(64, np.int64)
    chain_head = np.full(m, -1, np.int64)
    chain_next = np.empty(m, np.int64)
    stored_pivot = np.empty(m, np.int64)
    stored_start = np.zeros(m + 1, np.int64)
    buffer = np.empty(64, np.int64)
    n_stored = 0
    h1_births = np.empty(m, np.float64)
    h1_deaths = np.empty(m, np.float64)
    n_finite = 0
    h1_essential = np.empty(m, np.float64)
    n_essential = 0
    for k in range(m - 1, -1, -1):
        e = order[k]
        if in_forest[e] or lune_vertex[e] >= 0:
            continue
        if dense:
            length = _coboundary_dense(e, pairs[e, 0], pairs[e, 1], rank, adjacency, dense_rank, n, table, scratch)
        else:
            length = _coboundary(e, pairs[e, 0], pairs[e, 1], rank, start, neighbour, neighbour_rank, n, scratch)
        if column.shape[0] < length:
            column = np.empty(2 * length, np.int64)
        column[:length] = scratch[:length]
        pivot = -1
        while length > 0:
            pivot = column[0]
            pivot_rank = pivot // n
            d = order[pivot_rank]
            if lune_vertex[d] == pivot - pivot_rank * n:
                if dense:
                    other_length = _coboundary_dense(
                        d, pairs[d, 0], pairs[d, 1], rank, adjacency, dense_rank, n, table, scratch
                    )
                else:
                    other_length = _coboundary(d, pairs[d, 0], pairs[d, 1], rank, start, neighbour, neighbour_rank, n, scratch)
                other = scratch
            else:
                owner = chain_head[pivot_rank]
                while owner >= 0 and stored_pivot[owner] != pivot:
                    owner = chain_next[owner]
                if owner < 0:
                    break
                other = buffer[stored_start[owner] : stored_start[owner + 1]]
                other_length = other.shape[0]
            if spare.shape[0] < length + other_length:
                spare = np.empty(2 * (length + other_length), np.int64)
            length = _symmetric_difference(column, length, other, other_length, spare)
            column, spare = spare, column
        if length == 0:
            h1_essential[n_essential] = squared[e]
            n_essential += 1
            continue
        pivot_rank = pivot // n
        stored_pivot[n_stored] = pivot
        chain_next[n_stored] = chain_head[pivot_rank]
        chain_head[pivot_rank] = n_stored
        begin = stored_start[n_stored]
        if begin + length > buffer.shape[0]:
            grown = np.empty(max(2 * buffer.shape[0], begin + length), np.int64)
            grown[:begin] = buffer[:begin]
            buffer = grown
        buffer[begin : begin + length] = column[:length]
        stored_start[n_stored + 1] = begin + length
        n_stored += 1
        death = squared[order[pivot_rank]]
        if death > squared[e]:
            h1_births[n_finite] = squared[e]
            h1_deaths[n_finite] = death
            n_finite += 1
    return h0_deaths[:n_forest], n - n_forest, h1_births[:n_finite], h1_deaths[:n_finite], h1_essential[:n_essential]


def flag_persistence(
    n: int,
    pairs,
    squared,
    *,
    dense_max_vertices: int = DENSE_MAX_VERTICES,
    bitset_max_vertices: int = BITSET_MAX_VERTICES,
):
    """H0 and H1 persistence pairs of the flag filtration of a graph on ``n`` vertices.

    Args:
        n: number of vertices, an int >= 0.
        pairs: (m, 2) integer edges ``(i, j)``, ``0 <= i < j < n``, sorted
            lexicographically, no repeats (as :func:`neighbour_pairs` returns them).
        squared: (m,) finite, non-negative filtration values of the edges (squared
            lengths, or any monotone transform of the lengths).
        dense_max_vertices, bitset_max_vertices: up to how many vertices ranks are
            looked up in a dense matrix and lunes found with bitsets (memory
            ``4 n^2`` and ``n^2 / 8`` bytes); above, sorted neighbour lists are
            merged. The result does not depend on them.

    Raises:
        TypeError: ``n`` or a limit not an int, ``pairs`` not an integer array, ``squared``
            not real numbers (text, complex and ragged rows are refused, not converted).
        ValueError: a shape, index, order or value that breaks one of these conditions.

    Returns:
        ``(h0_deaths, h0_essential, h1_births, h1_deaths, h1_essential_births)``: finite
        H0 bars die at the values ``h0_deaths`` (all born at 0); ``h0_essential`` bars
        never die; finite H1 bars are ``(h1_births[k], h1_deaths[k])``, essential ones
        are born at ``h1_essential_births``. H1 bars of zero persistence are left out; H0
        deaths at 0 (two vertices joined by an edge of length 0) are kept.

    Example:
        >>> import numpy as np
        >>> # The unit square's sides (squared length 1) and diagonals (2): three H0
        >>> # bars die at 1, one lives on; the 4-cycle is born at 1 and dies at 2.
        >>> pairs = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])
        >>> squared = np.array([1.0, 2.0, 1.0, 1.0, 2.0, 1.0])  # corners 0,1,2,3 in turn
        >>> h0, h0_essential, births, deaths, essential = flag_persistence(4, pairs, squared)
        >>> h0.tolist(), h0_essential, births.tolist(), deaths.tolist(), essential.tolist()
        ([1.0, 1.0, 1.0], 1, [1.0], [2.0], [])
    """
    n = check_int("n", n, low=0)
    dense_max_vertices = check_int("dense_max_vertices", dense_max_vertices, low=0)
    bitset_max_vertices = check_int("bitset_max_vertices", bitset_max_vertices, low=0)
    if pairs is None or isinstance(pairs, (str, bytes)):
        raise TypeError(f"pairs must be an (m, 2) integer array, got {_describe(pairs)}")
    pairs_array = np.asarray(pairs)
    if pairs_array.shape in ((0,), (0, 2)):
        pairs_array = np.zeros((0, 2), np.int64)
    if pairs_array.ndim != 2 or pairs_array.shape[1] != 2:
        raise ValueError(f"pairs must have shape (m, 2), got shape {pairs_array.shape}")
    if pairs_array.dtype.kind not in "iu":
        raise TypeError(f"pairs must have an integer dtype, got {pairs_array.dtype}")
    pairs_array = np.ascontiguousarray(pairs_array, dtype=np.int64)
    values = as_float_array("squared", squared, f"an ({len(pairs_array)},) array of finite values >= 0")
    values = np.ascontiguousarray(values) + 0.0  # -0.0 to 0.0: the radix sort reads the sign bit
    if values.shape != (len(pairs_array),):
        raise ValueError(f"squared must have shape ({len(pairs_array)},) to match pairs, got shape {values.shape}")
    if len(pairs_array):
        if pairs_array.min() < 0 or pairs_array.max() >= n:
            raise ValueError(f"pairs must index vertices 0..{n - 1}, got values from {pairs_array.min()} to {pairs_array.max()}")
        if np.any(pairs_array[:, 0] >= pairs_array[:, 1]):
            raise ValueError("pairs must have i < j in every row (i, j)")
        keys = pairs_array[:, 0] * n + pairs_array[:, 1]
        if np.any(np.diff(keys) <= 0):
            raise ValueError("pairs must be sorted lexicographically, without repeats")
        if not np.all(np.isfinite(values)) or values.min() < 0:
            raise ValueError(f"squared must be finite and >= 0, got min {values.min()} max {values.max()}")
    return _flag_persistence(n, pairs_array, values, dense_max_vertices, bitset_max_vertices)
