"""Ego-motion reprojection: signs and sizes of the warp, and that it predicts the simulator's next frame."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from drivedreamer_env.models.reprojection import (
    CameraModel,
    compose_motion,
    ego_motion,
    reproject,
    reproject_pose,
    source_pixels,
    token_validity,
)
from drivedreamer_env.sim.config import SimConfig
from drivedreamer_env.sim.simulator import Simulator

CAM = CameraModel.from_hfov(128, 64, 80.0, height_m=1.5, pitch_deg=3.0, x_m=1.5)
LEVEL = CameraModel.from_hfov(128, 64, 80.0, height_m=1.5, pitch_deg=0.0, x_m=1.5)  # horizon at the centre row


def test_pure_yaw_moves_distant_column_right_by_fx_tan() -> None:
    """Turning left by x rad (no translation) moves the straight-ahead direction right by fx*tan(x) px."""
    x = 0.1
    dt = 1.0
    uv, valid = source_pixels(LEVEL, torch.tensor([[0.0, x / dt]]), dt)
    row = 31  # the row just above the horizon of a level camera: directions at infinity, nearly horizontal
    cols = torch.arange(LEVEL.width) + 0.5
    # the straight-ahead column of the old view (u = cx) shows up at cx + fx tan(x) in the new one
    src_u = uv[0, row, :, 0]
    u_new = float(np.interp(LEVEL.cx, src_u.numpy(), cols.numpy()))
    assert u_new - LEVEL.cx == pytest.approx(LEVEL.fx * math.tan(x), abs=0.05)
    # columns near the left edge of the new view come from outside the old one
    assert not bool(valid[0, row, 0]) and bool(valid[0, row, -1])


def test_ego_motion_is_the_bicycle_arc() -> None:
    dx, dy, dyaw = ego_motion(torch.tensor([[10.0, 0.0], [10.0, 0.5], [10.0, -0.5]]), 0.1)
    assert float(dx[0]) == pytest.approx(1.0) and float(dy[0]) == 0.0 and float(dyaw[0]) == 0.0
    assert float(dy[1]) > 0 > float(dy[2])  # a left turn (positive yaw rate) drifts left
    assert float(dyaw[1]) == pytest.approx(0.05)
    assert float(dx[1]) == pytest.approx(20.0 * math.sin(0.05), rel=1e-5)


def test_forward_motion_expands_the_ground_and_keeps_the_sky() -> None:
    frames = torch.randint(0, 256, (1, 64, 128, 3), dtype=torch.uint8)
    uv, valid = source_pixels(CAM, torch.tensor([[10.0, 0.0]]), 0.1)
    horizon = CAM.cy - CAM.fy * math.tan(CAM.pitch_rad)
    sky_row, ground_row = 2, 60
    assert sky_row < horizon < ground_row
    # sky: unchanged (no rotation); ground near the bottom: comes from closer to the horizon (the road expands)
    assert torch.allclose(uv[0, sky_row, :, 0], torch.arange(128) + 0.5, atol=1e-4)
    assert float(uv[0, ground_row, 64, 1]) < ground_row + 0.5
    assert bool(valid.all())  # driving straight ahead, the new view is inside the old one
    warped, _ = reproject(frames, torch.tensor([[0.0, 0.0]]), 0.1, CAM)
    assert torch.equal(warped, frames)  # standing still is the identity


def _sim_camera(sim: Simulator) -> CameraModel:
    meta = {
        "intrinsics": sim.camera.intrinsics.tolist(),
        "camera": {"height_m": sim.camera.height_m, "pitch_rad": sim.camera.pitch_rad, "x_m": sim.camera.x_m},
    }
    return CameraModel.from_meta(meta, (sim.camera.height, sim.camera.width))


@pytest.mark.parametrize("seed", [5, 7])
@pytest.mark.parametrize("steer", [0.0, 0.4, -0.4])
def test_warp_predicts_the_next_rendered_frame_better_than_copying(seed: int, steer: float) -> None:
    """Steady driving (settled steering and speed), 0.4 s ahead: the warp beats the copy inside the old view.

    Clear daylight and no traffic: rain streaks are new every frame and other cars move on their own, which no
    ego-motion warp predicts. (One 0.1 s step straight ahead moves the road by less than the blur that
    bilinear resampling adds, so the horizon is 4 steps.)
    """
    sim = Simulator(SimConfig(traffic_density=0.0, weather="clear", time_of_day="day"))
    sim.reset(seed=seed)
    for _ in range(10):
        res = sim.step([steer, 0.0])
    frame = res.frame
    for _ in range(4):
        res = sim.step([steer, 0.0])
    action = torch.tensor([[res.info["speed"], res.info["yaw_rate"]]], dtype=torch.float32)
    warped, valid = reproject(torch.from_numpy(frame)[None], action, 4 * sim.cfg.dt_s, _sim_camera(sim))
    m = valid[0].numpy()
    nxt = res.frame.astype(np.float64)
    err_warp = np.abs(warped[0].numpy().astype(np.float64) - nxt)[m].mean()
    err_copy = np.abs(frame.astype(np.float64) - nxt)[m].mean()
    assert err_warp < err_copy


def test_warp_matches_the_simulators_ground_projection() -> None:
    """Every ground pixel's source equals the simulator camera's own projection of that ground point."""
    sim = Simulator(SimConfig(traffic_density=0.0))
    sim.reset(seed=3)
    e0 = sim.state.ego.copy()
    sim.step([0.5, 1.0])
    e1 = sim.state.ego.copy()
    ground, _, down = sim.camera.ground_points()  # (H, W, 2) in the new ego frame
    c1, s1 = np.cos(e1.yaw), np.sin(e1.yaw)
    world = np.stack(
        [e1.x + c1 * ground[..., 0] - s1 * ground[..., 1], e1.y + s1 * ground[..., 0] + c1 * ground[..., 1]], -1
    )
    c0, s0 = np.cos(e0.yaw), np.sin(e0.yaw)
    rel = world - [e0.x, e0.y]
    old = np.stack([c0 * rel[..., 0] + s0 * rel[..., 1], -s0 * rel[..., 0] + c0 * rel[..., 1], 0 * rel[..., 0]], -1)
    uv_sim = sim.camera.project(sim.camera.ego_to_camera(old))
    uv, _ = source_pixels(_sim_camera(sim), torch.tensor([[e1.speed, e1.yaw_rate]]), sim.cfg.dt_s)
    assert e1.yaw_rate > 0.1
    assert np.abs(uv[0].numpy() - uv_sim)[down].max() < 1e-3


def test_token_validity_pools_and_dilates() -> None:
    valid = torch.ones(1, 64, 128, dtype=torch.bool)
    valid[0, :, :3] = False  # a 3 px invalid strip on the left
    tv = token_validity(valid, 8)
    assert tv.shape == (1, 8, 16)
    assert not tv[0, :, 0].any() and tv[0, :, 1:].all()
    tv1 = token_validity(valid, 8, margin=1)
    assert not tv1[0, :, :2].any() and tv1[0, :, 2:].all()


def test_bad_shapes_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="frames must be"):
        reproject(torch.zeros(1, 32, 32, 3), torch.zeros(1, 2), 0.1, CAM)
    with pytest.raises(ValueError, match="actions must be"):
        reproject(torch.zeros(2, 64, 128, 3), torch.zeros(1, 2), 0.1, CAM)
    with pytest.raises(ValueError, match="no camera"):
        CameraModel.from_meta({}, (64, 128))


def test_composed_steps_equal_one_long_step_and_warp_alike() -> None:
    actions = torch.tensor([[9.0, 0.4], [7.0, -0.3]])
    one = ego_motion(actions, 0.4)
    four = compose_motion(actions[:, None].expand(2, 4, 2), 0.1)
    for a, b in zip(one, four, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    frames = torch.randint(0, 256, (2, 64, 128, 3), dtype=torch.uint8)
    w1, v1 = reproject(frames, actions, 0.4, CAM)
    w4, v4 = reproject_pose(frames, *four, CAM)
    assert (w1.int() - w4.int()).abs().max() <= 1 and (v1 != v4).float().mean() < 1e-3
