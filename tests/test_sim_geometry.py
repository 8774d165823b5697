"""Camera projection, IPM, kinematics and labels against hand-computed values."""

import numpy as np
import pytest

from drivedreamer_env.sim import SimConfig, Simulator
from drivedreamer_env.sim.camera import PinholeCamera
from drivedreamer_env.sim.config import CameraConfig, EgoLimits
from drivedreamer_env.sim.ego import EgoState, integrate_pose, step_ego
from drivedreamer_env.sim.traffic import step_traffic
from drivedreamer_env.units import VehicleGeometry


def test_projection_of_hand_computed_points():
    # hfov 90 deg on 128 px -> f = 64 px; no pitch
    cam = PinholeCamera.from_config(
        CameraConfig(width=128, height=64, hfov_deg=90.0, height_m=1.5, x_m=1.5, pitch_deg=0.0)
    )
    assert cam.fx == pytest.approx(64.0)
    pts_ego = np.array([
        [11.5, 0.0, 1.5],  # 10 m straight ahead at camera height -> principal point
        [11.5, 2.0, 1.5],  # 2 m to the left -> 64 * 0.2 = 12.8 px left of centre
        [11.5, 0.0, 0.5],  # 1 m below camera height -> 6.4 px below centre
        [21.5, -5.0, 1.5],  # 5 m right at 20 m -> 16 px right
    ])  # fmt: skip
    uv = cam.project(cam.ego_to_camera(pts_ego))
    np.testing.assert_allclose(uv, [[64, 32], [51.2, 32], [64, 38.4], [80, 32]], atol=1e-9)


def test_pitch_moves_the_horizon_and_ipm_round_trips():
    cam = PinholeCamera.from_config(CameraConfig(width=128, height=64, hfov_deg=80.0, pitch_deg=3.0))
    assert cam.horizon_row() == pytest.approx(32 - cam.fy * np.tan(np.deg2rad(3.0)))
    far = cam.project(cam.ego_to_camera(np.array([1e6, 0.0, 0.0])))
    assert far[1] == pytest.approx(cam.horizon_row(), abs=1e-3)
    ground, dist, is_ground = cam.ground_points()
    rows, cols = np.nonzero(is_ground)
    pts = np.concatenate([ground[rows, cols], np.zeros((len(rows), 1))], axis=1)
    uv = cam.project(cam.ego_to_camera(pts))
    np.testing.assert_allclose(uv, np.stack([cols + 0.5, rows + 0.5], -1), atol=1e-6)
    assert not is_ground[: int(cam.horizon_row())].any()
    # distance along the ray equals the Euclidean camera-to-ground distance
    d = np.linalg.norm(pts - cam.position_ego, axis=1)
    np.testing.assert_allclose(dist[rows, cols], d, rtol=1e-9)


def test_bicycle_model_arc_and_rate_limits():
    geo, lim = VehicleGeometry(), EgoLimits()
    st = EgoState(0.0, 0.0, 0.0, 10.0, 0.0)
    st = step_ego(st, 0.5, 10.0, 0.1, geo, lim)
    assert st.steer == pytest.approx(lim.max_steer_rate_rps * 0.1)  # steering is rate-limited
    assert st.yaw_rate == pytest.approx(10.0 * np.tan(st.steer) / geo.wheelbase_m)
    st2 = step_ego(st, 0.0, 20.0, 0.1, geo, lim)
    assert st2.speed == pytest.approx(10.0 + lim.max_accel_mps2 * 0.1)
    # a full circle at constant yaw rate returns to the start
    x, y, yaw = 0.0, 0.0, 0.3
    for _ in range(100):
        x, y, yaw = integrate_pose(x, y, yaw, 5.0, 2 * np.pi / 10.0, 0.1)
    assert (x, y) == pytest.approx((0.0, 0.0), abs=1e-9)
    assert yaw == pytest.approx(0.3 + 2 * np.pi)


def test_recorded_actions_integrate_to_the_recorded_poses():
    from drivedreamer_env.sim.record import record_episode

    clip = record_episode(Simulator(SimConfig()), seed=5, steps=60)
    poses = clip.meta["poses"]
    dt = np.diff(clip.timestamps)
    for t in range(len(clip) - 1):
        pred = integrate_pose(*poses[t], *clip.actions[t].astype(np.float64), dt[t])
        np.testing.assert_allclose(pred, poses[t + 1], atol=1e-4)
    assert clip.text and clip.frames.dtype == np.uint8


def test_labels_at_start_and_lane_geometry(day_cfg):
    sim = Simulator(day_cfg)
    _, labels = sim.reset(0)
    road = sim.world.road
    assert labels.lane_offset == pytest.approx(0.0, abs=1e-6)
    assert labels.d == pytest.approx(road.lane_center_d(road.lanes_per_direction - 1), abs=1e-6)
    assert labels.heading_error == pytest.approx(0.0, abs=1e-9)
    assert not labels.off_road and not labels.collision


def test_traffic_keeps_its_distance(day_cfg):
    sim = Simulator(day_cfg)
    sim.reset(1)
    tr = sim.state.traffic
    s0 = tr.s.copy()
    for _ in range(300):
        step_traffic(tr, sim.world.road, 0.1, -1e4, 0.0, 0.0)
    assert np.all((tr.s - s0) * tr.direction > 0), "every vehicle drives in its lane's direction"
    for direction in (1, -1):
        for lane in range(sim.world.road.lanes_per_direction):
            sel = (tr.direction == direction) & (tr.lane == lane)
            order = np.argsort(tr.s[sel])
            centre_gaps = np.diff(tr.s[sel][order])
            half_lengths = 0.5 * (tr.size[sel, 0][order][1:] + tr.size[sel, 0][order][:-1])
            assert np.all(centre_gaps > half_lengths), "IDM never lets vehicles overlap"
