"""Pure tensor image-quality metrics: PSNR and SSIM (Wang et al. 2004, 11x11 Gaussian window, sigma 1.5).

Ground floor: imports only torch, so the training losses (``models/losses.py``), the Lightning modules and every
evaluation score images with the same code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """Per-image PSNR [dB] of (N, ...) tensors (uint8 or float in the same range)."""
    mse = ((a.float() - b.float()) ** 2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(data_range**2 / mse.clamp_min(1e-10))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image mean SSIM of (N, C, H, W) float images in [0, data_range] (valid region, per channel)."""
    c = a.shape[1]
    win = _gaussian_window().to(a)[None, None].repeat(c, 1, 1, 1)  # (C, 1, 11, 11)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def filt(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, win, groups=c)

    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(dim=1)


def frames_ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM of uint8 (N, H, W, 3) frames."""
    return ssim(a.permute(0, 3, 1, 2).float() / 255.0, b.permute(0, 3, 1, 2).float() / 255.0)
