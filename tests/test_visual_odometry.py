"""Visual odometry: yaw-rate signs of a synthetic pure rotation and the speed of a rendered straight drive."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drivedreamer_env.data.visual_odometry import estimate_actions
from drivedreamer_env.models.reprojection import CameraModel, reproject
from drivedreamer_env.sim.simulator import Simulator
from drivedreamer_env.units import physical_to_normalized

SEED, FRAMES, DT_S, SPEED_MPS = 100000, 10, 0.1, 10.0


@pytest.fixture(scope="module")
def drive() -> tuple[np.ndarray, np.ndarray, CameraModel]:
    """A rendered simulator drive, straight at a steady ``SPEED_MPS``: (frames, true actions, camera)."""
    sim = Simulator()
    frame, _ = sim.reset(SEED, speed_mps=SPEED_MPS)
    frames, actions = [frame], []
    for _ in range(FRAMES - 1):
        result = sim.step(physical_to_normalized(0.0, SPEED_MPS, sim.cfg.geometry))
        frames.append(result.frame)
        actions.append((sim.state.ego.speed, sim.state.ego.yaw_rate))
    k = sim.camera
    camera = CameraModel(k.width, k.height, k.fx, k.fy, k.cx, k.cy, k.height_m, k.pitch_rad, k.x_m)
    return np.stack(frames), np.asarray(actions), camera


@pytest.mark.parametrize("yaw_rate_rps", [0.3, -0.3])
def test_pure_yaw_sequence_gets_the_sign_and_size(drive, yaw_rate_rps: float) -> None:
    frames, _, camera = drive
    # frame k: the first frame seen after k steps of turning on the spot (+ = left: the scene moves right)
    first = torch.from_numpy(frames[:1])
    seq = [reproject(first, torch.tensor([[0.0, yaw_rate_rps]]), k * DT_S, camera)[0][0] for k in range(FRAMES)]
    est = estimate_actions(torch.stack(seq).numpy(), np.arange(FRAMES) * DT_S, camera)
    assert est.shape == (FRAMES, 2) and est.dtype == np.float32
    assert np.all(np.sign(est[:, 1]) == np.sign(yaw_rate_rps))
    assert np.abs(est[:, 1] - yaw_rate_rps).max() < 0.2 * abs(yaw_rate_rps)
    assert np.all(est[:, 0] < 1.0)  # turning on the spot: no speed


def test_straight_drive_gets_the_speed(drive) -> None:
    frames, actions, camera = drive
    est = estimate_actions(frames, np.arange(FRAMES) * DT_S, camera)
    np.testing.assert_array_equal(est[-1], est[-2])  # nothing follows the last frame: its row repeats
    rel = np.abs(est[:-1, 0] - actions[:, 0]) / actions[:, 0]
    assert np.median(rel) < 0.1 and rel.max() < 0.25
    assert np.abs(est[:-1, 1] - actions[:, 1]).max() < 0.1
