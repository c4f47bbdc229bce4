"""TG-HEM: Topology-Guided Hard Example Mining for dot-based cell detection.

Public API::

    from tghem import BinaryDiceLoss, SegmentationLoss, TopoGuide, TGHEM

Every loss is called as ``loss(pred_logits, gt_mask, gt_dots)`` with raw logits of
shape (B, 1, H, W), a {0, 1} mask and a dot map of shape (B, H, W).

Around the loss, what a training loop needs from point annotations (:mod:`tghem.points`,
:mod:`tghem.targets`): the dot map and the disk target of a set of points; and what its
evaluation needs (:mod:`tghem.matching`): one-to-one point matching within a radius with
precision, recall and F1.
"""
from tghem import _numba_cache

_numba_cache.install()  # before the kernels' modules are imported: their cache is per user, keyed by content

from tghem.dice import BinaryDiceLoss, binary_dice_loss
from tghem.loss import TGHEM, tghem_loss
from tghem.matching import Counts, detection_counts, match_points
from tghem.ohem import SegmentationLoss, segmentation_loss, select_hard_pixels
from tghem.points import dot_map
from tghem.targets import adaptive_radii, dilated_mask, separate_disks
from tghem.topology import TopoGuide, component_centroids, diagram_distance, dot_points, rips_diagrams
from tghem.weighting import CropWeightedLoss

__version__ = "0.1.0"

__all__ = [
    "BinaryDiceLoss",
    "SegmentationLoss",
    "TopoGuide",
    "TGHEM",
    "CropWeightedLoss",
    "binary_dice_loss",
    "segmentation_loss",
    "select_hard_pixels",
    "tghem_loss",
    "component_centroids",
    "diagram_distance",
    "dot_points",
    "rips_diagrams",
    "dot_map",
    "dilated_mask",
    "separate_disks",
    "adaptive_radii",
    "match_points",
    "detection_counts",
    "Counts",
]
