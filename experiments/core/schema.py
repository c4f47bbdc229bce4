"""The typed schema of every setting: for each ``section.key`` of ``params.yaml``, its type, its
allowed range or choices and what it does (:mod:`experiments.core.settings` checks values against it).
"""

from __future__ import annotations

from dataclasses import dataclass

from tghem.base import SMOOTH_RANGE
from tghem.topology import BACKENDS, CENTROID_MODES, TOPO_REDUCTIONS

from .runtime import AMP_CHOICES


@dataclass(frozen=True)
class Param:
    """Schema entry of one setting.

    Attributes:
        type: ``'int'``, ``'float'``, ``'bool'`` or ``'str'``.
        help: what the setting does.
        choices: allowed values of a ``'str'`` or ``'int'`` setting (empty: any).
        low: smallest allowed value (numbers), or None.
        high: largest allowed value (numbers), or None.
        low_open: ``low`` itself is not allowed.
        high_open: ``high`` itself is not allowed.
        nullable: ``null`` is allowed (meaning "the default described in ``help``").
        multiple_of: an int setting must be a multiple of this.
    """

    type: str
    help: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False
    multiple_of: int | None = None

    def expected(self) -> str:
        """Human-readable description of the allowed values."""
        if self.choices:
            text = "one of " + ", ".join(str(c) for c in self.choices)
        else:
            text = {"int": "an int", "float": "a number", "bool": "true or false", "str": "a string"}[self.type]
            if self.low is not None or self.high is not None:
                lo = "-inf" if self.low is None else f"{self.low:g}"
                hi = "inf" if self.high is None else f"{self.high:g}"
                left = "(" if self.low is None or self.low_open else "["
                right = ")" if self.high is None or self.high_open else "]"
                text += f" in {left}{lo}, {hi}{right}"
            if self.multiple_of:
                text += f", a multiple of {self.multiple_of}"
        return text + (" or null" if self.nullable else "")


_POS = dict(low=1)
MAX_MATCH_RADIUS = 256
"""The largest match radius (pixels): wider than any cell or head of the datasets, and the mean F1
runs one matching per radius up to it (an unbounded radius never finished)."""
SCHEMA: dict[str, Param] = {
    "data.channels": Param("int", "network input channels: 1 (grey) or 3 (RGB); images are converted", choices=(1, 3)),
    "data.mask_radius": Param("float", "training disk radius in pixels; null: the dataset's", low=0, nullable=True),
    "data.mask_gap": Param("bool", "one-pixel background gap between neighbouring dots' disks (nearest-dot assignment), so touching disks stay separate blobs"),
    "model.base_channels": Param("int", "U-Net width of the first block (paper: 64)", **_POS),
    "model.norm": Param("str", "normalisation layer", choices=("batch", "group", "sync")),
    "model.channels_last": Param("bool", "NHWC memory format for model and inputs"),
    "train.iterations": Param("int", "optimizer steps (each K crops of one image per rank)", **_POS),
    "train.crops_per_image": Param("int", "K, random crops of one training image per mini-batch", **_POS),
    "train.crop_size": Param("int", "side of the square training crops (paper: 256); at most 4096, past every image "
                                    "of the datasets (smaller images are padded)", low=16, high=4096, multiple_of=16),
    "train.flips": Param("bool", "random horizontal and vertical flips"),
    "train.rot90": Param("bool", "random quarter turns"),
    "train.lr": Param("float", "Adam learning rate at iteration 0", low=0, low_open=True),
    "train.weight_decay": Param("float", "Adam L2 weight decay", low=0),
    "train.poly_power": Param("float", "polynomial LR decay power", low=0),
    "train.val_every": Param("int", "validate every n iterations and at the end; 0: never", low=0),
    "train.checkpoint_every": Param("int", "write last.pt every n iterations and at the end", **_POS),
    "train.deterministic": Param("bool", "deterministic CUDA kernels (cuDNN, cuBLAS)"),
    "train.amp": Param("str", "autocast dtype of the training forward pass: none (float32), bf16 (CPU or CUDA), fp16 (CUDA, with a gradient scaler); losses run in float32", choices=AMP_CHOICES),
    "tghem.lambda_pers": Param("float", "lambda in w_k = 1 + lambda * D_k", low=0),
    "tghem.warmup": Param(
        "float", "warm-up of TG-HEM and both controls on the pixel term alone (weights 1): a fraction of train.iterations if < 1, else iterations", low=0
    ),
    "tghem.warmup_loss": Param(
        "str", "loss of the warm-up iterations: pixel (the unweighted pixel term, per-crop OHEM) or dice_bce (the authors' harness: 0.5 BCE over all pixels + 0.5 per-crop Dice, no OHEM)", choices=("pixel", "dice_bce")
    ),
    "tghem.topo_epsilon": Param("float", "Rips filtration scale epsilon (pixels)", low=0, low_open=True),
    "tghem.topo_reduction": Param("str", "H0 + H1 ('sum'), half of it, or H1 only", choices=TOPO_REDUCTIONS),
    "tghem.centroid_mode": Param("str", "predicted points of TopoGuide", choices=CENTROID_MODES),
    "tghem.topo_backend": Param(
        "str", "TopoGuide backend: fast, ripser (giotto-ph) or gudhi (reference), same D; null: TopoGuide's default", choices=BACKENDS, nullable=True
    ),
    "tghem.top_dimension": Param("bool", "false: the reference code's diagrams (gudhi's defaults, empty for points with no pair within epsilon); true: the definition's"),
    "tghem.topo_workers": Param(
        "int", "processes for the per-crop topology (0/1: in process); null: 'auto', usable cores per local rank", low=0, nullable=True
    ),
    "ohem.thresh": Param("float", "OHEM confidence threshold (TG-HEM's pixel term and the OHEM baseline)", low=0, high=1, low_open=True, high_open=True),
    "ohem.min_kept": Param("int", "OHEM pixels kept per crop (about that many: ties at the k-th confidence keep fewer; the OHEM baseline's batch keeps min_kept * K)", **_POS),
    "ohem.dice_weight": Param("float", "Dice weight of the pixel term", low=0),
    "ohem.bce_weight": Param("float", "hard-pixel BCE weight of the pixel term", low=0),
    "focal.alpha": Param("float", "foreground weight", low=0, high=1),
    "focal.gamma": Param("float", "focusing exponent", low=0),
    "cldice.alpha": Param("float", "weight of clDice against soft Dice", low=0, high=1),
    "cldice.iterations": Param("int", "soft-skeleton iterations", **_POS),
    "cldice.smooth": Param("float", "smoothing", low=SMOOTH_RANGE[0], high=SMOOTH_RANGE[1]),
    "dice_bce.dice_weight": Param("float", "Dice weight", low=0),
    "dice_bce.bce_weight": Param("float", "BCE weight (all pixels)", low=0),
    "tghem_count.lambda_count": Param("float", "control tghem_count: w_k = 1 + lambda_count * |n_pred,k - n_gt,k|", low=0),
    "tghem_count.centroid_mode": Param("str", "control tghem_count: predicted points, as TopoGuide's", choices=CENTROID_MODES),
    "eval.match_radius": Param("float", "detection match radius (pixels); null: the dataset's", low=0, low_open=True,
                               high=MAX_MATCH_RADIUS, nullable=True),
    "eval.mean_f1_max_radius": Param("int", "R of the mean F1 over r = 1..R (one matching per r); null: the match radius",
                                     low=1, high=MAX_MATCH_RADIUS, nullable=True),
    "eval.tile_size": Param("int", "inference tile side; null: train.crop_size", low=16, high=4096, multiple_of=16,
                            nullable=True),
    "eval.tile_overlap": Param("float", "overlap of neighbouring tiles, fraction of the side", low=0, high=1, high_open=True),
    "eval.batch_size": Param("int", "tiles per forward pass", **_POS),
    "eval.centroid_mode": Param("str", "point extraction (tghem component_centroids)", choices=CENTROID_MODES),
    "eval.threshold": Param("float", "detection threshold: a pixel is foreground where sigmoid >= threshold (reference: 0.5)", low=0, high=1, low_open=True, high_open=True),
    "eval.amp": Param("str", "autocast dtype of validation and evaluation inference: none (float32), bf16, fp16 (CUDA)", choices=AMP_CHOICES),
}
