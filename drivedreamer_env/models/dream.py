"""One dreamt step: the action, the sampler's decoding (plain MaskGIT or warp-then-refine) and the decoded frame.

Every consumer of a rollout (the env, the evaluations, the counterfactual report) steps through
:func:`dream_step`, so the decoding the sampler config names is the decoding they all get.

Warp-then-refine (``SamplerConfig.decoding == "warp"``): the previous dreamt frame is reprojected by the commanded
ego motion with the checkpoint's camera and encoded; its trusted tokens (inside the old view) are kept, except a
random ``warp_remask`` share, and MaskGIT fills the rest (new content at the borders). The ego motion is then
carried by geometry, exactly, and the STPT supplies what geometry cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from drivedreamer_env.models.proposal import Proposal, proposal_start, warp_proposal
from drivedreamer_env.models.sampler import Generators, Rollout
from drivedreamer_env.models.world_model import WorldModel


@dataclass
class DreamStep:
    tokens: torch.Tensor  # (B, h, w) int64 tokens of the new frame
    frames: np.ndarray  # (B, H, W, 3) uint8 decoded new frame
    proposal: Proposal | None  # the warp proposal it started from (warp decoding), else None


@torch.no_grad()
def dream_step(
    rollout: Rollout,
    wm: WorldModel,
    prev_frames: np.ndarray,
    actions_B2: torch.Tensor,
    dt_s: float,
    generators: Generators,
) -> DreamStep:
    """Set the latest frame's canonical actions ``[speed m/s, yaw_rate rad/s]`` (B, 2), dream the next frame.

    Args:
        rollout: the rollout whose cache holds the past (its ``cfg`` names the decoding).
        wm: the loaded checkpoint (its tokenizer, and its camera for warp decoding).
        prev_frames: (B, H, W, 3) uint8, the latest frame of every row (decoded, as the rollout holds it).
        dt_s: the step length [s].
        generators: one ``torch.Generator`` per row (or one for all).
    """
    cfg = rollout.cfg
    actions_B2 = actions_B2.float()
    rollout.act(actions_B2)
    if cfg.decoding == "plain":
        tokens = rollout.sample(generators)
        return DreamStep(tokens, wm.decode(tokens[:, None])[:, 0], None)
    if wm.camera is None:
        raise ValueError("warp decoding needs the checkpoint's camera (config.json 'camera'); use decoding='plain'")
    prev = torch.from_numpy(np.ascontiguousarray(prev_frames))
    proposal = warp_proposal(wm.tokenizer, prev, actions_B2, dt_s, wm.camera)
    start = proposal_start(proposal, cfg.warp_remask, rollout.model.cfg.mask_id, generators)
    tokens = rollout.sample(generators, given=start)
    return DreamStep(tokens, wm.decode(tokens[:, None])[:, 0], proposal)
