"""Topological discrepancy between ground-truth dots and predicted components.

The pieces, each usable on its own:

- :func:`dot_points`: the points of a dot map (every non-zero pixel);
- :func:`component_centroids`: one point per predicted blob;
- :func:`rips_diagrams`: H0 and H1 persistence diagrams of the Vietoris-Rips
  filtration of a point set, truncated at ``epsilon``;
- :func:`diagram_distance`: order-1 Wasserstein distance between diagrams;
- :class:`TopoGuide`: all of the above for one crop or a batch; :meth:`TopoGuide.explain`
  returns every intermediate (diagrams, distances, matchings) of one crop.

Points are (x, y) = (column, row) in pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple, Union

import cv2
import numpy as np
import torch

from tghem._validation import as_diagram, check_bool, check_choice, check_real
from tghem.parallel import PendingMap, Workers, check_workers, parallel_map, submit_map
from tghem.points import as_points
from tghem.rips import fast_rips_diagrams, gudhi_rips_diagrams, load_engine, ripser_rips_diagrams
from tghem.wasserstein import checked_wasserstein_distance, h0_wasserstein_distance, wasserstein_matching

ArrayLike = Union[np.ndarray, torch.Tensor]

TOPO_REDUCTIONS = ("sum", "mean", "H1")
CENTROID_MODES = ("contour", "component")
BACKENDS = ("fast", "ripser", "gudhi")
_FLT_EPSILON = float(np.finfo(np.float32).eps)
# Below this many ground-truth points in a whole batch, sending crops to other
# processes costs more than it saves.
_MIN_POINTS_FOR_WORKERS = 64
_ONE_SIXTH = 0.16666666666666666666666666666667  # the literal cv2.moments scales by


def _as_array(name: str, value: ArrayLike, ndim: int) -> np.ndarray:
    """``value`` as a numpy array of ``ndim`` dimensions with a bool, integer or floating dtype,
    every value finite. A tensor of a dtype numpy lacks (bfloat16) is converted to float32 (which
    holds its values exactly), so every floating dtype is accepted."""
    shape = "(H, W)" if ndim == 2 else "(B, H, W)"
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()
        value = value.numpy()
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or torch.Tensor of shape {shape}, got {type(value).__name__}")
    if value.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape}, got shape {value.shape}")
    if value.dtype.kind not in "biuf":
        raise TypeError(f"{name} must have a bool, integer or floating dtype, got {value.dtype}")
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        raise ValueError(f"{name} must be finite, got {int(np.count_nonzero(~np.isfinite(value)))} NaN/inf value(s)")
    return value


def _as_2d_array(name: str, value: ArrayLike) -> np.ndarray:
    return _as_array(name, value, 2)


def dot_points(dots: ArrayLike) -> np.ndarray:
    """Every non-zero pixel of a dot map as a point (x = column, y = row).

    Args:
        dots: (H, W) array; non-zero pixels are points (a count > 1 still gives
            one point: the dot map of the reference has one entry per pixel).

    Returns:
        (N, 2) float64 array of (x, y), in row-major pixel order.

    Example:
        >>> import numpy as np
        >>> dots = np.zeros((4, 5)); dots[1, 3] = 1; dots[2, 0] = 1
        >>> dot_points(dots).tolist()
        [[3.0, 1.0], [0.0, 2.0]]
    """
    dots = _as_2d_array("dots", dots)
    nonzero = dots != 0
    if nonzero.size == 0:
        return np.zeros((0, 2))
    # cv2.findNonZero scans in the same row-major order as np.nonzero, several times faster.
    found = cv2.findNonZero(nonzero.view(np.uint8))
    if found is None:
        return np.zeros((0, 2))
    return found.reshape(-1, 2).astype(np.float64)


def component_centroids(binary: ArrayLike, mode: str = "contour") -> np.ndarray:
    """One point per predicted blob of a binary map.

    Args:
        binary: (H, W) array; non-zero pixels are foreground.
        mode: ``'contour'`` (the reference): for each external contour found by
            OpenCV, the centroid ``(m10/m00, m01/m00)`` of the contour polygon's
            moments, rounded to the nearest integer (ties to even, as Python's
            ``round``); contours of zero area (single pixels, one-pixel-wide
            lines) are skipped. ``'component'``: the pixel-area centroid of every
            8-connected component, none skipped, not rounded.

    Returns:
        (M, 2) float64 array of (x, y): in OpenCV's contour order (``'contour'``), in the
        label order of ``cv2.connectedComponentsWithStats`` (``'component'``; its block-based
        labelling does not always number components in raster order).

    The polygon moments of all contours are computed at once with numpy, with the
    arithmetic of ``cv2.moments`` (the same shoelace sums, the same scaling by
    0.5 and 1/6, the same sign flip and zero-area test), so the points are bit for
    bit those of calling ``cv2.moments`` on every contour; a test checks it.

    Example:
        >>> import numpy as np
        >>> pred = np.zeros((8, 8), np.uint8)
        >>> pred[1:4, 1:4] = 1   # 3x3 blob: centroid (2, 2)
        >>> pred[6, 6] = 1       # single pixel: zero contour area, skipped
        >>> component_centroids(pred).tolist()
        [[2.0, 2.0]]
        >>> component_centroids(pred, mode="component").tolist()
        [[2.0, 2.0], [6.0, 6.0]]
    """
    binary = _as_2d_array("binary", binary)
    check_choice("mode", mode, CENTROID_MODES)
    image = (binary != 0).astype(np.uint8)
    if image.size == 0:  # OpenCV's connected components crash (SIGSEGV) on an empty image
        return np.zeros((0, 2))
    if mode == "component":
        n, _, _, centroids = cv2.connectedComponentsWithStats(image, connectivity=8)
        return centroids[1:n].astype(np.float64)
    contours, _ = cv2.findContours(image, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((0, 2))
    return _contour_centroids(contours)


def _contour_centroids(contours) -> np.ndarray:
    lengths = np.fromiter((len(c) for c in contours), np.int64, len(contours))
    vertices = np.concatenate(contours).reshape(-1, 2).astype(np.float64)
    starts = np.zeros(len(lengths), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    previous = np.arange(-1, len(vertices) - 1)
    previous[starts] = starts + lengths - 1  # each polygon closes on itself
    x, y = vertices[:, 0], vertices[:, 1]
    x_prev, y_prev = x[previous], y[previous]
    cross = x_prev * y - x * y_prev
    a00 = np.add.reduceat(cross, starts)
    a10 = np.add.reduceat(cross * (x_prev + x), starts)
    a01 = np.add.reduceat(cross * (y_prev + y), starts)
    keep = np.abs(a00) > _FLT_EPSILON  # cv2.moments returns all-zero moments below it
    sign = np.where(a00[keep] > 0, 1.0, -1.0)
    m00 = a00[keep] * (0.5 * sign)
    m10 = a10[keep] * (_ONE_SIXTH * sign)
    m01 = a01[keep] * (_ONE_SIXTH * sign)
    return np.stack([np.rint(m10 / m00), np.rint(m01 / m00)], axis=1)


_ENGINES = {"fast": fast_rips_diagrams, "ripser": ripser_rips_diagrams, "gudhi": gudhi_rips_diagrams}
"""The Rips engine of each backend."""


def _check_rips(epsilon, top_dimension, backend) -> float:
    """The Rips settings checked (``epsilon`` returned as a float)."""
    check_choice("backend", backend, BACKENDS)
    epsilon = check_real("epsilon", epsilon, low=0.0, low_inclusive=False)
    check_bool("top_dimension", top_dimension)
    return epsilon


def rips_diagrams(
    points: np.ndarray, epsilon: float, *, top_dimension: bool = True, backend: str = "fast"
) -> Tuple[np.ndarray, np.ndarray]:
    """H0 and H1 persistence diagrams of the Vietoris-Rips filtration of ``points``.

    The filtration keeps edges of length at most ``epsilon`` and simplices up to
    dimension 2; deaths at infinity are clamped to ``epsilon``, so a bar born at
    ``epsilon`` that never dies has zero length (it costs nothing in the distance).

    Args:
        points: (N, 2) coordinates; N may be 0.
        epsilon: maximum edge length, > 0.
        top_dimension: compute homology in the complex's top dimension as well
            (gudhi's ``persistence_dim_max=True``). gudhi's default (``False``)
            skips it, so a point set with no edge under ``epsilon`` (one point,
            or points all farther apart) gets an empty H0 instead of one bar
            ``(0, epsilon)`` per point. ``True`` gives the diagrams of the
            definition; ``False`` reproduces code that calls gudhi with defaults.
        backend: ``'fast'`` (:func:`tghem.rips.fast_rips_diagrams`: neighbour
            graph + compiled H0/H1 persistence), ``'ripser'``
            (:func:`tghem.rips.ripser_rips_diagrams`: the same graph, giotto-ph's
            ripser) or ``'gudhi'`` (the reference: gudhi's ``RipsComplex``). All
            give the same diagrams.

    Returns:
        ``(h0, h1)``, each a (K, 2) float64 array of (birth, death).

    Example:
        >>> import numpy as np
        >>> h0, h1 = rips_diagrams(np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]]), 50.0)
        >>> sorted(h0[:, 1].tolist()), h1.shape
        ([3.0, 4.0, 50.0], (0, 2))
    """
    epsilon = _check_rips(epsilon, top_dimension, backend)
    return _ENGINES[backend](points, epsilon, top_dimension=top_dimension)


def diagram_distance(diagram_a: np.ndarray, diagram_b: np.ndarray, *, backend: str = "fast") -> float:
    """Order-1 Wasserstein distance between two finite persistence diagrams.

    The ground metric is Euclidean (``internal_p = 2``) and every point may be
    matched to its projection onto the diagonal, at cost ``(death - birth) / sqrt(2)``.

    Args:
        diagram_a, diagram_b: (K, 2) arrays of finite (birth, death).
        backend: ``'fast'`` (or ``'ripser'``, which differs only in its Rips
            engine): :func:`tghem.wasserstein.h0_wasserstein_distance` when
            every birth is 0 (H0 diagrams), else
            :func:`tghem.wasserstein.wasserstein_distance` (scipy's assignment
            solver for small diagrams, an exact sparse transport for large ones,
            in memory linear in the points); ``'gudhi'``: gudhi's optimal-transport
            solver (POT, dense), the reference. All are exact.

    Example:
        >>> import numpy as np
        >>> d = diagram_distance(np.array([[0.0, 2.0]]), np.zeros((0, 2)))
        >>> round(d, 6), round(2 / 2 ** 0.5, 6)
        (1.414214, 1.414214)
    """
    check_choice("backend", backend, BACKENDS)
    return _diagram_distance(as_diagram("diagram_a", diagram_a), as_diagram("diagram_b", diagram_b), backend)


def _diagram_distance(diagram_a: np.ndarray, diagram_b: np.ndarray, backend: str) -> float:
    """:func:`diagram_distance` of checked diagrams (as the Rips engines return them)."""
    if len(diagram_a) == 0 and len(diagram_b) == 0:
        return 0.0
    if backend != "gudhi":
        if not diagram_a[:, 0].any() and not diagram_b[:, 0].any():
            return h0_wasserstein_distance(diagram_a[:, 1], diagram_b[:, 1])
        return checked_wasserstein_distance(diagram_a, diagram_b)
    from gudhi.wasserstein import wasserstein_distance as gudhi_wasserstein

    return float(gudhi_wasserstein(diagram_a, diagram_b, order=1.0, internal_p=2.0))


def _as_point_sets(gt_points, pred_points) -> Tuple[np.ndarray, np.ndarray]:
    """Both point sets as finite (N, 2) float64 arrays, a bad one refused by its own name."""
    return as_points("gt_points", gt_points), as_points("pred_points", pred_points)


def points_discrepancy(
    gt_points: np.ndarray,
    pred_points: np.ndarray,
    epsilon: float = 50.0,
    reduction: str = "sum",
    *,
    top_dimension: bool = False,
    backend: str = "fast",
) -> float:
    """:math:`D` between two point sets given as (N, 2) arrays; see :class:`TopoGuide`.

    ``top_dimension=False`` (default) uses the reference code's diagrams (gudhi's defaults), as
    :class:`TopoGuide` does; ``True`` the diagrams of the definition.
    """
    gt_points, pred_points = _as_point_sets(gt_points, pred_points)
    epsilon = _check_rips(epsilon, top_dimension, backend)
    return _discrepancy(gt_points, pred_points, epsilon, reduction, top_dimension, backend)


def _discrepancy(gt_points: np.ndarray, pred_points: np.ndarray, epsilon: float, reduction: str, top_dimension: bool,
                 backend: str) -> float:
    """:func:`points_discrepancy` of checked arguments: each crop's work, with no check repeated."""
    engine = _ENGINES[backend]
    gt_h0, gt_h1 = engine(gt_points, epsilon, top_dimension=top_dimension)
    pred_h0, pred_h1 = engine(pred_points, epsilon, top_dimension=top_dimension)
    h1 = _diagram_distance(pred_h1, gt_h1, backend)
    if reduction == "H1":  # the H0 distance is not needed
        return h1
    return combine_distances(_diagram_distance(pred_h0, gt_h0, backend), h1, reduction)


def combine_distances(w_h0: float, w_h1: float, reduction: str = "sum") -> float:
    """:math:`D` from the H0 and H1 Wasserstein distances: ``'sum'`` ``w_h0 + w_h1``, ``'mean'`` half
    of it, ``'H1'`` ``w_h1`` alone (the one place the reduction is applied).

    Example:
        >>> combine_distances(3.0, 1.0), combine_distances(3.0, 1.0, "mean"), combine_distances(3.0, 1.0, "H1")
        (4.0, 2.0, 1.0)
    """
    check_choice("reduction", reduction, TOPO_REDUCTIONS)
    if reduction == "H1":
        return w_h1
    total = w_h0 + w_h1
    return total / 2.0 if reduction == "mean" else total


@dataclass(frozen=True)
class TopoExplanation:
    """Everything :math:`D` of one crop is made of (:meth:`TopoGuide.explain`).

    Attributes:
        gt_points, pred_points: (N, 2) and (M, 2) float64 points (x, y).
        gt_h0, gt_h1, pred_h0, pred_h1: the persistence diagrams, (K, 2) float64 rows (birth, death).
        w_h0, w_h1: the order-1 Wasserstein distances prediction-to-ground-truth in H0 and H1.
        h0_pairs, h1_pairs: an optimal matching of each, (K, 2) int64 rows ``(pred index, gt index)``
            with -1 for the diagonal (:func:`tghem.wasserstein.wasserstein_matching`).
        discrepancy: :math:`D`, equal bit for bit to what training computes for the crop.
    """

    gt_points: np.ndarray
    pred_points: np.ndarray
    gt_h0: np.ndarray
    gt_h1: np.ndarray
    pred_h0: np.ndarray
    pred_h1: np.ndarray
    w_h0: float
    w_h1: float
    h0_pairs: np.ndarray
    h1_pairs: np.ndarray
    discrepancy: float


def _crop_discrepancy_task(task) -> float:
    # Runs in a worker process: the prediction travels as packed bits (H*W/8 bytes).
    gt_points, packed_pred, shape, centroid_mode, epsilon, reduction, top_dimension, backend = task
    pred_binary = np.unpackbits(packed_pred, count=shape[0] * shape[1]).reshape(shape)
    pred_points = component_centroids(pred_binary, centroid_mode)
    # The guide checked its settings, and both point sets are made here: nothing to check again.
    return _discrepancy(gt_points, pred_points, epsilon, reduction, top_dimension, backend)


class TopoGuide:
    r"""Topological discrepancy :math:`D` between GT dots and predicted blobs of one crop.

    .. math::
        D = W_1\big(\mathrm{PD}_0(P), \mathrm{PD}_0(G)\big) + W_1\big(\mathrm{PD}_1(P), \mathrm{PD}_1(G)\big)

    where :math:`G` are the ground-truth points (non-zero pixels of the dot map),
    :math:`P` the centroids of the predicted components
    (:func:`component_centroids`), :math:`\mathrm{PD}_k` the dimension-k diagram of
    the Vietoris-Rips filtration truncated at :math:`\epsilon` (infinite deaths
    clamped to :math:`\epsilon`), and :math:`W_1` the order-1 Wasserstein distance
    with Euclidean ground metric, points free to match the diagonal. :math:`D` is not
    differentiable: TG-HEM uses it only to weight each crop.

    Args:
        epsilon: maximum edge length of the Rips filtration, in pixels, > 0.
        reduction: ``'sum'`` (H0 + H1, the reference), ``'mean'`` (half of it) or
            ``'H1'`` (the H1 term only).
        centroid_mode: ``'contour'`` (reference) or ``'component'``; see
            :func:`component_centroids`.
        backend: ``'fast'`` (default): neighbour graph + compiled H0/H1
            persistence (:mod:`tghem.flag_persistence`), the specialised H0
            Wasserstein solver and, for H1, scipy's assignment solver on small
            diagrams and an exact sparse transport on large ones (see
            :mod:`tghem.rips`, :mod:`tghem.wasserstein`); ``'ripser'``: the same
            with giotto-ph's ripser as the persistence engine; ``'gudhi'``:
            gudhi's Rips complex and Wasserstein distance, the paper's reference
            path. All give the same :math:`D` (tests hold them to 1e-9 relative;
            the diagrams of ``'fast'`` equal gudhi's bit for bit).
        top_dimension: see :func:`rips_diagrams`. ``False`` (default) computes what the
            authors' reference code computes (gudhi's ``compute_persistence()`` with its
            defaults): the homology of the complex's top dimension is skipped, so a set of
            points with no pair within ``epsilon`` (for example a single point) has empty
            diagrams, and one ground-truth dot with no prediction gives :math:`D = 0`.
            ``True`` gives the diagrams of the definition (one bar ``(0, epsilon)`` per
            isolated point: that crop gets :math:`D = 50/\sqrt{2} = 35.36` at
            ``epsilon = 50``). The two agree on crops where every point has a neighbour
            within ``epsilon`` and the complex has a triangle; with edges but no triangle
            (a ring of points with no diagonal within ``epsilon``) ``False`` also drops H1.
        workers: processes over which :meth:`discrepancies` spreads the crops of a
            batch: ``'auto'`` (default: the usable cores, shared among torchrun's
            local ranks, at most one per crop), ``0``/``1`` (in this process) or an
            int; see :mod:`tghem.parallel`. Results do not depend on it.

    Cost: the fast path grows with the number of pairs of points within
    ``epsilon``. A 256 x 256 crop of a near-converged network (~130 blobs) takes
    about 1 ms on one core, one of an untrained network (~700 blobs, ~22,000 pairs)
    about 7 ms; a crop packed with several thousand tiny blobs (millions of pairs)
    takes about a second and hundreds of MB; a 4096 x 4096 crop of 65,536 dots about
    1.4 s and 1.3 GB. It stays exact: nothing is capped or approximated, and memory
    grows linearly with the pairs and the diagram points. Past
    ``tghem.rips.LARGE_GRAPH_PAIRS`` pairs, or ``tghem.wasserstein.LARGE_TRANSPORT_POINTS``
    distinct H1 points, a :class:`RuntimeWarning` gives the estimated time and memory
    before the work starts.

    Example:
        >>> import numpy as np
        >>> gt = np.zeros((64, 64)); gt[10, 10] = 1; gt[10, 30] = 1
        >>> pred = np.zeros((64, 64), np.uint8); pred[8:13, 8:13] = 1   # finds one of two cells
        >>> # Definition: H0 {(0,20), (0,50)} vs {(0,50)}: the bar (0,20) goes to the diagonal.
        >>> round(TopoGuide(epsilon=50.0, top_dimension=True)(gt, pred), 6), round(20 / 2 ** 0.5, 6)
        (14.142136, 14.142136)
        >>> # Reference (default): one predicted point has an empty H0, so both GT bars go to the diagonal.
        >>> round(TopoGuide(epsilon=50.0)(gt, pred), 6), round((20 + 50) / 2 ** 0.5, 6)
        (49.497475, 49.497475)
    """

    def __init__(
        self,
        epsilon: float = 50.0,
        reduction: str = "sum",
        centroid_mode: str = "contour",
        backend: str = "fast",
        top_dimension: bool = False,
        workers: Workers = "auto",
    ) -> None:
        self.epsilon = check_real("epsilon", epsilon, low=0.0, low_inclusive=False)
        self.reduction = check_choice("reduction", reduction, TOPO_REDUCTIONS)
        self.centroid_mode = check_choice("centroid_mode", centroid_mode, CENTROID_MODES)
        self.backend = check_choice("backend", backend, BACKENDS)
        self.top_dimension = check_bool("top_dimension", top_dimension)
        self.workers = check_workers(workers)

    def __repr__(self) -> str:
        return (
            f"TopoGuide(epsilon={self.epsilon}, reduction={self.reduction!r}, "
            f"centroid_mode={self.centroid_mode!r}, backend={self.backend!r}, "
            f"top_dimension={self.top_dimension}, workers={self.workers!r})"
        )

    def points_discrepancy(self, gt_points: np.ndarray, pred_points: np.ndarray) -> float:
        """:math:`D` between two point sets given directly as (N, 2) arrays of (x, y)."""
        return points_discrepancy(
            gt_points, pred_points, self.epsilon, self.reduction, top_dimension=self.top_dimension, backend=self.backend
        )

    def explain(self, gt_points: np.ndarray, pred_points: np.ndarray) -> TopoExplanation:
        """The diagrams, distances, optimal matchings and :math:`D` of two point sets, as this guide
        computes them in training (same ``epsilon``, ``top_dimension``, backend and reduction).

        Example:
            >>> import numpy as np
            >>> gt = np.array([[10.0, 10.0], [30.0, 10.0]]); pred = np.array([[10.0, 10.0]])
            >>> e = TopoGuide(epsilon=50.0).explain(gt, pred)
            >>> # A lone predicted point has an empty diagram (top_dimension=False): both GT bars go to the diagonal.
            >>> e.gt_h0.tolist(), e.pred_h0.tolist(), e.h0_pairs.tolist()
            ([[0.0, 20.0], [0.0, 50.0]], [], [[-1, 0], [-1, 1]])
            >>> e.discrepancy == TopoGuide(epsilon=50.0).points_discrepancy(gt, pred)
            True
        """
        gt_points, pred_points = _as_point_sets(gt_points, pred_points)
        engine = _ENGINES[self.backend]
        gt_h0, gt_h1 = engine(gt_points, self.epsilon, top_dimension=self.top_dimension)
        pred_h0, pred_h1 = engine(pred_points, self.epsilon, top_dimension=self.top_dimension)
        # The argument order of points_discrepancy: the prediction first.
        w_h0 = _diagram_distance(pred_h0, gt_h0, self.backend)
        w_h1 = _diagram_distance(pred_h1, gt_h1, self.backend)
        return TopoExplanation(
            gt_points=gt_points, pred_points=pred_points, gt_h0=gt_h0, gt_h1=gt_h1, pred_h0=pred_h0, pred_h1=pred_h1,
            w_h0=w_h0, w_h1=w_h1, h0_pairs=wasserstein_matching(pred_h0, gt_h0)[1],
            h1_pairs=wasserstein_matching(pred_h1, gt_h1)[1],
            discrepancy=combine_distances(w_h0, w_h1, self.reduction))

    def __call__(self, gt_dots: ArrayLike, pred_binary: ArrayLike) -> float:
        """:math:`D` of one crop from its (H, W) dot map and (H, W) binary prediction."""
        gt_dots = _as_2d_array("gt_dots", gt_dots)
        pred_binary = _as_2d_array("pred_binary", pred_binary)
        if gt_dots.shape != pred_binary.shape:
            raise ValueError(
                f"gt_dots and pred_binary must have the same shape (H, W), got {gt_dots.shape} and {pred_binary.shape}"
            )
        return self.points_discrepancy(dot_points(gt_dots), component_centroids(pred_binary, self.centroid_mode))

    def discrepancies(self, gt_dots: ArrayLike, pred_binary: ArrayLike) -> np.ndarray:
        """:math:`D` of every crop of a batch: (B, H, W) and (B, H, W) -> (B,) float64.

        Ground-truth points are extracted here; centroids, diagrams and distances of
        the crops run over ``workers`` processes (this one included).
        """
        tasks, costs, workers = self._tasks(gt_dots, pred_binary)
        return np.asarray(parallel_map(_crop_discrepancy_task, tasks, workers, costs=costs), dtype=np.float64)

    def submit(self, gt_dots: ArrayLike, pred_binary: ArrayLike) -> "PendingDiscrepancies":
        """Start :meth:`discrepancies` in the worker processes and return at once.

        The calling process is left free for other work (TGHEM's pixel loss) until
        ``.result()``, which returns what :meth:`discrepancies` would, bit for bit. With one
        usable process (``workers`` 0 or 1, or one core), nothing runs in the background and
        ``.result()`` computes the batch.
        """
        tasks, costs, workers = self._tasks(gt_dots, pred_binary)
        return PendingDiscrepancies(submit_map(_crop_discrepancy_task, tasks, workers, costs=costs))

    def _tasks(self, gt_dots: ArrayLike, pred_binary: ArrayLike) -> tuple[list, list, Workers]:
        """The per-crop tasks of a batch, their cost estimates and the workers to use (input checked)."""
        gt_dots = _as_array("gt_dots", gt_dots, 3)
        pred_binary = _as_array("pred_binary", pred_binary, 3)
        if gt_dots.shape != pred_binary.shape:
            raise ValueError(
                f"gt_dots and pred_binary must have the same shape (B, H, W), got {gt_dots.shape} and {pred_binary.shape}"
            )
        shape = gt_dots.shape[1:]
        tasks = [
            (
                dot_points(gt_dots[b]),
                np.packbits(pred_binary[b] != 0),
                shape,
                self.centroid_mode,
                self.epsilon,
                self.reduction,
                self.top_dimension,
                self.backend,
            )
            for b in range(gt_dots.shape[0])
        ]
        workers = self.workers if sum(len(task[0]) for task in tasks) >= _MIN_POINTS_FOR_WORKERS else 1
        if self.backend != "gudhi":
            load_engine(self.backend)  # loaded once here, so forked workers do not each load it
        # Points plus foreground pixels as the cost proxy: each process gets one group of
        # crops of about equal total cost.
        costs = [len(t[0]) + np.count_nonzero(pred_binary[b]) / 16.0 for b, t in enumerate(tasks)]
        return tasks, costs, workers


class PendingDiscrepancies:
    """:meth:`TopoGuide.submit`'s handle: ``.result()`` is the (B,) float64 array of :meth:`TopoGuide.discrepancies`."""

    def __init__(self, pending: PendingMap) -> None:
        self._pending = pending

    def result(self) -> np.ndarray:
        return np.asarray(self._pending.result(), dtype=np.float64)
