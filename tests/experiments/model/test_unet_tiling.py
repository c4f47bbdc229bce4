"""The U-Net and tiled inference."""

import numpy as np
import pytest
import torch
from torch import nn

from experiments.model.unet import UNet, group_count
from experiments.model.tiling import blend_window, predict_logits, predict_probability, tile_starts


def test_unet_architecture():
    net = UNet(in_channels=3, base_channels=8)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    ups = [m for m in net.modules() if isinstance(m, nn.ConvTranspose2d)]
    pools = [m for m in net.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(ups) == 4 and all(m.kernel_size == (2, 2) and m.stride == (2, 2) for m in ups)
    assert len(pools) == 1 and net.pool.kernel_size == 2  # one pooling module applied four times
    assert [b[0].out_channels for b in net.downs] == [8, 16, 32, 64, 128]  # base .. 16 base
    assert [b[0].out_channels for b in net.up_convs] == [64, 32, 16, 8]
    assert all(m.kernel_size == (3, 3) for m in convs if m is not net.head)
    assert net.head.out_channels == 1 and net.head.kernel_size == (1, 1)
    assert all(isinstance(b[1], nn.BatchNorm2d) and isinstance(b[2], nn.ReLU) for b in [*net.downs, *net.up_convs])
    x = torch.randn(2, 3, 48, 64)
    assert net(x).shape == (2, 1, 48, 64)


def test_norm_options_and_channels_last():
    g = UNet(in_channels=1, base_channels=8, norm="group")
    norms = [m for m in g.modules() if isinstance(m, nn.GroupNorm)]
    assert len(norms) == 18 and norms[0].num_groups == 1 and max(n.num_groups for n in norms) == 16
    assert group_count(64) == 8 and group_count(1024) == 32 and group_count(12) == 1 and group_count(24) == 3
    s = UNet(in_channels=3, base_channels=4, norm="sync")
    assert any(isinstance(m, nn.SyncBatchNorm) for m in s.modules())
    torch.manual_seed(0)
    net = UNet(in_channels=3, base_channels=4).eval()
    x = torch.randn(1, 3, 32, 32)
    ref = net(x)
    net = net.to(memory_format=torch.channels_last)
    torch.testing.assert_close(net(x.contiguous(memory_format=torch.channels_last)), ref, atol=1e-5, rtol=1e-5)
    # single-process SyncBatchNorm trains like BatchNorm
    assert s(torch.randn(2, 3, 16, 16)).shape == (2, 1, 16, 16)


def test_unet_errors_name_the_argument():
    with pytest.raises(ValueError, match="norm: expected one of"):
        UNet(norm="layer")
    with pytest.raises(TypeError, match="base_channels: expected a positive int, got float 8.0"):
        UNet(base_channels=8.0)
    with pytest.raises(ValueError, match="in_channels: expected a positive int, got 0"):
        UNet(in_channels=0)
    net = UNet(in_channels=3, base_channels=2)
    with pytest.raises(ValueError, match="divisible by 16"):
        net(torch.zeros(1, 3, 40, 32))
    with pytest.raises(ValueError, match="expected shape \\(B, 3, H, W\\)"):
        net(torch.zeros(1, 1, 32, 32))


def test_tile_starts_cover_the_image_flush_with_the_border():
    assert tile_starts(32, 32, 24) == [0]
    assert tile_starts(20, 32, 24) == [0]
    for length in range(33, 200, 7):
        starts = tile_starts(length, 32, 24)
        assert starts[0] == 0 and starts[-1] == length - 32
        assert all(0 < b - a <= 24 for a, b in zip(starts, starts[1:]))


def test_blend_window_is_positive_and_symmetric():
    w = blend_window(16)
    assert w.min() == 1 and w.max() == 64 and np.array_equal(w, w.T) and np.array_equal(w, w[::-1, ::-1])


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = UNet(in_channels=3, base_channels=4)
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_tiling_reproduces_whole_image_inference_when_the_image_fits_a_tile(net):
    x = torch.randn(3, 32, 32)
    with torch.no_grad():
        whole = net(x[None])[0, 0].numpy()
    np.testing.assert_allclose(predict_logits(net, x.numpy(), 32, overlap=0.5), whole, rtol=1e-6, atol=1e-6)
    # Smaller than a tile: padded with zeros (as training crops), then cut back.
    small = torch.randn(3, 20, 27)
    padded = torch.nn.functional.pad(small, (0, 5, 0, 12))
    with torch.no_grad():
        whole = net(padded[None])[0, 0, :20, :27].numpy()
    out = predict_logits(net, small.numpy(), 32)
    assert out.shape == (20, 27)
    np.testing.assert_allclose(out, whole, rtol=1e-6, atol=1e-6)
    prob = predict_probability(net, small.numpy(), 32)
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-whole)), rtol=1e-5, atol=1e-6)


class PixelModel(nn.Module):
    """A per-pixel network: its whole-image output is known exactly, whatever the tiling."""

    def forward(self, x):
        return (x[:, :1] * 2.0 - x[:, 1:2] + 0.5 * x[:, 2:3] ** 2)


def test_overlapping_tiles_blend_to_the_whole_image_result():
    x = np.random.default_rng(0).normal(size=(3, 70, 90)).astype(np.float32)
    expected = PixelModel()(torch.from_numpy(x)[None])[0, 0].numpy()
    for overlap in (0.0, 0.25, 0.5, 0.75):
        out = predict_logits(PixelModel(), x, 32, overlap=overlap, batch_size=3)
        assert out.shape == (70, 90)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_overlapping_tiles_are_a_weighted_mean_of_the_tile_outputs(net):
    # Two tiles along x (width 48, tile 32): left of 16 only tile 0, right of 32 only tile 1.
    x = torch.randn(3, 32, 48)
    with torch.no_grad():
        left = net(x[None, :, :, :32])[0, 0].numpy()
        right = net(x[None, :, :, 16:])[0, 0].numpy()
    out = predict_logits(net, x.numpy(), 32, overlap=0.5)
    np.testing.assert_allclose(out[:, :16], left[:, :16], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[:, 32:], right[:, 16:], rtol=1e-5, atol=1e-5)
    mid = out[:, 16:32]
    lo, hi = np.minimum(left[:, 16:], right[:, :16]), np.maximum(left[:, 16:], right[:, :16])
    assert np.all(mid >= lo - 1e-5) and np.all(mid <= hi + 1e-5)


def test_tiling_errors():
    with pytest.raises(ValueError, match="tile: expected a multiple of 16"):
        predict_logits(PixelModel(), np.zeros((3, 8, 8), np.float32), 24)
    with pytest.raises(ValueError, match="overlap: expected a fraction in \\[0, 1\\)"):
        predict_logits(PixelModel(), np.zeros((3, 8, 8), np.float32), 16, overlap=1.0)
    with pytest.raises(ValueError, match="image: expected shape \\(C, H, W\\)"):
        predict_logits(PixelModel(), np.zeros((8, 8), np.float32), 16)


class _OriginValue(torch.nn.Module):
    """A stand-in network whose logits on a tile are the tile's top-left input value everywhere:
    each tile says something different, so the blend's weights and the tiles' positions show."""

    def forward(self, x):
        return x[:, :1, :1, :1].expand(-1, 1, x.shape[2], x.shape[3])


def test_the_blend_is_the_tent_weighted_mean_over_the_tiles_the_overlap_places():
    """An independent reference: tile starts written out for a 70 x 90 image, tile 32, overlap 0.25
    (stride 24; the last tile flush with the far border), tent weights min(i + 1, 32 - i) per axis."""
    rng = np.random.default_rng(0)
    image = rng.normal(size=(1, 70, 90)).astype(np.float32)
    rows, cols = [0, 24, 38], [0, 24, 48, 58]
    ramp = np.minimum(np.arange(1, 33), np.arange(32, 0, -1)).astype(np.float64)
    total, weight = np.zeros((70, 90)), np.zeros((70, 90))
    for y in rows:
        for x in cols:
            w = np.outer(ramp, ramp)
            total[y:y + 32, x:x + 32] += w * image[0, y, x]
            weight[y:y + 32, x:x + 32] += w
    got = predict_logits(_OriginValue(), image, tile=32, overlap=0.25, batch_size=5)
    np.testing.assert_allclose(got, total / weight, rtol=1e-6, atol=1e-6)
