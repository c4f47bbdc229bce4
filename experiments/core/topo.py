"""The :class:`tghem.TopoGuide` of a run's ``tghem`` settings: one builder for training and analysis.

Training weights each crop with the guide built here, and the report's persistence example asks
the same guide to explain one crop (:meth:`tghem.TopoGuide.explain`), so the two cannot compute
``D`` differently (the example's diagrams used to be recomputed with other defaults).
"""

from __future__ import annotations

from tghem import TopoGuide


def topo_guide(tghem_settings: dict) -> TopoGuide:
    """The TopoGuide of a ``tghem`` settings section (``topo_epsilon``, ``topo_reduction``,
    ``centroid_mode``, ``top_dimension``, ``topo_backend``, ``topo_workers``).

    A null ``topo_backend`` or ``topo_workers`` leaves TopoGuide's own default (the run gets the
    library's default backend; results never depend on the workers, only the speed).

    Example:
        >>> guide = topo_guide({"topo_epsilon": 50.0, "topo_reduction": "sum", "centroid_mode": "contour",
        ...                     "top_dimension": False, "topo_backend": None, "topo_workers": 0})
        >>> guide.epsilon, guide.top_dimension, guide.backend, guide.workers
        (50.0, False, 'fast', 0)
    """
    t = tghem_settings
    kwargs = dict(epsilon=t["topo_epsilon"], reduction=t["topo_reduction"], centroid_mode=t["centroid_mode"],
                  top_dimension=t["top_dimension"])
    if t["topo_backend"] is not None:
        kwargs["backend"] = t["topo_backend"]
    if t["topo_workers"] is not None:
        kwargs["workers"] = t["topo_workers"]
    return TopoGuide(**kwargs)
