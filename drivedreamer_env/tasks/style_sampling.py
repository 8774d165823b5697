"""Sampling-side levers of ``stylize`` and ``inpaint`` (no training): which tokens to regenerate, and how.

* :class:`StylizeConfig` — which token positions ``stylize`` regenerates (``"random"``: a random ``ratio`` of
  positions, WorldDreamer's dynamic masking; ``"structure"``: the flattest ``ratio`` of each frame's tokens, the
  edge tokens kept), guidance on the text only (the unconditional branch drops the text and keeps the actions and
  the given tokens), and rounds (regenerate, then re-mask the tokens least consistent with the text and regenerate
  them again);
* :class:`InpaintConfig` — guidance on the text only and rounds (over the fill only), as for ``stylize``; a
  ``dilate``-d generated region (less source-style context); and
  boundary-aware inpainting: the fill's tokens along the mask boundary re-sampled once more with the context and
  the rest of the fill given (``ring``), and a feathered composite of the decoded fill with the kept pixels over
  ``feather_px`` pixels inside the mask (the pixels outside it are still kept exactly).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from drivedreamer_env.data.frames import edge_token_energy  # noqa: F401  (re-exported)
from drivedreamer_env.models.sampler import Generators, SamplerConfig, generate_joint, maskgit_fill
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.tasks.options import ROUND_SHARE, StylizeConfig


def flattest(energy: np.ndarray, ratio: float) -> np.ndarray:
    """(T, h, w) energy -> (T, h, w) bool: the ``ratio`` share of each frame's tokens with the least energy."""
    t = energy.shape[0]
    flat = energy.reshape(t, -1)
    k = round(ratio * flat.shape[1])
    out = np.zeros_like(flat, dtype=bool)
    np.put_along_axis(out, np.argsort(flat, axis=1, kind="stable")[:, :k], True, axis=1)
    return out.reshape(energy.shape)


def fill(
    wm: WorldModel,
    tokens: torch.Tensor,
    sampler: SamplerConfig,
    generators: Generators,
    actions: torch.Tensor | None,
    text_ids: torch.Tensor | None,
    text_guidance: float = 1.0,
) -> torch.Tensor:
    """Fill every ``mask_id`` of (B, T, h, w) ``tokens`` jointly; with ``text_guidance`` != 1 the guidance mixes
    the logits with and without the text only (:func:`generate_joint` drops the text and the actions)."""
    if text_guidance == 1.0 or text_ids is None:
        return generate_joint(wm.stpt, tokens, sampler, generators, actions=actions, text_ids=text_ids)
    model = wm.stpt
    b, t, h, w = tokens.shape
    device = wm.device
    text = model.encode_text(text_ids.repeat_interleave(2, 0).to(device))
    acts = actions.repeat_interleave(2, 0).float().to(device) if actions is not None else None
    drop = torch.tensor([False, True] * b, device=device)

    def logits_fn(flat: torch.Tensor) -> torch.Tensor:
        x = flat.reshape(b, t, h, w).repeat_interleave(2, 0).to(device)
        logits = model(x, actions=acts, text=text, drop_text=drop).logits.reshape(2 * b, -1, model.cfg.codebook_size)
        cond, uncond = logits[0::2], logits[1::2]
        return uncond + text_guidance * (cond - uncond)

    with torch.no_grad():
        out = maskgit_fill(logits_fn, tokens.reshape(b, -1).to(device), model.cfg.mask_id, sampler, generators)
    return out.reshape(b, t, h, w)


@torch.no_grad()
def text_consistency(
    wm: WorldModel, tokens: torch.Tensor, actions: torch.Tensor | None, text_ids: torch.Tensor, seed: int
) -> torch.Tensor:
    """(1, T, h, w) tokens -> (1, T, h, w) log p(token | text) - log p(token | no text), each token scored while
    masked: a random half of the positions is masked, then the other half, with the rest given."""
    model = wm.stpt
    device = wm.device
    tokens = tokens.to(device)
    g = torch.Generator().manual_seed(seed)
    half = (torch.rand(tokens.shape, generator=g) < 0.5).to(device)
    text = model.encode_text(text_ids.repeat_interleave(2, 0).to(device))
    acts = actions.repeat_interleave(2, 0).float().to(device) if actions is not None else None
    drop = torch.tensor([False, True], device=device)
    score = torch.zeros(tokens.shape, device=device)
    for part in (half, ~half):
        x = torch.where(part, torch.full_like(tokens, model.cfg.mask_id), tokens).repeat_interleave(2, 0)
        logp = F.log_softmax(model(x, actions=acts, text=text, drop_text=drop).logits.float(), dim=-1)
        own = logp.gather(-1, tokens.repeat_interleave(2, 0)[..., None])[..., 0]  # (2, T, h, w)
        score = torch.where(part, own[0:1] - own[1:2], score)
    return score


def refill_rounds(
    wm: WorldModel,
    tokens: torch.Tensor,
    rounds: int,
    share: float,
    sampler: SamplerConfig,
    generators: Generators,
    actions: torch.Tensor | None,
    text_ids: torch.Tensor | None,
    text_guidance: float,
    seed: int,
    allowed: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``rounds`` times: re-mask the ``share`` of the ``allowed`` (default: all) tokens of a filled (1, T, h, w)
    clip that are least consistent with the text (:func:`text_consistency`), and fill them again. Returns the
    tokens and each round's mask; tokens outside ``allowed`` never change."""
    masks = []
    if rounds and text_ids is None:
        raise ValueError("re-masking rounds need a text to be consistent with (text=...)")
    mask_id = wm.stpt.cfg.mask_id
    out = tokens
    allowed = torch.ones_like(out, dtype=torch.bool) if allowed is None else allowed.to(out.device)
    for r in range(rounds):
        score = text_consistency(wm, out, actions, text_ids, seed + 1 + r)
        score = torch.where(allowed, score, torch.full_like(score, torch.inf)).flatten()
        k = round(share * int(allowed.sum()))
        remask = torch.zeros(score.numel(), dtype=torch.bool, device=score.device)
        remask[score.argsort()[:k]] = True
        remask = remask.reshape(out.shape)
        masks.append(remask.cpu())
        out = fill(wm, torch.where(remask, torch.full_like(out, mask_id), out), sampler, generators, actions,
                   text_ids, text_guidance)  # fmt: skip
    return out, masks


def stylize_fill(
    wm: WorldModel,
    tokens: torch.Tensor,
    cfg: StylizeConfig,
    sampler: SamplerConfig,
    generators: Generators,
    actions: torch.Tensor | None,
    text_ids: torch.Tensor | None,
    seed: int,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Fill the masked (1, T, h, w) ``tokens``; then, for each further round, re-mask the tokens least consistent
    with the text and fill them again: the ``cfg.ratio`` share of all tokens (``"random"``), or the
    :data:`ROUND_SHARE` of the first round's flat tokens, the edge tokens kept throughout (``"structure"``).
    Returns the tokens and each round's mask."""
    mask_id = wm.stpt.cfg.mask_id
    first = tokens == mask_id
    out = fill(wm, tokens, sampler, generators, actions, text_ids, cfg.text_guidance)
    # "random": any token may be re-masked later; "structure": the edge tokens are kept in every round
    allowed, share = (first, ROUND_SHARE) if cfg.schedule == "structure" else (None, cfg.ratio)
    out, masks = refill_rounds(wm, out, cfg.rounds - 1, share, sampler, generators, actions, text_ids,
                               cfg.text_guidance, seed, allowed=allowed)  # fmt: skip
    return out, [first.cpu(), *masks]


def dilate_tokens(token_mask: torch.Tensor, rings: int) -> torch.Tensor:
    """(..., h, w) bool -> the mask grown by ``rings`` tokens (8-connected) within each frame."""
    if rings <= 0:
        return token_mask
    m = token_mask.float().flatten(0, -3)[:, None]
    grown = F.max_pool2d(m, 2 * rings + 1, stride=1, padding=rings)
    return grown[:, 0].reshape(token_mask.shape) > 0.5


def boundary_ring(token_mask: torch.Tensor) -> torch.Tensor:
    """(..., h, w) bool -> the masked tokens with an unmasked 4-neighbour (edges of the grid are no boundary)."""
    m = token_mask
    pad = F.pad(m.float().flatten(0, -3)[:, None], (1, 1, 1, 1), value=1.0)  # outside the grid counts as masked
    inside = -F.max_pool2d(-pad, 3, stride=1)  # 1 where every neighbour (8-connected) is masked
    return m & (inside[:, 0].reshape(m.shape) < 0.5)


def feather(decoded: np.ndarray, kept: np.ndarray, mask: np.ndarray, px: int) -> np.ndarray:
    """(T, H, W, 3) uint8: ``kept`` outside ``mask`` (exactly), ``decoded`` deep inside it, a linear ramp over the
    ``px`` pixels inside the boundary (distance to the nearest unmasked pixel; edges of the image are no boundary)."""
    out = np.where(mask[..., None], decoded, kept)
    if px <= 0:
        return out
    alpha = np.empty(mask.shape, np.float32)
    for i, m in enumerate(mask):
        padded = cv2.copyMakeBorder(m.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_REPLICATE)
        alpha[i] = np.clip(cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1] / px, 0.0, 1.0)
    a = alpha[..., None]
    blend = np.round(a * decoded.astype(np.float32) + (1.0 - a) * kept.astype(np.float32)).astype(np.uint8)
    return np.where(mask[..., None], blend, kept)
