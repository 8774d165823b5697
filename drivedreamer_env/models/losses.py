"""Tokenizer training losses: pixel L1, image-gradient L1, SSIM, and a patch discriminator (hinge GAN).

No pretrained perceptual network is available offline, so none is used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from drivedreamer_env.metrics import ssim


def gradient_l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences of (N, C, H, W) images: keeps edges sharp."""
    dx = (x[..., :, 1:] - x[..., :, :-1]) - (y[..., :, 1:] - y[..., :, :-1])
    dy = (x[..., 1:, :] - x[..., :-1, :]) - (y[..., 1:, :] - y[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def ssim_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1 - SSIM for images in [-1, 1]."""
    return 1.0 - ssim((x.clamp(-1, 1) + 1) / 2, (y + 1) / 2).mean()


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017): a real/fake logit per overlapping image patch."""

    def __init__(self, channels: int = 32, layers: int = 3) -> None:
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(3, channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = channels
        for _ in range(layers - 1):
            mods += [nn.Conv2d(c, c * 2, 4, 2, 1), nn.GroupNorm(8, c * 2), nn.LeakyReLU(0.2)]
            c *= 2
        mods.append(nn.Conv2d(c, 1, 3, 1, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) -> (N, 1, h, w) logits
        return self.net(x)


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
