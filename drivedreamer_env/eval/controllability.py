"""Controllability: left / right branches from one start; does the dream turn the way, and as far as, the action says?

Part of ``drivedreamer eval world-model``. Ground truth is the simulator driven from the same start by the same
actions; the heading change is read off the frames by the validated estimator
(:func:`~drivedreamer_env.eval.frame_probes.estimate_yaw`), for the dream, the truth and the warp of the last real
frame alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from drivedreamer_env.eval.frame_probes import estimate_yaw
from drivedreamer_env.eval.open_loop import rollout
from drivedreamer_env.eval.warp_baseline import model_camera, warp_last
from drivedreamer_env.models.sampler import SamplerConfig
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.sim.policies import pure_pursuit
from drivedreamer_env.sim.simulator import Simulator
from drivedreamer_env.units import physical_to_normalized

TURN_STEER_NORMALIZED = 0.25  # normalised steering of the counterfactual branches (about 0.125 rad road-wheel angle)


def lane_keep(sim: Simulator, speed_mps: float = 8.0) -> np.ndarray:
    geo = sim.cfg.geometry
    return physical_to_normalized(pure_pursuit(sim, sim.state.d, max(6.0, sim.state.ego.speed)), speed_mps, geo)


def counterfactual_starts(sim: Simulator, seeds: list[int], context: int, horizon: int) -> dict[str, Any]:
    """Ground truth for left / right branches from the same starts (lane keeping for the context)."""
    ctx_frames, ctx_actions, texts, branches = [], [], [], {"left": ([], []), "right": ([], [])}
    for seed in seeds:
        frame, _ = sim.reset(seed)
        frames, actions = [frame], []
        for _ in range(context - 1):
            frame = sim.step(lane_keep(sim)).frame
            actions.append((sim.state.ego.speed, sim.state.ego.yaw_rate))
            frames.append(frame)
        fork = sim.get_state()
        for name, steer in (("left", TURN_STEER_NORMALIZED), ("right", -TURN_STEER_NORMALIZED)):
            sim.set_state(fork)
            bf, ba = [], []
            for _ in range(horizon):
                bf.append(sim.step([steer, -0.2]).frame)
                ba.append((sim.state.ego.speed, sim.state.ego.yaw_rate))
            branches[name][0].append(bf)
            branches[name][1].append(ba)
        ctx_frames.append(frames)
        ctx_actions.append(actions)
        texts.append(sim.world.caption)
    return {
        "context_frames": np.array(ctx_frames),  # (N, C, H, W, 3)
        "context_actions": np.array(ctx_actions, np.float32),  # (N, C-1, 2)
        "texts": texts,
        "branches": {k: (np.array(f), np.array(a, np.float32)) for k, (f, a) in branches.items()},
    }


@dataclass
class Controllability:
    """Left / right branches from one start: does the dream turn the way the action says?

    Attributes:
        yaw_sign_accuracy: fraction of starts whose dreamed left branch turns left and right branch right.
        gt_pair_sign_accuracy: the same on the ground-truth frames (validates the yaw estimator).
        gt_heading_change_true_rad, gt_heading_change_estimated_rad, dream_heading_change_estimated_rad:
            branch -> mean heading change over the horizon [rad] (+ = left): true, read off the ground-truth
            frames, read off the dreamed frames.
        heading_gain: branch -> dreamed heading change over the ground truth's, both read off the frames by the
            estimator (1 = the size of the true turn).
        warp_last_yaw_sign_accuracy: ``yaw_sign_accuracy`` of the warp of the last real frame (the baseline).
        context_frame: (H, W, 3) the last context frame of the first start; ``left_dream`` (horizon, H, W, 3)
            its dreamed left branch (for the contact sheet).
    """

    yaw_sign_accuracy: float
    heading_gain: dict[str, float]
    warp_last_yaw_sign_accuracy: float
    gt_pair_sign_accuracy: float
    gt_heading_change_true_rad: dict[str, float]
    gt_heading_change_estimated_rad: dict[str, float]
    dream_heading_change_estimated_rad: dict[str, float]
    context_frame: np.ndarray = field(repr=False)
    left_dream: np.ndarray = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "yaw_sign_accuracy": self.yaw_sign_accuracy,
            **{f"heading_gain_{k}": v for k, v in self.heading_gain.items()},
            "warp_last_yaw_sign_accuracy": self.warp_last_yaw_sign_accuracy,
            "yaw_estimator_validation": {
                "gt_pair_sign_accuracy": self.gt_pair_sign_accuracy,
                "gt_heading_change_true_rad": self.gt_heading_change_true_rad,
                "gt_heading_change_estimated_rad": self.gt_heading_change_estimated_rad,
                "dream_heading_change_estimated_rad": self.dream_heading_change_estimated_rad,
            },
        }


def _heading_changes(last_ctx: np.ndarray, branch: np.ndarray, hfov_deg: float) -> np.ndarray:
    """(N,) heading change [rad] read off each branch (N, horizon, H, W, 3) after its last context frame."""
    return np.array(
        [estimate_yaw(np.concatenate([lc, f]), hfov_deg).sum() for lc, f in zip(last_ctx, branch, strict=True)]
    )


def _pair_sign_accuracy(yaw: dict[str, np.ndarray]) -> float:
    return float(((yaw["left"] > 0) & (yaw["right"] < 0)).mean())


def evaluate_controllability(
    wm: WorldModel, sim: Simulator, seeds: list[int], context: int, horizon: int, sampler: SamplerConfig
) -> Controllability:
    """Left / right branches from the same starts (see :func:`counterfactual_starts`), yaw read off the frames;
    the same for the warp of the last real frame."""
    hfov_deg, dt_s = sim.cfg.camera.hfov_deg, sim.cfg.dt_s
    cam = model_camera(wm, sim)
    cf = counterfactual_starts(sim, seeds, context, horizon)
    ctx_tokens = torch.stack([wm.encode(f) for f in cf["context_frames"]])
    last_ctx = cf["context_frames"][:, -1:]
    gt_yaw, dream_yaw, warp_yaw, dreams = {}, {}, {}, {}
    for name, (frames, acts) in cf["branches"].items():
        full_actions = np.concatenate([cf["context_actions"], acts], axis=1)  # action of frame t drives t -> t+1
        dreams[name] = rollout(wm, ctx_tokens, full_actions, cf["texts"], context, horizon, sampler, 2, dt_s)
        gt_yaw[name] = _heading_changes(last_ctx, frames, hfov_deg)
        dream_yaw[name] = _heading_changes(last_ctx, dreams[name], hfov_deg)
        warped = warp_last(last_ctx[:, 0], full_actions[:, context - 1 : context - 1 + horizon], dt_s, cam)
        warp_yaw[name] = _heading_changes(last_ctx, warped, hfov_deg)
    return Controllability(
        yaw_sign_accuracy=_pair_sign_accuracy(dream_yaw),
        heading_gain={k: float(dream_yaw[k].mean() / gt_yaw[k].mean()) for k in gt_yaw},
        warp_last_yaw_sign_accuracy=_pair_sign_accuracy(warp_yaw),
        gt_pair_sign_accuracy=_pair_sign_accuracy(gt_yaw),
        # true heading change: the sum of the yaw rates [rad/s] times the step [s]
        gt_heading_change_true_rad={
            k: float(np.mean(v[1][..., 1].sum(axis=1) * dt_s)) for k, v in cf["branches"].items()
        },
        gt_heading_change_estimated_rad={k: float(v.mean()) for k, v in gt_yaw.items()},
        dream_heading_change_estimated_rad={k: float(v.mean()) for k, v in dream_yaw.items()},
        context_frame=cf["context_frames"][0, -1],
        left_dream=dreams["left"][0],
    )
