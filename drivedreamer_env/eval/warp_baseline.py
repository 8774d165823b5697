"""The zero-parameter baseline every world-model figure is set against: warp the last real frame by the ego motion.

The last context frame is reprojected (:mod:`drivedreamer_env.models.reprojection`) by the motion the actions
imply, composed over k steps: rotation at infinity above the horizon, the ground plane below it, with the
checkpoint's camera. It knows nothing of other cars, new content at the borders or anything standing on the road;
the learned model must beat it. Keys: ``warp_last_psnr@k``, ``warp_last_delta_psnr_actions@H``,
``warp_last_yaw_sign_accuracy``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from drivedreamer_env.eval.open_loop import PSNR_HORIZONS, mean_psnr
from drivedreamer_env.models.reprojection import CameraModel, compose_motion, reproject_pose
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.sim.simulator import Simulator


def simulator_camera(sim: Simulator) -> CameraModel:
    """The simulator camera as the models' :class:`CameraModel`."""
    c = sim.camera
    return CameraModel(c.width, c.height, c.fx, c.fy, c.cx, c.cy, c.height_m, float(c.pitch_rad), c.x_m)


def model_camera(wm: WorldModel, sim: Simulator) -> CameraModel:
    """The checkpoint's camera; the simulator's for a checkpoint that has none (trained on its frames)."""
    return wm.camera if wm.camera is not None else simulator_camera(sim)


def warp_last(last_frames: np.ndarray, actions: np.ndarray, dt_s: float, cam: CameraModel) -> np.ndarray:
    """(N, H, W, 3) uint8 last real frames, warped by the first k of ``actions`` (N, K, 2) for k = 1..K.

    Returns (N, K, H, W, 3) uint8: frame k is the prediction k steps ahead.
    """
    frames = torch.from_numpy(np.ascontiguousarray(last_frames))
    acts = torch.from_numpy(np.asarray(actions, np.float32))
    out = [reproject_pose(frames, *compose_motion(acts[:, :k], dt_s), cam)[0] for k in range(1, acts.shape[1] + 1)]
    return torch.stack(out, 1).numpy()


@dataclass
class WarpBaseline:
    """The warp of the last real frame, scored like a dream (PSNR in dB)."""

    psnr_at: dict[int, float]
    delta_psnr_actions: float
    horizon: int
    yaw_sign_accuracy: float | None = None

    def to_json(self) -> dict[str, float]:
        out = {f"warp_last_psnr@{k}": v for k, v in self.psnr_at.items()}
        out[f"warp_last_delta_psnr_actions@{self.horizon}"] = self.delta_psnr_actions
        if self.yaw_sign_accuracy is not None:
            out["warp_last_yaw_sign_accuracy"] = self.yaw_sign_accuracy
        return out


def evaluate_warp_baseline(
    gt: np.ndarray, actions: np.ndarray, other: np.ndarray, context: int, horizon: int, dt_s: float, cam: CameraModel
) -> WarpBaseline:
    """Warp-of-last-frame fidelity on episodes ``gt`` (N, context + horizon, H, W, 3) with their ``actions`` and,
    for the action sensitivity, ``other`` actions (the same as for the dream's ``delta_psnr_actions``)."""
    last = gt[:, context - 1]
    future = slice(context - 1, context - 1 + horizon)  # the actions that drive into frames context .. +horizon
    pred = warp_last(last, actions[:, future], dt_s, cam)
    psnr_at = {k: mean_psnr(pred[:, k - 1], gt[:, context + k - 1]) for k in PSNR_HORIZONS if k <= horizon}
    pred_other = warp_last(last, other[:, future], dt_s, cam)
    delta = mean_psnr(pred[:, -1], gt[:, -1]) - mean_psnr(pred_other[:, -1], gt[:, -1])
    return WarpBaseline(psnr_at, delta, horizon)
