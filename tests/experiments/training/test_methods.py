"""The method registry and the per-iteration crop sampling of training."""

import inspect
import math

import numpy as np
import pytest
import torch

from baselines import CountWeightedOHEM, DiceBCELoss, FocalLoss, ShuffledTGHEM, SoftDiceCLDiceLoss
from experiments.core.settings import load_params
from experiments.training.crops import IGNORE_INDEX, CropSampler
from experiments.training.methods import METHODS, PIXEL_TERM, MethodLoss, build_method, check_method_settings
from tghem import TGHEM, SegmentationLoss, TopoGuide
from tghem.base import PixelLoss


@pytest.fixture(scope="module")
def batch():
    torch.manual_seed(0)
    logits = torch.randn(3, 1, 32, 32, requires_grad=True)
    dots = torch.zeros(3, 32, 32)
    dots[:, 8::10, 6::9] = 1
    mask = torch.nn.functional.max_pool2d(dots[:, None], 5, 1, 2)[:, 0]
    mask[2, 28:, :] = IGNORE_INDEX  # padding rows, as CropSampler marks them
    return logits, mask, dots


COMMITTED = {"tghem": TGHEM, "ohem": SegmentationLoss, "focal": FocalLoss, "cldice": SoftDiceCLDiceLoss,
             "dice_bce": DiceBCELoss, "tghem_shuffled": ShuffledTGHEM, "tghem_count": CountWeightedOHEM}
"""The methods the committed studies run and the loss class each trains with."""


def test_every_registered_method_builds_its_loss_and_describes_itself():
    """The registry is the method's one place: each entry builds a MethodLoss around a project loss that
    ignores the padding, and its builder's docstring is the method's row of the documentation (the test
    has no list of methods to extend: it reads METHODS)."""
    cfg = load_params()
    for name, method in METHODS.items():
        assert (inspect.getdoc(method.build) or "").strip(), f"{name}: the builder needs a docstring"
        loss = build_method(name, cfg)
        assert isinstance(loss, MethodLoss) and isinstance(loss.criterion, PixelLoss), name
        assert loss.criterion.ignore_index == IGNORE_INDEX, name
    assert {name: type(build_method(name, cfg).criterion) for name in COMMITTED} == COMMITTED
    with pytest.raises(ValueError, match="method: expected one of .*got 'nope'"):
        build_method("nope", cfg)
    with pytest.raises(ValueError, match=r"method 'focal' reads sections \['focal'\], missing \['focal'\]"):
        build_method("focal", {"tghem": cfg["tghem"]})
    with pytest.raises(ValueError, match=r"method 'tghem' reads sections \['tghem', 'ohem'\], missing \['ohem'\]"):
        build_method("tghem", {"tghem": cfg["tghem"]})


def test_tghem_and_the_ohem_baseline_share_one_pixel_term():
    """One source: the ohem section is TG-HEM's pixel term and the OHEM baseline, never two copies."""
    assert PIXEL_TERM == "ohem" and METHODS["tghem"].sections == ("tghem", "ohem") and METHODS["ohem"].sections == ("ohem",)
    cfg = load_params(overrides=["ohem.min_kept=321", "ohem.thresh=0.65", "ohem.dice_weight=0.25", "ohem.bce_weight=2"])
    t, o = build_method("tghem", cfg).criterion.segmentation, build_method("ohem", cfg).criterion
    for name in ("min_kept", "thresh", "dice_weight", "bce_weight"):
        assert getattr(t, name) == getattr(o, name) == {"min_kept": 321, "thresh": 0.65, "dice_weight": 0.25,
                                                       "bce_weight": 2.0}[name]
    assert t.reduction == "none" and o.reduction == "mean"  # per crop (weighted) vs the batch


def test_each_loss_section_names_its_keys_as_the_object_it_builds():
    """No renaming between a settings section and its loss: every key of a method's own section (its
    first) is a keyword of the class the registry builds from it (TG-HEM's training-only warm-up keys
    aside; a class taking ``**kwargs`` is checked against its parent's keywords). Read from the
    registry, so a new baseline is checked without editing this test."""
    import inspect

    def keywords(kind):
        params = inspect.signature(kind).parameters
        named = {n for n, p in params.items() if p.kind is not p.VAR_KEYWORD}
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            named |= keywords(kind.__mro__[1])
        return named

    cfg = load_params()
    training_only = {"tghem": {"warmup", "warmup_loss"}}
    checked = set()
    for name, method in METHODS.items():
        section, kind = method.sections[0], type(build_method(name, cfg).criterion)
        keys = set(cfg[section]) - training_only.get(section, set())
        assert keys <= keywords(kind), (name, section, kind.__name__, sorted(keys - keywords(kind)))
        checked.add(section)
    assert checked == {s for m in METHODS.values() for s in m.sections}  # every loss section is some method's own
    # TGHEM's keywords are its parts' own, prefixed by the part where the bare name would be ambiguous
    # (its `reduction` is the batch's): `topo_X` is TopoGuide's `X`, `ohem_X` SegmentationLoss's `X`.
    tghem_keywords = set(inspect.signature(TGHEM).parameters) - {"topo_guide"}
    parts = {"topo_": set(inspect.signature(TopoGuide).parameters), "ohem_": set(inspect.signature(SegmentationLoss).parameters)}
    for keyword in tghem_keywords:
        for prefix, part in parts.items():
            if keyword.startswith(prefix):
                assert keyword[len(prefix):] in part, keyword
    assert {"topo_epsilon", "topo_reduction", "topo_backend", "topo_workers", "ohem_thresh", "ohem_min_kept"} <= tghem_keywords
    assert {"centroid_mode", "top_dimension"} <= parts["topo_"] and {"dice_weight", "bce_weight"} <= parts["ohem_"]


def test_settings_reach_the_losses():
    cfg = load_params(overrides=["tghem.lambda_pers=0.25", "ohem.min_kept=123", "ohem.thresh=0.6",
                                 "tghem.topo_epsilon=30", "focal.gamma=1.5", "cldice.iterations=4"])
    t = build_method("tghem", cfg).criterion
    assert t.lambda_pers == 0.25 and t.segmentation.min_kept == 123 and t.segmentation.thresh == 0.6
    assert t.topo.epsilon == 30.0
    assert t.topo.backend == TopoGuide().backend  # topo_backend null: TopoGuide's own default
    assert build_method("focal", cfg).criterion.gamma == 1.5
    assert build_method("cldice", cfg).criterion.iterations == 4
    cfg = load_params(overrides=["tghem.topo_backend=gudhi"])
    assert build_method("tghem", cfg).criterion.topo.backend == "gudhi"


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_is_called_with_logits_mask_dots(name, batch):
    logits, mask, dots = batch
    loss = build_method(name, load_params(overrides=["ohem.min_kept=200"]))
    value = loss(logits, mask, dots)
    assert value.dim() == 0 and torch.isfinite(value)
    (grad,) = torch.autograd.grad(value, logits)
    assert grad.abs().sum() > 0
    stats = loss.last_stats
    assert stats["loss"] == pytest.approx(value.item())
    assert len(loss.last_crops) == len(logits) and stats["count_error_mean"] == pytest.approx(
        np.mean([abs(c["n_pred"] - c["n_gt"]) for c in loss.last_crops]))
    if name.startswith("tghem"):
        assert stats["weight_max"] >= stats["weight_mean"] >= 1 and stats["discrepancy_mean"] > 0
        assert [c["weight"] for c in loss.last_crops] == pytest.approx(loss.criterion.last_weights.tolist())
    else:
        assert stats["weight_mean"] == stats["weight_max"] == 1 and math.isnan(stats["discrepancy_mean"])
        assert stats["seg_loss"] == stats["loss"]


def test_tghem_method_equals_tghem_mean_and_logs_the_unweighted_term(batch):
    logits, mask, dots = batch
    loss = build_method("tghem", load_params(overrides=["ohem.min_kept=200"]))
    value = loss(logits, mask, dots)
    reference = TGHEM(lambda_pers=0.5, ohem_thresh=0.7, ohem_min_kept=200, ignore_index=IGNORE_INDEX)
    assert torch.equal(value, reference(logits, mask, dots))
    seg = SegmentationLoss(thresh=0.7, min_kept=200, ignore_index=IGNORE_INDEX, reduction="none")(logits, mask)
    assert loss.last_stats["seg_loss"] == pytest.approx(seg.mean().item(), rel=1e-6)
    assert loss.last_stats["weight_mean"] == pytest.approx(reference.last_weights.mean().item())
    ohem = build_method("ohem", load_params(overrides=["ohem.min_kept=200"]))
    batch_level = SegmentationLoss(thresh=0.7, min_kept=200, ignore_index=IGNORE_INDEX, reduction="mean")
    assert torch.equal(ohem(logits, mask, dots), batch_level(logits, mask))


@pytest.mark.parametrize("name", ["tghem", "tghem_shuffled", "tghem_count"])
def test_the_dice_bce_warm_up_optimises_dice_bce_then_the_method(batch, name):
    """tghem.warmup_loss = dice_bce (the authors' harness): Dice + BCE over all pixels during the warm-up."""
    logits, mask, dots = batch
    common = ["ohem.min_kept=200", "tghem.warmup=3", "train.iterations=10"]
    loss = build_method(name, load_params(overrides=[*common, "tghem.warmup_loss=dice_bce"]))
    pixel = build_method(name, load_params(overrides=common))  # the default warm-up: the pixel term
    assert loss.warmup == pixel.warmup == 3 and pixel.warmup_criterion is None
    assert isinstance(loss.warmup_criterion, DiceBCELoss)
    harness = DiceBCELoss(dice_weight=0.5, bce_weight=0.5, ignore_index=IGNORE_INDEX)
    for it in (0, 2):
        loss.set_iteration(it)
        pixel.set_iteration(it)
        value = loss(logits, mask, dots)
        expected = harness(logits, mask, dots)
        assert torch.equal(value, expected)
        assert torch.equal(*(torch.autograd.grad(v, logits)[0] for v in (value, expected)))
        pixel_value = pixel(logits, mask, dots)
        # The criterion still runs (no gradient) for the statistics: its pixel term, weights 1.
        assert loss.last_stats["seg_loss"] == pytest.approx(pixel_value.item(), rel=1e-6)
        assert loss.last_stats["loss"] == pytest.approx(expected.item(), rel=1e-6)
        assert loss.last_stats["weight_mean"] == loss.last_stats["weight_max"] == 1.0
    loss.set_iteration(3)
    pixel.set_iteration(3)
    if name == "tghem_shuffled":  # its permutation draws from the global generator: same draw for both
        torch.manual_seed(5)
        after = loss(logits, mask, dots)
        torch.manual_seed(5)
        assert torch.equal(after, pixel(logits, mask, dots))
    else:
        assert torch.equal(loss(logits, mask, dots), pixel(logits, mask, dots))
    assert not loss.warming and loss.last_stats["weight_max"] > 1.0


def test_the_warm_up_loss_applies_to_crop_weighting_methods_only_and_errors():
    cfg = load_params(overrides=["tghem.warmup=3", "tghem.warmup_loss=dice_bce"])
    for name in ("ohem", "dice_bce", "focal"):  # the harness warms up the topology losses only
        assert build_method(name, cfg).warmup_criterion is None
    assert build_method("tghem", load_params(overrides=["tghem.warmup=0", "tghem.warmup_loss=dice_bce"])).warmup_criterion is None
    with pytest.raises(ValueError, match="tghem.warmup_loss 'dice_bce' reads the dice_bce section, missing"):
        build_method("tghem", {k: cfg[k] for k in ("tghem", "ohem", "train")})
    with pytest.raises(TypeError, match="warmup_criterion: expected an nn.Module or None, got str"):
        MethodLoss("tghem", build_method("tghem", cfg).criterion, 3, "dice_bce")


def test_every_loss_section_is_checked_by_building_its_loss_when_settings_load(tmp_path):
    check_method_settings(load_params())  # the repository's settings build every loss
    # 2.5 passes the schema (a number >= 0) but is neither a fraction nor a whole number of iterations:
    # the crop-weighting losses refuse it; the check names the first method that reads it.
    with pytest.raises(ValueError, match=r"params: the sections \['tghem', 'ohem'\] do not build the 'tghem' loss: "
                                         r"tghem.warmup: expected a fraction in \[0, 1\) or a whole number of iterations, got 2.5"):
        check_method_settings(load_params(overrides=["tghem.warmup=2.5"]))
    # A whole warm-up as long as the run would never apply the weights: refused, one fewer is fine.
    with pytest.raises(ValueError, match=r"tghem.warmup: 300.0 means 300 iterations of warm-up, which leave none of "
                                         r"train.iterations \(300\) weighted; expected fewer \(or tghem.lambda_pers=0 "
                                         r"for no weights\)$"):
        check_method_settings(load_params(overrides=["tghem.warmup=300", "train.iterations=300"]))
    with pytest.raises(ValueError, match=r"tghem.warmup: 0.95 means 10 iterations of warm-up"):  # a fraction rounding up to all
        check_method_settings(load_params(overrides=["tghem.warmup=0.95", "train.iterations=10"]))
    check_method_settings(load_params(overrides=["tghem.warmup=299", "train.iterations=300"]))
    # ... at the start of a training of any method, before its run folder exists.
    from experiments.training.loop import TrainJob, train

    out = tmp_path / "run"
    with pytest.raises(ValueError, match="do not build the 'tghem' loss"):
        train(TrainJob("synthetic", "focal", 0, out, tmp_path / "no-data", None, ("tghem.warmup=2.5",)))
    assert not out.exists()


class Sample:
    def __init__(self, i):
        self.image_id = f"im{i}"
        rng = np.random.default_rng(i)
        self.image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        self.points = rng.uniform(0, 39, (12, 2))


def test_batch_at_is_a_pure_function_of_seed_rank_iteration():
    samples = [Sample(i) for i in range(5)]
    a = CropSampler(16, 3, radius=2, seed=4)
    b = CropSampler(16, 3, radius=2, seed=4)
    for _ in range(3):
        b.batch_at(samples, 9)  # other draws do not shift later batches
    x, y = a.batch_at(samples, 7, rank=1, world_size=2), b.batch_at(samples, 7, rank=1, world_size=2)
    assert np.array_equal(x.image, y.image) and np.array_equal(x.origins, y.origins) and x.transforms == y.transforms
    z = CropSampler(16, 3, radius=2, seed=5).batch_at(samples, 7, rank=1, world_size=2)
    assert not np.array_equal(x.origins, z.origins) or x.transforms != z.transforms


def test_each_pass_visits_every_image_and_ranks_take_different_images():
    sampler = CropSampler(16, 2, radius=2, seed=0)
    single = [sampler.image_index_at(5, it) for it in range(10)]
    assert sorted(single[:5]) == sorted(single[5:]) == list(range(5))
    for it in range(12):
        pair = [sampler.image_index_at(6, it, rank, 2) for rank in range(2)]
        assert pair[0] != pair[1]  # one pass is shared: two ranks never draw the same slot
    two = [sampler.image_index_at(6, it, r, 2) for it in range(3) for r in range(2)]
    assert sorted(two) == list(range(6))
    with pytest.raises(ValueError, match="rank: expected < world_size = 2, got 2"):
        sampler.image_index_at(6, 0, 2, 2)
    with pytest.raises(ValueError, match="seed: per-iteration batches need a non-negative int seed"):
        CropSampler(16, 2, seed=None).image_index_at(3, 0)
