"""The five WorldDreamer tasks as mask recipes over one :func:`generate` call.

* ``image-to-video``: given the first frame (and optional text / actions), the next frames are generated one
  by one with the KV cache;
* ``text-to-video``: given a caption, every token of every frame is generated jointly;
* ``inpaint``: given a video and a pixel mask, the tokens under the mask are regenerated (a token is masked if
  any of its pixels is) and pixels outside the mask are kept exactly;
* ``stylize``: given a video and a style caption, a random ``style_ratio`` of token positions (the same in
  every frame) is regenerated jointly;
* ``action-to-video``: given context frames and per-frame actions, the future frames are generated one by one.
"""

from __future__ import annotations

import numpy as np
import torch

from drivedreamer_env.models.sampler import Rollout, SamplerConfig, generate_joint
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.tasks_cli import TASKS  # the one list of task names (kept torch-free for the CLI)


def _generators(seed: int, n: int = 1) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed + i) for i in range(n)]


def pixel_mask_to_tokens(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(T, H, W) bool pixel mask -> (T, h, w) bool token mask: a token is masked if any of its pixels is."""
    t, h, w = mask.shape
    gh, gw = grid
    if h % gh or w % gw:
        raise ValueError(f"mask size {h}x{w} is not a multiple of the token grid {gh}x{gw}")
    return mask.reshape(t, gh, h // gh, gw, w // gw).any(axis=(2, 4))


def _actions(actions: np.ndarray | None, n: int) -> torch.Tensor:
    if actions is None:
        return torch.zeros(1, n, 2)
    a = np.asarray(actions, dtype=np.float32)
    if a.ndim != 2 or a.shape[1] != 2 or not np.all(np.isfinite(a)):
        raise ValueError(f"actions must be finite (T, 2) [speed m/s, yaw_rate rad/s], got shape {a.shape}")
    if len(a) < n:  # hold the last action
        a = np.concatenate([a, np.repeat(a[-1:], n - len(a), axis=0)])
    return torch.from_numpy(a[:n])[None]


def generate(
    wm: WorldModel,
    task: str,
    *,
    video: np.ndarray | None = None,
    text: str = "",
    actions: np.ndarray | None = None,
    num_frames: int = 8,
    context_frames: int = 1,
    mask: np.ndarray | None = None,
    style_ratio: float = 0.6,
    sampler: SamplerConfig | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Run one task; returns generated frames (T, H, W, 3) uint8 at the model's resolution.

    Args:
        video: (T, H, W, 3) or (H, W, 3) uint8 input frames (resized to the model's resolution).
        text: caption (conditions every task; the style for ``stylize``).
        actions: (T, 2) ``[speed m/s, yaw_rate rad/s]`` per frame (action of frame t drives t -> t+1).
        num_frames: frames to output for the generative tasks.
        context_frames: given frames for ``action-to-video``.
        mask: (T, H, W) or (H, W) bool pixel mask for ``inpaint`` (True = regenerate).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    sampler = sampler or SamplerConfig()
    c = wm.stpt.cfg
    ids = wm.text_ids([text]) if text else None
    gens = _generators(seed)
    if task in ("image-to-video", "action-to-video"):
        if video is None:
            raise ValueError(f"{task} needs an input image or video (video=...)")
        given = wm.encode(video)[: max(1, context_frames if task == "action-to-video" else 1)]
        acts = _actions(actions, num_frames)
        r = Rollout(wm.stpt, sampler, batch=1, text_ids=ids)
        r.observe(given[None], acts[:, : len(given)])
        out = [given]
        for t in range(len(given), num_frames):
            out.append(r.sample(gens)[0][None])
            r.act(acts[:, t])
        return wm.decode(torch.cat(out))
    if task == "text-to-video":
        tokens = torch.full((1, num_frames, c.grid_h, c.grid_w), c.mask_id, dtype=torch.long)
        return wm.decode(
            generate_joint(wm.stpt, tokens, sampler, gens, actions=_actions(actions, num_frames), text_ids=ids)[0]
        )
    if video is None:
        raise ValueError(f"{task} needs an input video (video=...)")
    frames = wm.prepare(video)
    tokens = wm.encode(frames)[None]  # (1, T, h, w)
    n = tokens.shape[1]
    if task == "inpaint":
        if mask is None:
            raise ValueError("inpaint needs a pixel mask (mask=..., True where to regenerate)")
        m = np.asarray(mask, dtype=bool)
        m = np.broadcast_to(m, (n, *m.shape[-2:])) if m.ndim == 2 else m
        if m.shape != frames.shape[:3]:
            raise ValueError(f"mask must be (T, H, W) = {frames.shape[:3]} or (H, W), got {m.shape}")
        token_mask = torch.from_numpy(pixel_mask_to_tokens(m, (c.grid_h, c.grid_w)))[None]
    else:  # stylize: the same random token positions in every frame (dynamic masking)
        g = torch.Generator().manual_seed(seed)
        token_mask = (torch.rand(1, 1, c.grid_h, c.grid_w, generator=g) < style_ratio).expand(1, n, -1, -1)
    start = torch.where(token_mask.to(tokens.device), torch.full_like(tokens, c.mask_id), tokens)
    out = wm.decode(generate_joint(wm.stpt, start, sampler, gens, actions=_actions(actions, n), text_ids=ids)[0])
    if task == "inpaint":
        out = np.where(m[..., None], out, frames)  # outside the mask the input pixels are kept exactly
    return out
