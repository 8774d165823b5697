"""One mask recipe per WorldDreamer task: which tokens are given and which the sampler generates.

A recipe turns the task's inputs into a :class:`MaskedClip`; :func:`~drivedreamer_env.tasks.generation.generate`
hands it to the sampler. Two decoding modes cover the five tasks:

* causal (frame by frame after the given frames, with the KV cache): ``image-to-video`` (the first frame is
  given) and ``action-to-video`` (``context_frames`` frames are given);
* joint (every ``mask_id`` token of the clip at once): ``text-to-video`` (everything masked), ``inpaint`` (the
  tokens under a pixel mask; a token is masked if any of its pixels is, and pixels outside the mask are kept
  exactly) and ``stylize`` (a random ``ratio`` of token positions, the same in every frame: WorldDreamer's
  dynamic masking, or the flattest tokens of each frame; :mod:`~drivedreamer_env.tasks.style_sampling`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.tasks.options import StylizeConfig
from drivedreamer_env.tasks.style_sampling import edge_token_energy, flattest


@dataclass(frozen=True)
class TaskInputs:
    """The inputs of one task call that the recipes read (see :func:`generate` for their meaning)."""

    video: np.ndarray | None
    num_frames: int
    context_frames: int
    mask: np.ndarray | None
    stylize: StylizeConfig
    seed: int


@dataclass
class MaskedClip:
    """What a recipe hands the sampler.

    Attributes:
        tokens: (1, T, h, w) int64. Joint tasks: the whole clip, ``mask_id`` where the task generates. Causal
            tasks: only the given leading frames; the frames after them, up to ``num_frames``, are generated.
        causal: generate frame by frame after the given frames (KV cache) instead of all masked tokens jointly.
        frames: (T, H, W, 3) uint8 input pixels at the model's resolution (with ``regenerate``).
        regenerate: (T, H, W) bool pixel mask; where False the output keeps ``frames`` exactly.
    """

    tokens: torch.Tensor
    causal: bool
    frames: np.ndarray | None = None
    regenerate: np.ndarray | None = None


Recipe = Callable[[WorldModel, TaskInputs], MaskedClip]


def pixel_mask_to_tokens(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(T, H, W) bool pixel mask -> (T, h, w) bool token mask: a token is masked if any of its pixels is."""
    t, h, w = mask.shape
    gh, gw = grid
    if h % gh or w % gw:
        raise ValueError(f"mask size {h}x{w} is not a multiple of the token grid {gh}x{gw}")
    return mask.reshape(t, gh, h // gh, gw, w // gw).any(axis=(2, 4))


def _given_frames(wm: WorldModel, x: TaskInputs, task: str, n: int) -> torch.Tensor:
    """The first ``n`` frames of the input, encoded: (1, C, h, w) with C <= n."""
    if x.video is None:
        raise ValueError(f"{task} needs an input image or video (video=...)")
    return wm.encode(x.video)[:n][None]


def _input_clip(wm: WorldModel, x: TaskInputs, task: str) -> tuple[np.ndarray, torch.Tensor]:
    """The whole input video at the model's resolution: frames (T, H, W, 3) and tokens (1, T, h, w)."""
    if x.video is None:
        raise ValueError(f"{task} needs an input video (video=...)")
    frames = wm.prepare(x.video)
    return frames, wm.encode(frames)[None]


def _remask(wm: WorldModel, tokens: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
    """``tokens`` with ``mask_id`` wherever ``token_mask`` (broadcastable to tokens) is True."""
    mask_id = wm.stpt.cfg.mask_id
    return torch.where(token_mask.to(tokens.device), torch.full_like(tokens, mask_id), tokens)


def image_to_video(wm: WorldModel, x: TaskInputs) -> MaskedClip:
    """The first frame is given; the rest follow one by one."""
    return MaskedClip(_given_frames(wm, x, "image-to-video", 1), causal=True)


def action_to_video(wm: WorldModel, x: TaskInputs) -> MaskedClip:
    """``context_frames`` frames are given (and kept); the future follows one by one under the actions."""
    return MaskedClip(_given_frames(wm, x, "action-to-video", max(1, x.context_frames)), causal=True)


def text_to_video(wm: WorldModel, x: TaskInputs) -> MaskedClip:
    """Every token of every frame is generated jointly from the caption."""
    c = wm.stpt.cfg
    return MaskedClip(torch.full((1, x.num_frames, c.grid_h, c.grid_w), c.mask_id, dtype=torch.long), causal=False)


def inpaint(wm: WorldModel, x: TaskInputs) -> MaskedClip:
    """The tokens under the pixel mask are regenerated; pixels outside it are kept exactly."""
    frames, tokens = _input_clip(wm, x, "inpaint")
    if x.mask is None:
        raise ValueError("inpaint needs a pixel mask (mask=..., True where to regenerate)")
    m = np.asarray(x.mask, dtype=bool)
    m = np.broadcast_to(m, (tokens.shape[1], *m.shape[-2:])) if m.ndim == 2 else m
    if m.shape != frames.shape[:3]:
        raise ValueError(f"mask must be (T, H, W) = {frames.shape[:3]} or (H, W), got {m.shape}")
    c = wm.stpt.cfg
    token_mask = torch.from_numpy(pixel_mask_to_tokens(m, (c.grid_h, c.grid_w)))[None]
    return MaskedClip(_remask(wm, tokens, token_mask), causal=False, frames=frames, regenerate=m)


def stylize(wm: WorldModel, x: TaskInputs) -> MaskedClip:
    """A ``stylize.ratio`` share of the tokens is regenerated jointly: random positions, the same in every frame
    (``"random"``, WorldDreamer's dynamic masking), or each frame's flattest tokens, its edges kept
    (``"structure"``)."""
    frames, tokens = _input_clip(wm, x, "stylize")
    c = wm.stpt.cfg
    if x.stylize.schedule == "structure":
        token_mask = torch.from_numpy(flattest(edge_token_energy(frames, (c.grid_h, c.grid_w)), x.stylize.ratio))[None]
    else:
        g = torch.Generator().manual_seed(x.seed)
        token_mask = (torch.rand(1, 1, c.grid_h, c.grid_w, generator=g) < x.stylize.ratio).expand(
            1, tokens.shape[1], -1, -1
        )
    return MaskedClip(_remask(wm, tokens, token_mask), causal=False)


RECIPES: dict[str, Recipe] = {
    "image-to-video": image_to_video,
    "text-to-video": text_to_video,
    "inpaint": inpaint,
    "stylize": stylize,
    "action-to-video": action_to_video,
}  # keyed by every name in drivedreamer_env.tasks.names.TASKS (a test keeps the two in step)
