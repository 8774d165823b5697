"""Visual odometry: yaw-rate signs of a synthetic pure rotation, the speed of a rendered straight drive, and the
``actions=vo`` data spec."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from drivedreamer_env.models.reprojection import CameraModel, reproject
from drivedreamer_env.sim.simulator import Simulator
from drivedreamer_env.sources import DataSpecError, open_source
from drivedreamer_env.sources.visual_odometry import estimate_actions
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


@pytest.fixture
def folder(drive, tmp_path: Path) -> Path:
    directory = tmp_path / "dashcam"
    directory.mkdir()
    for i, frame in enumerate(drive[0]):
        cv2.imwrite(str(directory / f"{i:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return directory


def test_actions_vo_spec_estimates_the_actions(drive, folder: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # hfov given: nothing assumed silently
        clip = next(iter(open_source(f"video:{folder}?actions=vo&fps=10&hfov=80&camera_pitch=3")))
    assert clip.meta["has_actions"] and clip.meta["actions_source"] == "visual_odometry"
    assert clip.meta["visual_odometry"] == {
        "hfov_deg": 80.0, "camera_height_m": 1.5, "camera_pitch_deg": 3.0, "camera": "given"
    }  # fmt: skip
    assert np.median(np.abs(clip.actions[:-1, 0] - drive[1][:, 0]) / drive[1][:, 0]) < 0.1


def test_actions_vo_without_hfov_assumes_the_shipped_camera(folder: Path) -> None:
    with pytest.warns(UserWarning, match="assumes the shipped camera's field of view, 80 deg"):
        source = open_source(f"video:{folder}?actions=vo&fps=10&end=3")
    clip = next(iter(source))
    assert clip.meta["visual_odometry"]["camera"] == "default" and clip.meta["camera_assumed"]
    assert clip.meta["visual_odometry"]["camera_pitch_deg"] == 3.0 and clip.actions[0, 0] > 0


def test_actions_vo_rejects_a_wheelbase(folder: Path) -> None:
    with pytest.raises(DataSpecError, match="actions=vo estimates yaw rates directly"):
        open_source(f"video:{folder}?actions=vo&fps=10&wheelbase=2.7")
