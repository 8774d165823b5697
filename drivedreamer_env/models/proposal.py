"""Warp proposals: the tokens the geometry predicts for the next frame, and where they can be trusted.

A proposal for frame t+1 is the previous frame t, decoded to pixels, reprojected by the action of t
(:mod:`drivedreamer_env.models.reprojection`) and encoded again. Tokens whose pixels all come from inside the old
view are *trusted*; the rest (new content at the borders) is left for the STPT to fill. Training builds proposals
the same way from the tokenizer's reconstruction of the true frame t (what a rollout has: a decoded frame), so
the model learns to correct exactly what decoding hands it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from drivedreamer_env.models.reprojection import CameraModel, Pose, Seconds, reproject, reproject_pose, token_validity
from drivedreamer_env.models.tokenizer import VisualTokenizer

ENCODE_CHUNK = 64  # frames per tokenizer call


@dataclass
class Proposal:
    tokens: torch.Tensor  # (B, h, w) int64 tokens of the warped frame
    trusted: torch.Tensor  # (B, h, w) bool: every pixel of the token came from inside the old view
    frames: torch.Tensor  # (B, H, W, 3) uint8 warped frames (invalid pixels take the nearest border colour)


@torch.no_grad()
def warp_proposal(
    tokenizer: VisualTokenizer,
    prev_frames_BHW3: torch.Tensor,
    actions_B2: torch.Tensor,
    dt_s: Seconds,
    cam: CameraModel,
    margin: int = 0,
) -> Proposal:
    """Proposal for the next frame from the previous (decoded) frames and the actions that drive into it.

    Args:
        tokenizer: the checkpoint's tokenizer (its resolution must be the camera's).
        prev_frames_BHW3: (B, H, W, 3) uint8 frames at pose t.
        actions_B2: (B, 2) ``[speed m/s, yaw_rate rad/s]`` held from t to t+1.
        dt_s: step length [s] (float or (B,)).
        cam: the frames' camera.
        margin: also distrust tokens within ``margin`` tokens of an untrusted one.
    """
    _check_resolution(tokenizer, cam)
    device = next(tokenizer.parameters()).device
    warped, valid = reproject(prev_frames_BHW3.to(device), actions_B2.to(device), dt_s, cam)
    return _encode_proposal(tokenizer, warped, valid, margin)


@torch.no_grad()
def pose_proposal(
    tokenizer: VisualTokenizer, frames_BHW3: torch.Tensor, pose: Pose, cam: CameraModel, margin: int = 0
) -> Proposal:
    """:func:`warp_proposal` from frames taken at a relative ego ``pose`` before (e.g. an anchor frame)."""
    _check_resolution(tokenizer, cam)
    device = next(tokenizer.parameters()).device
    warped, valid = reproject_pose(frames_BHW3.to(device), *pose, cam)
    return _encode_proposal(tokenizer, warped, valid, margin)


def _check_resolution(tokenizer: VisualTokenizer, cam: CameraModel) -> None:
    cfg = tokenizer.cfg
    if (cfg.height, cfg.width) != (cam.height, cam.width):
        raise ValueError(f"camera is {cam.height}x{cam.width} but the tokenizer takes {cfg.height}x{cfg.width}")


def _encode_proposal(tokenizer: VisualTokenizer, warped: torch.Tensor, valid: torch.Tensor, margin: int) -> Proposal:
    tokens = torch.cat([tokenizer.encode(c[:, None]).tokens[:, 0] for c in warped.split(ENCODE_CHUNK)])
    return Proposal(tokens, token_validity(valid, tokenizer.cfg.downsample, margin), warped)


@torch.no_grad()
def clip_proposals(
    tokenizer: VisualTokenizer,
    tokens_Thw: torch.Tensor,
    actions_T2: np.ndarray,
    timestamps_T: np.ndarray,
    cam: CameraModel,
    margin: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Proposals for every frame of a token clip from the reconstruction of the frame before it.

    Returns (proposal tokens (T, h, w) int16, trusted (T, h, w) bool); frame 0 has no previous frame and is
    all untrusted.
    """
    t = tokens_Thw.shape[0]
    h, w = tokens_Thw.shape[1:]
    out_tokens = np.zeros((t, h, w), np.int16)
    out_trusted = np.zeros((t, h, w), bool)
    if t < 2:
        return out_tokens, out_trusted
    device = next(tokenizer.parameters()).device
    recon = torch.cat([tokenizer.decode(c[None].to(device))[0] for c in tokens_Thw[:-1].split(ENCODE_CHUNK)])
    dt = torch.from_numpy(np.diff(np.asarray(timestamps_T, np.float64)))
    acts = torch.from_numpy(np.asarray(actions_T2[:-1], np.float32))
    prop = warp_proposal(tokenizer, recon, acts, dt, cam, margin)
    out_tokens[1:] = prop.tokens.cpu().numpy().astype(np.int16)
    out_trusted[1:] = prop.trusted.cpu().numpy()
    return out_tokens, out_trusted


def proposal_start(
    proposal: Proposal, remask: float, mask_id: int, generators: torch.Generator | list[torch.Generator]
) -> torch.Tensor:
    """The frame warp-then-refine decoding starts from: trusted proposal tokens, ``mask_id`` elsewhere and on a
    random ``remask`` share of the trusted ones (row i's share drawn from ``generators[i]``). Returns (B, h, w)."""
    b = proposal.tokens.shape[0]
    if isinstance(generators, torch.Generator):
        u = torch.rand(proposal.tokens.shape, generator=generators)
    else:
        u = torch.stack([torch.rand(proposal.tokens.shape[1:], generator=g) for g in generators[:b]])
    keep = proposal.trusted & (u.to(proposal.tokens.device) >= remask)
    return torch.where(keep, proposal.tokens, torch.full_like(proposal.tokens, mask_id))
