""":func:`generate`: run one WorldDreamer task (its recipe in :mod:`drivedreamer_env.tasks.recipes`) end to end.

:func:`run_task` does the same and also says what was given: the leading frames kept from the input (their
tokens unchanged) and the share of token positions the sampler wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from drivedreamer_env.models.sampler import Rollout, SamplerConfig, generate_joint
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.tasks.names import TASKS
from drivedreamer_env.tasks.options import ROUND_SHARE, InpaintConfig, StylizeConfig
from drivedreamer_env.tasks.recipes import RECIPES, TaskInputs
from drivedreamer_env.tasks.style_sampling import (
    boundary_ring,
    dilate_tokens,
    feather,
    fill,
    refill_rounds,
    stylize_fill,
)


def _generators(seed: int, n: int = 1) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed + i) for i in range(n)]


def _actions(actions: np.ndarray | None, n: int) -> torch.Tensor:
    """(1, n, 2) canonical actions: zeros when none are given, the last one held when too few are."""
    if actions is None:
        return torch.zeros(1, n, 2)
    a = np.asarray(actions, dtype=np.float32)
    if a.ndim != 2 or a.shape[1] != 2 or not np.all(np.isfinite(a)):
        raise ValueError(f"actions must be finite (T, 2) [speed m/s, yaw_rate rad/s], got shape {a.shape}")
    if len(a) < n:  # hold the last action
        a = np.concatenate([a, np.repeat(a[-1:], n - len(a), axis=0)])
    return torch.from_numpy(a[:n])[None]


def _decode_causal(
    wm: WorldModel,
    given_1Chw: torch.Tensor,
    actions_1T2: torch.Tensor,
    num_frames: int,
    sampler: SamplerConfig,
    generators: list[torch.Generator],
    text_ids: torch.Tensor | None,
) -> torch.Tensor:
    """The given frames, then one generated frame at a time up to ``num_frames``: (T, h, w) tokens."""
    given = given_1Chw[0]
    r = Rollout(wm.stpt, sampler, batch=1, text_ids=text_ids)
    r.observe(given[None], actions_1T2[:, : len(given)])
    out = [given]  # the given frames are part of the output, unchanged
    for t in range(len(given), num_frames):
        out.append(r.sample(generators)[0][None])
        r.act(actions_1T2[:, t])
    return torch.cat(out)


@dataclass
class TaskOutput:
    """One task's output and what of it came from the input.

    Attributes:
        frames: (T, H, W, 3) uint8 output frames at the model's resolution.
        tokens: (T, h, w) int64 their tokens (before ``inpaint``'s pixel feathering).
        given_frames: the input's leading frames the task conditions on (frames with a given token: causal tasks
            their context, ``inpaint`` / ``stylize`` every frame, ``text-to-video`` none).
        kept_frames: leading frames whose tokens are output unchanged (causal tasks: the given frames; joint: 0).
        generated_token_share: share of the output's token positions the sampler wrote, in [0, 1] (causal: the
            frames after the given ones; joint: the recipe's masked positions, before any re-masking rounds).
    """

    frames: np.ndarray
    tokens: torch.Tensor
    given_frames: int
    kept_frames: int
    generated_token_share: float


def generate(wm: WorldModel, task: str, **kwargs: Any) -> np.ndarray:
    """Run one task; returns generated frames (T, H, W, 3) uint8 at the model's resolution.

    The keyword arguments are those of :func:`run_task`; this returns only its ``frames``.
    """
    return run_task(wm, task, **kwargs).frames


def run_task(
    wm: WorldModel,
    task: str,
    *,
    video: np.ndarray | None = None,
    text: str = "",
    actions: np.ndarray | None = None,
    num_frames: int = 8,
    context_frames: int = 1,
    mask: np.ndarray | None = None,
    style_ratio: float | None = None,
    sampler: SamplerConfig | None = None,
    seed: int = 0,
    stylize: StylizeConfig | None = None,
    inpaint: InpaintConfig | None = None,
) -> TaskOutput:
    """Run one task; returns its frames (T, H, W, 3) uint8 at the model's resolution and what was given.

    Args:
        wm: the loaded world model.
        task: one of :data:`~drivedreamer_env.tasks.names.TASKS`.
        video: (T, H, W, 3) or (H, W, 3) uint8 input frames (resized to the model's resolution).
        text: caption (conditions every task; the style for ``stylize``).
        actions: (T, 2) ``[speed m/s, yaw_rate rad/s]`` per frame (action of frame t drives t -> t+1).
        num_frames: frames to output for the generative tasks.
        context_frames: given frames for ``action-to-video``.
        mask: (T, H, W) or (H, W) bool pixel mask for ``inpaint`` (True = regenerate).
        style_ratio: fraction of token positions ``stylize`` regenerates (default: ``StylizeConfig().ratio``;
            the same as ``stylize.ratio``, give one or the other).
        sampler: MaskGIT decoding settings (default :class:`SamplerConfig`).
        seed: seed of the sampler (and of the ``stylize`` token positions).
        stylize: the ``stylize`` schedule, text guidance and rounds (default: :class:`StylizeConfig`).
        inpaint: how ``inpaint`` fills (default: :class:`InpaintConfig`).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    if stylize is not None and style_ratio is not None and style_ratio != stylize.ratio:
        raise ValueError(f"style_ratio={style_ratio} contradicts stylize.ratio={stylize.ratio}: give one of them")
    stylize = stylize or (StylizeConfig() if style_ratio is None else StylizeConfig(ratio=style_ratio))
    inpaint = inpaint or InpaintConfig()
    sampler = sampler or SamplerConfig()
    ids = wm.text_ids([text]) if text else None
    gens = _generators(seed)
    clip = RECIPES[task](wm, TaskInputs(video, num_frames, context_frames, mask, stylize, seed))
    if clip.causal:
        acts = _actions(actions, num_frames)
        tokens = _decode_causal(wm, clip.tokens, acts, num_frames, sampler, gens, ids)
        given = kept = clip.tokens.shape[1]
        share = (len(tokens) - kept) / len(tokens)
    else:
        masked = clip.tokens[0] == wm.stpt.cfg.mask_id  # (T, h, w)
        given, kept, share = int((~masked).flatten(1).any(1).sum()), 0, float(masked.float().mean())
        acts = _actions(actions, clip.tokens.shape[1])
        if task == "stylize":
            tokens = stylize_fill(wm, clip.tokens, stylize, sampler, gens, acts, ids, seed)[0]
        elif task == "inpaint":
            mask_id = wm.stpt.cfg.mask_id
            fill_mask = dilate_tokens(clip.tokens == mask_id, inpaint.dilate)
            start = torch.where(fill_mask, torch.full_like(clip.tokens, mask_id), clip.tokens)
            tokens = fill(wm, start, sampler, gens, acts, ids, inpaint.text_guidance)
            tokens = refill_rounds(wm, tokens, inpaint.rounds - 1, ROUND_SHARE, sampler, gens, acts, ids,
                                   inpaint.text_guidance, seed, allowed=fill_mask)[0]  # fmt: skip
            if inpaint.ring:  # the fill's boundary tokens again, with both sides given
                ring = boundary_ring(fill_mask).to(tokens.device)
                remasked = torch.where(ring, torch.full_like(tokens, mask_id), tokens)
                tokens = fill(wm, remasked, sampler, gens, acts, ids, inpaint.text_guidance)
        else:
            tokens = generate_joint(wm.stpt, clip.tokens, sampler, gens, actions=acts, text_ids=ids)
        tokens = tokens[0]
    out = wm.decode(tokens)
    if clip.regenerate is not None:  # outside the mask the input pixels are kept exactly
        out = feather(out, clip.frames, clip.regenerate, inpaint.feather_px)
    return TaskOutput(out, tokens, given, kept, share)
