"""The segmentation network: a U-Net as in the paper's harness, one logit channel out.

Four 2x2 max-poolings down and four 2x2 stride-2 transposed convolutions up (not bilinear
upsampling, whose backward pass is not deterministic on CUDA), DoubleConv blocks
(3x3 conv, norm, ReLU, twice) with channels ``base, 2 base, 4 base, 8 base, 16 base``, skip
connections by concatenation and a 1x1 head giving one raw logit per pixel.
"""

from __future__ import annotations

import torch
from torch import nn

NORMS = ("batch", "group", "sync")
DEPTH = 4
"""Number of poolings; inputs must have sides divisible by ``2 ** DEPTH``."""
SIZE_MULTIPLE = 2**DEPTH


def group_count(channels: int) -> int:
    """GroupNorm groups for ``channels``: about 8 channels per group, at most 32 groups.

    Small per-device batches are the reason to use GroupNorm at all; 8 channels per group keeps
    the statistics of each group meaningful at the small CPU widths (base 8 gives one group in
    the first block, i.e. layer normalisation), and 32 groups is the usual cap at paper width.
    """
    groups = min(32, max(1, channels // 8))
    while channels % groups:
        groups -= 1
    return groups


def make_norm(kind: str, channels: int) -> nn.Module:
    """The normalisation layer ``kind`` (``'batch'``, ``'group'`` or ``'sync'``) for ``channels``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(group_count(channels), channels)
    if kind == "sync":
        # Behaves as BatchNorm2d outside a process group; synchronises statistics across
        # ranks (CUDA only) under torchrun.
        return nn.SyncBatchNorm(channels)
    raise ValueError(f"norm: expected one of {NORMS}, got {kind!r}")


class DoubleConv(nn.Sequential):
    """(3x3 conv, norm, ReLU) twice; the convolutions carry no bias (the norm has one)."""

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch") -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            make_norm(norm, out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            make_norm(norm, out_channels),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """U-Net returning (B, 1, H, W) logits of the foreground (dilated dots).

    Args:
        in_channels: channels of the input image (3 for RGB).
        base_channels: width of the first block; block ``i`` has ``base * 2**i`` channels
            (the paper uses 64; the CPU default is much smaller).
        norm: ``'batch'`` (BatchNorm2d), ``'group'`` (GroupNorm, for small per-device batches)
            or ``'sync'`` (SyncBatchNorm, statistics shared across DDP ranks on CUDA).

    Shape:
        - input: (B, in_channels, H, W), floating, H and W divisible by 16.
        - output: (B, 1, H, W) raw logits.

    Example:
        >>> import torch
        >>> net = UNet(in_channels=3, base_channels=4)
        >>> net(torch.zeros(2, 3, 32, 48)).shape
        torch.Size([2, 1, 32, 48])
    """

    def __init__(self, in_channels: int = 3, base_channels: int = 64, norm: str = "batch") -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("base_channels", base_channels)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name}: expected a positive int, got {type(value).__name__} {value!r}")
            if value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value}")
        if norm not in NORMS:
            raise ValueError(f"norm: expected one of {NORMS}, got {norm!r}")
        self.in_channels = in_channels
        self.base_channels = base_channels
        self.norm = norm
        widths = [base_channels * 2**i for i in range(DEPTH + 1)]
        self.downs = nn.ModuleList()
        previous = in_channels
        for width in widths:
            self.downs.append(DoubleConv(previous, width, norm))
            previous = width
        self.pool = nn.MaxPool2d(2)
        self.ups = nn.ModuleList()
        self.up_convs = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.ups.append(nn.ConvTranspose2d(previous, width, kernel_size=2, stride=2))
            self.up_convs.append(DoubleConv(2 * width, width, norm))
            previous = width
        self.head = nn.Conv2d(previous, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x: expected shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[-2] % SIZE_MULTIPLE or x.shape[-1] % SIZE_MULTIPLE:
            raise ValueError(
                f"x: expected H and W divisible by {SIZE_MULTIPLE} (four poolings), got {tuple(x.shape[-2:])}"
            )
        skips = []
        for i, block in enumerate(self.downs):
            x = block(x)
            if i < DEPTH:
                skips.append(x)
                x = self.pool(x)
        for up, block, skip in zip(self.ups, self.up_convs, reversed(skips)):
            x = block(torch.cat([skip, up(x)], dim=1))
        return self.head(x)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, base_channels={self.base_channels}, norm={self.norm!r}"
