"""Long-horizon fidelity and sharpness: 4 s of dreaming from a few real frames.

A dream that copies well for a step but melts into blur by the fortieth is no simulator. Keys: ``psnr@16``,
``psnr@40``, ``ssim@40``, ``sharpness_ratio@40`` (mean Laplacian energy of the dreamt frame 40 over that of the
real one: 1 is as sharp as reality, blur scores low) and ``tokenizer_sharpness_ratio`` (the same for the
tokenizer's reconstructions of those real frames: the ceiling a dream can reach).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.eval.open_loop import mean_psnr, rollout
from drivedreamer_env.metrics import frames_ssim
from drivedreamer_env.models.sampler import SamplerConfig
from drivedreamer_env.models.world_model import WorldModel

LONG_HORIZON = 40  # frames dreamt (4 s at 10 Hz)
LONG_PSNR_AT = (16, 40)


def laplacian_energy(frames: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N,) mean squared Laplacian of the grey image (intensities in [0, 1])."""
    out = []
    for f in frames:
        grey = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        out.append(float((cv2.Laplacian(grey, cv2.CV_32F) ** 2).mean()))
    return np.asarray(out)


def sharpness_ratio(frames: np.ndarray, reference: np.ndarray) -> float:
    """Mean Laplacian energy of ``frames`` over that of ``reference`` (both (N, H, W, 3) uint8)."""
    return float(laplacian_energy(frames).mean() / max(laplacian_energy(reference).mean(), 1e-12))


@dataclass
class LongHorizon:
    """Fidelity and sharpness of long open-loop dreams (see the module docstring)."""

    horizon: int
    psnr_at: dict[int, float]
    ssim_last: float
    sharpness_ratio: float
    tokenizer_sharpness_ratio: float

    def to_json(self) -> dict[str, float]:
        h = self.horizon
        return {
            **{f"psnr@{k}": v for k, v in self.psnr_at.items()},
            f"ssim@{h}": self.ssim_last,
            f"sharpness_ratio@{h}": self.sharpness_ratio,
            "tokenizer_sharpness_ratio": self.tokenizer_sharpness_ratio,
        }


def evaluate_long_horizon(
    wm: WorldModel, clips: list[Clip], context: int, sampler: SamplerConfig, dt_s: float, horizon: int = LONG_HORIZON
) -> LongHorizon:
    """Dream ``horizon`` frames after ``context`` real ones of each clip (``context + horizon`` frames long)."""
    gt = np.stack([c.frames[: context + horizon] for c in clips])
    actions = np.stack([c.actions[: context + horizon] for c in clips])
    tokens = torch.stack([wm.encode(f) for f in gt])
    dreamt = rollout(wm, tokens, actions, [c.text for c in clips], context, horizon, sampler, 4, dt_s)
    last_real = gt[:, context + horizon - 1]
    recon_last = wm.decode(tokens[:, -1:])[:, 0]
    psnr_at = {k: mean_psnr(dreamt[:, k - 1], gt[:, context + k - 1]) for k in LONG_PSNR_AT if k <= horizon}
    ssim_last = float(frames_ssim(torch.from_numpy(dreamt[:, -1]), torch.from_numpy(last_real)).mean())
    return LongHorizon(
        horizon, psnr_at, ssim_last, sharpness_ratio(dreamt[:, -1], last_real), sharpness_ratio(recon_last, last_real)
    )
