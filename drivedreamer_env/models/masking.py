"""Training masks for the STPT: a mix of the WorldDreamer recipes.

* ``predict``: past frames visible, future frames masked at a cosine-distributed rate (video prediction);
* ``dynamic``: one random token mask shared by every frame (WorldDreamer's dynamic masking);
* ``full``: everything masked (text-to-video);
* ``region``: a spatial rectangle masked in every frame (inpainting);
* ``next``: past frames visible, every future frame wholly masked: exactly what a rollout's first decoding
  step sees. With partly visible future frames the model can read the ego motion off their visible tokens;
  here only the past and the actions tell it.

Masks are (B, T, h, w) bool, True where the model must predict the token. The loss is cross-entropy on
masked tokens only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MODES = ("predict", "dynamic", "full", "region", "next")


@dataclass
class MaskConfig:
    """Probabilities of each masking mode per training sample (normalised to sum to 1)."""

    predict: float = 0.55
    dynamic: float = 0.2
    full: float = 0.1
    region: float = 0.15
    next: float = 0.0

    def probs(self) -> torch.Tensor:
        p = torch.tensor([self.predict, self.dynamic, self.full, self.region, self.next], dtype=torch.float64)
        if p.sum() <= 0 or (p < 0).any():
            raise ValueError(f"mask mode probabilities must be >= 0 with a positive sum, got {p.tolist()}")
        return p / p.sum()


def cosine_ratio(u: torch.Tensor) -> torch.Tensor:
    """MaskGIT's cosine schedule: a uniform u in [0, 1) -> mask ratio cos(pi/2 * u) in (0, 1]."""
    return torch.cos(math.pi / 2 * u)


def _random_mask(shape: tuple[int, ...], ratio: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Mask ``ceil(ratio * n)`` random positions (at least one) of the last dims; ratio is per batch row."""
    b = shape[0]
    n = math.prod(shape[1:])
    scores = torch.rand(b, n, generator=g)
    k = torch.clamp((ratio * n).ceil().long(), 1, n)
    kth = scores.sort(dim=1).values.gather(1, (k - 1)[:, None])
    return (scores <= kth).reshape(shape)


def sample_masks(
    b: int, t: int, h: int, w: int, cfg: MaskConfig, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks (B, T, h, w) bool and the mode index of each sample (B,) (indexes ``MODES``)."""
    modes = torch.multinomial(cfg.probs(), b, replacement=True, generator=g)
    masks = torch.zeros(b, t, h, w, dtype=torch.bool)
    ratio = cosine_ratio(torch.rand(b, generator=g))
    for i in range(b):
        mode = MODES[int(modes[i])]
        if mode == "next" and t > 1:
            masks[i, int(torch.randint(1, t, (1,), generator=g)) :] = True
        elif mode == "predict" and t > 1:
            context = int(torch.randint(1, t, (1,), generator=g))
            future = _random_mask((t - context, h, w), ratio[i : i + 1].expand(t - context), g)
            masks[i, context:] = future
        elif mode in ("dynamic", "predict", "next"):  # a single frame has no future: fall back to dynamic masking
            masks[i] = _random_mask((1, h, w), ratio[i : i + 1], g)[0].expand(t, h, w)
        elif mode == "full":
            masks[i] = True
        else:
            rh = int(torch.randint(max(1, h // 4), h + 1, (1,), generator=g))
            rw = int(torch.randint(max(1, w // 4), w + 1, (1,), generator=g))
            y0 = int(torch.randint(0, h - rh + 1, (1,), generator=g))
            x0 = int(torch.randint(0, w - rw + 1, (1,), generator=g))
            masks[i, :, y0 : y0 + rh, x0 : x0 + rw] = True
    return masks, modes
