"""MaskGIT sampling for the STPT: confidence-based parallel decoding on a cosine schedule.

``maskgit_fill`` is the pure decoding loop. ``Rollout`` uses it frame by frame with the STPT's KV cache (the
context is paid for once; each new frame costs ``steps`` passes over that frame alone plus one pass to cache
it), and ``generate_joint`` fills several frames at once for the video tasks.

Design choices (after MaskGIT, Chang et al. 2022, and 1xgpt's ``maskgit_generate``):
* every step samples all still-masked tokens, then keeps the most confident and re-masks the rest; given
  tokens and already kept tokens never change;
* confidence is the sampled token's probability plus Gumbel noise annealed to zero over the steps, which keeps
  early steps from committing to one mode of the distribution;
* classifier-free guidance mixes conditional and unconditional logits, ``u + s * (c - u)``; the unconditional
  branch runs with the null condition through its own cache;
* all randomness comes from explicit ``torch.Generator`` s, one per batch row when given a list, so a row's
  result does not depend on the other rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from drivedreamer_env.models.stpt import STPT, STPTCache


@dataclass
class SamplerConfig:
    steps: int = 8  # decoding steps per frame
    temperature: float = 1.0  # 0 = greedy
    guidance_scale: float = 1.0  # 1 = no classifier-free guidance
    confidence_noise: float = 1.0  # scale of the annealed Gumbel noise on confidences


Generators = torch.Generator | Sequence[torch.Generator]


def _uniform(shape: tuple[int, ...], generators: Generators, device: torch.device) -> torch.Tensor:
    """U(0, 1) of ``shape`` with row i drawn from ``generators[i]`` (or all from one generator)."""
    if isinstance(generators, torch.Generator):
        return torch.rand(shape, generator=generators).to(device)
    if len(generators) != shape[0]:
        raise ValueError(f"need one generator per batch row: {shape[0]} rows, {len(generators)} generators")
    return torch.stack([torch.rand(shape[1:], generator=g) for g in generators]).to(device)


def _gumbel(shape: tuple[int, ...], generators: Generators, device: torch.device) -> torch.Tensor:
    u = _uniform(shape, generators, device).clamp(1e-9, 1 - 1e-9)
    return -torch.log(-torch.log(u))


@torch.no_grad()
def maskgit_fill(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    tokens: torch.Tensor,
    mask_id: int,
    cfg: SamplerConfig,
    generators: Generators,
) -> torch.Tensor:
    """Fill every ``mask_id`` entry of ``tokens`` (B, N).

    Args:
        logits_fn: (B, N) tokens -> (B, N, V) logits.
        tokens: given tokens, ``mask_id`` where unknown; given tokens are never changed.
    Returns:
        (B, N) tokens with no ``mask_id`` left.
    """
    tokens = tokens.clone()
    unknown0 = tokens == mask_id
    m0 = unknown0.sum(dim=1)  # (B,) tokens to generate per row
    if int(m0.max()) == 0:
        return tokens
    b, n = tokens.shape
    for step in range(cfg.steps):
        unknown = tokens == mask_id
        logits = logits_fn(tokens).float()  # (B, N, V)
        if cfg.temperature > 0:
            sampled = (logits / cfg.temperature + _gumbel(logits.shape, generators, logits.device)).argmax(-1)
            probs = torch.softmax(logits / cfg.temperature, dim=-1)
        else:
            sampled = logits.argmax(-1)
            probs = torch.softmax(logits, dim=-1)
        conf = probs.gather(-1, sampled[..., None])[..., 0].log()
        anneal = cfg.confidence_noise * cfg.temperature * (1.0 - (step + 1) / cfg.steps)
        if anneal > 0:
            conf = conf + anneal * _gumbel((b, n), generators, logits.device)
        conf = torch.where(unknown, conf, torch.full_like(conf, math.inf))
        # after this step, cos(pi/2 * (step+1)/steps) of the originally unknown tokens stay masked
        still = torch.floor(m0.float() * math.cos(math.pi / 2 * (step + 1) / cfg.steps)).long()
        if step == cfg.steps - 1:
            still = torch.zeros_like(still)
        order = conf.argsort(dim=1)  # least confident first
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(n, device=tokens.device).expand(b, n))
        remask = rank < still[:, None]
        tokens = torch.where(unknown & ~remask, sampled, tokens)
    return tokens


def _guided(out_logits: torch.Tensor, scale: float) -> torch.Tensor:
    """Rows are interleaved (cond, uncond) pairs -> guided logits for the conditional rows."""
    cond, uncond = out_logits[0::2], out_logits[1::2]
    return uncond + scale * (cond - uncond)


class Rollout:
    """Frame-by-frame generation with a KV cache of the past frames.

    Usage: ``r = Rollout(model, cfg, text=..., batch=B)``; ``r.observe(tokens, actions)`` for context frames
    (B, C, h, w) with their actions (B, C, 2); then repeatedly ``r.act(actions)`` with the action (B, 2) of the
    latest frame and ``r.sample(generators)`` for the next frame's tokens (B, h, w).
    """

    def __init__(self, model: STPT, cfg: SamplerConfig, batch: int, text_ids: torch.Tensor | None = None) -> None:
        self.model, self.cfg = model, cfg
        self.guided = cfg.guidance_scale != 1.0
        self.rows = batch * (2 if self.guided else 1)
        device = next(model.parameters()).device
        self.device = device
        self.text = None
        if text_ids is not None:
            ids = text_ids.to(device)
            self.text = model.encode_text(ids.repeat_interleave(2, 0) if self.guided else ids)
        self.drop = torch.tensor([False, True] * batch, device=device) if self.guided else None
        self.cache: STPTCache = model.empty_cache(self.rows, device)
        self.actions = torch.zeros(self.rows, 0, 2, device=device)  # history, absolute frames 0..
        self.last_events: torch.Tensor | None = None

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device).repeat_interleave(2, 0) if self.guided else x.to(self.device)

    def _forward(self, tokens: torch.Tensor, cache: STPTCache):
        return self.model(
            tokens, actions=self.actions, text=self.text, cache=cache, drop_text=self.drop, drop_actions=self.drop
        )

    @torch.no_grad()
    def observe(self, tokens: torch.Tensor, actions: torch.Tensor | None = None) -> None:
        """Append known frames (B, C, h, w); ``actions`` (B, C, 2) are their actions (drive into the next frame)."""
        rows = self._rows(tokens)
        if actions is not None:
            self.actions = torch.cat([self.actions, self._rows(actions.float())], dim=1)
        out = self._forward(rows, self.cache)
        self.cache = self.model.commit(self.cache, out, tokens.shape[1])
        self.last_events = out.events[0::2] if self.guided else out.events

    def act(self, action: torch.Tensor) -> None:
        """Set the action (B, 2) of the latest frame: it drives the transition into the next frame."""
        self.actions = torch.cat([self.actions, self._rows(action.float())[:, None]], dim=1)

    @torch.no_grad()
    def sample(self, generators: Generators, given: torch.Tensor | None = None) -> torch.Tensor:
        """Generate the next frame's tokens (B, h, w) and append it to the cache.

        ``given`` (B, h, w) may fix some tokens (``mask_id`` elsewhere).
        """
        c = self.model.cfg
        b = self.rows // (2 if self.guided else 1)
        start = given if given is not None else torch.full((b, c.grid_h, c.grid_w), c.mask_id, dtype=torch.long)
        start = start.to(self.device)

        def logits_fn(flat: torch.Tensor) -> torch.Tensor:
            out = self._forward(self._rows(flat.reshape(b, 1, c.grid_h, c.grid_w)), self.cache)
            logits = out.logits.reshape(self.rows, -1, c.codebook_size)
            return _guided(logits, self.cfg.guidance_scale) if self.guided else logits

        tokens = maskgit_fill(logits_fn, start.reshape(b, -1), c.mask_id, self.cfg, generators)
        tokens = tokens.reshape(b, c.grid_h, c.grid_w)
        self.observe(tokens[:, None])
        return tokens


@torch.no_grad()
def generate_joint(
    model: STPT,
    tokens: torch.Tensor,
    cfg: SamplerConfig,
    generators: Generators,
    actions: torch.Tensor | None = None,
    text_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fill all ``mask_id`` tokens of a whole clip (B, T, h, w) jointly (video tasks)."""
    b, t, h, w = tokens.shape
    guided = cfg.guidance_scale != 1.0
    rows = 2 * b if guided else b
    device = next(model.parameters()).device
    text = None
    if text_ids is not None:
        text = model.encode_text((text_ids.repeat_interleave(2, 0) if guided else text_ids).to(device))
    acts = None
    if actions is not None:
        acts = (actions.repeat_interleave(2, 0) if guided else actions).float().to(device)
    drop = torch.tensor([False, True] * b, device=device) if guided else None

    def logits_fn(flat: torch.Tensor) -> torch.Tensor:
        x = flat.reshape(b, t, h, w)
        x = x.repeat_interleave(2, 0) if guided else x
        out = model(x.to(device), actions=acts, text=text, drop_text=drop, drop_actions=drop)
        logits = out.logits.reshape(rows, -1, model.cfg.codebook_size)
        return _guided(logits, cfg.guidance_scale) if guided else logits

    return maskgit_fill(logits_fn, tokens.reshape(b, -1).to(device), model.cfg.mask_id, cfg, generators).reshape(
        b, t, h, w
    )
