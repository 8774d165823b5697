"""One dreamt step: the action, the sampler's decoding (plain MaskGIT or warp-then-refine) and the decoded frame.

Every consumer of a rollout (the env, the evaluations, the counterfactual report) steps through
:func:`dream_step`, so the decoding the sampler config names is the decoding they all get.

Warp-then-refine (``SamplerConfig.decoding == "warp"``): an anchor frame (the previous dreamt frame, or one held
for ``warp_anchor_every`` steps) is reprojected by the ego motion commanded since it was taken, with the
checkpoint's camera, and encoded; its trusted tokens (inside the old view) are kept, except a random
``warp_remask`` share, and MaskGIT fills the rest (new content at the borders). The ego motion is then carried by
geometry, exactly, and the STPT supplies what geometry cannot. Holding the anchor resamples the picture less
often, so it blurs less (measured in ``benchmarks/results/world_model_v2_decoding.json``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from drivedreamer_env.models.proposal import Proposal, pose_proposal, proposal_start
from drivedreamer_env.models.reprojection import Pose, ego_motion, then
from drivedreamer_env.models.sampler import Generators, Rollout
from drivedreamer_env.models.world_model import WorldModel


@dataclass
class WarpAnchor:
    """Per row: the frame warp decoding reprojects from, the ego motion since it was taken, and its age [steps]."""

    frames: np.ndarray  # (B, H, W, 3) uint8
    pose: Pose  # (dx_m, dy_m, dyaw_rad), each (B,): the current pose in the anchor frame's ego frame
    age: np.ndarray  # (B,) int steps since the anchor frame

    @classmethod
    def at(cls, frames: np.ndarray) -> WarpAnchor:
        """Fresh anchors: the given frames, no motion since."""
        zero = torch.zeros(len(frames))
        return cls(np.array(frames, copy=True), (zero, zero.clone(), zero.clone()), np.zeros(len(frames), int))

    def select(self, rows: list[int]) -> WarpAnchor:
        """Copies of rows ``rows`` (repeats allowed)."""
        idx = torch.as_tensor(rows, dtype=torch.long)
        return WarpAnchor(self.frames[rows].copy(), tuple(p[idx].clone() for p in self.pose), self.age[rows].copy())

    def restart(self, rows: list[int], frames: np.ndarray) -> None:
        """Rows ``rows`` start afresh from ``frames`` (n, H, W, 3)."""
        self.frames[rows] = frames
        for p in self.pose:
            p[torch.as_tensor(rows, dtype=torch.long)] = 0.0
        self.age[rows] = 0


@dataclass
class DreamStep:
    tokens: torch.Tensor  # (B, h, w) int64 tokens of the new frame
    frames: np.ndarray  # (B, H, W, 3) uint8 decoded new frame
    proposal: Proposal | None  # the warp proposal it started from (warp decoding), else None
    anchor: WarpAnchor  # the anchors for the next step


@torch.no_grad()
def dream_step(
    rollout: Rollout,
    wm: WorldModel,
    anchor: WarpAnchor,
    actions_B2: torch.Tensor,
    dt_s: float,
    generators: Generators,
) -> DreamStep:
    """Set the latest frame's canonical actions ``[speed m/s, yaw_rate rad/s]`` (B, 2), dream the next frame.

    Args:
        rollout: the rollout whose cache holds the past (its ``cfg`` names the decoding).
        wm: the loaded checkpoint (its tokenizer, and its camera for warp decoding).
        anchor: the frames warp decoding reprojects from (:meth:`WarpAnchor.at` the latest decoded frames to
            start; then the previous step's ``anchor``).
        dt_s: the step length [s].
        generators: one ``torch.Generator`` per row (or one for all).
    """
    cfg = rollout.cfg
    actions_B2 = actions_B2.float()
    rollout.act(actions_B2)
    pose = then(anchor.pose, ego_motion(actions_B2, dt_s))
    proposal = None
    if cfg.decoding == "plain":
        tokens = rollout.sample(generators)
    else:
        if wm.camera is None:
            raise ValueError("warp decoding needs the checkpoint's camera (config.json 'camera'); use 'plain'")
        proposal = pose_proposal(wm.tokenizer, torch.from_numpy(anchor.frames), pose, wm.camera)
        start = proposal_start(proposal, cfg.warp_remask, rollout.model.cfg.mask_id, generators)
        aligned = None
        if rollout.model.cfg.proposal_input:  # the trusted proposal tokens, also where they are re-masked
            aligned = torch.where(proposal.trusted, proposal.tokens, rollout.model.cfg.mask_id)
        tokens = rollout.sample(generators, given=start, proposal=aligned)
    frames = wm.decode(tokens[:, None])[:, 0]
    age = anchor.age + 1
    renew = age >= cfg.warp_anchor_every  # these rows reproject from the new frame next
    keep = torch.from_numpy(~renew)
    new_pose = tuple(torch.where(keep, p, torch.zeros_like(p)) for p in pose)
    new_frames = np.where(renew[:, None, None, None], frames, anchor.frames)
    return DreamStep(tokens, frames, proposal, WarpAnchor(new_frames, new_pose, np.where(renew, 0, age)))
