"""Units (signs and round trips, pose validation) and typed configs (SimConfig YAML, DreamConfig)."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from drivedreamer_env import units
from drivedreamer_env.config import ConfigError, load_config
from drivedreamer_env.envs.config import DREAM_REWARD, DreamConfig
from drivedreamer_env.sim.config import SimConfig
from drivedreamer_env.sim.rewards import RewardConfig


def test_left_steering_is_positive_yaw_rate_and_round_trips():
    rate = units.steering_to_yaw_rate(0.1, 10.0, 2.7)
    assert rate > 0 and rate == pytest.approx(10.0 * np.tan(0.1) / 2.7)
    assert units.yaw_rate_to_steering(rate, 10.0, 2.7) == pytest.approx(0.1)
    assert units.yaw_rate_to_steering(0.3, 0.0, 2.7) == 0.0  # standing still: steering is unobservable


def test_speed_and_steering_wheel_conversions():
    assert units.kmh_to_mps(36.0) == pytest.approx(10.0)
    assert units.mps_to_kmh(10.0) == pytest.approx(36.0)
    deg = units.road_wheel_rad_to_steering_wheel_deg(0.05, 14.0)
    assert units.steering_wheel_deg_to_road_wheel_rad(deg, 14.0) == pytest.approx(0.05)


def test_quaternion_yaw_round_trip_and_unwrap():
    yaws = np.array([-3.0, -1.0, 0.0, 0.5, 3.1])
    np.testing.assert_allclose(units.quaternion_to_yaw(units.yaw_to_quaternion(yaws)), yaws, atol=1e-12)
    wrapped = units.wrap_angle(np.linspace(0, 4 * np.pi, 50))
    np.testing.assert_allclose(units.unwrap_yaw(wrapped), np.linspace(0, 4 * np.pi, 50), atol=1e-9)
    with pytest.raises(ValueError, match="4 components"):
        units.quaternion_to_yaw([1.0, 0.0, 0.0])


def test_speed_and_yaw_rate_from_uneven_poses():
    t = np.cumsum(np.r_[0.0, np.random.default_rng(0).uniform(0.05, 0.12, 40)])
    yaw = 0.2 * t  # constant 0.2 rad/s left turn at 8 m/s: a circle of radius 40 m
    xy = 40.0 * np.stack([np.sin(yaw), 1 - np.cos(yaw)], -1)
    speed, rate = units.speed_yaw_rate_from_poses(t, xy, yaw)
    np.testing.assert_allclose(speed[1:-1], 8.0, rtol=2e-3)
    np.testing.assert_allclose(rate, 0.2, rtol=1e-9)


def test_normalized_action_mapping():
    geo = units.VehicleGeometry()
    steer, speed = units.normalized_to_physical(np.array([1.0, -1.0]), geo)
    assert steer == pytest.approx(geo.max_steer_rad) and speed == pytest.approx(0.0)
    np.testing.assert_allclose(units.physical_to_normalized(-0.25, 15.0, geo), [-0.5, 0.5])


def test_yaml_config_loads_and_unknown_keys_name_key_and_file(tmp_path):
    cfg = load_config(SimConfig, Path(__file__).resolve().parents[1] / "configs/sim/default.yaml")
    assert cfg.camera.width == 128 and cfg.geometry.wheelbase_m == 2.7
    bad = tmp_path / "bad.yaml"
    bad.write_text("camera:\n  widht: 64\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml\.camera.*widht"):
        load_config(SimConfig, bad)
    bad.write_text("weather: snow\n")
    with pytest.raises(ValueError, match="weather"):
        load_config(SimConfig, bad)
    bad.write_text("dt_s: fast\n")
    with pytest.raises(ConfigError, match="dt_s"):
        load_config(SimConfig, bad)


@pytest.mark.parametrize("fn", [units.speed_yaw_rate_from_poses, units.step_speed_yaw_rate])
def test_both_pose_functions_reject_bad_poses_alike(fn):
    t, xy, yaw = np.array([0.0, 0.1, 0.2]), np.zeros((3, 2)), np.zeros(3)
    with pytest.raises(ValueError, match=r"need >= 2 poses.*\(3, 3\)"):
        fn(t, np.zeros((3, 3)), yaw)
    with pytest.raises(ValueError, match="need >= 2 poses"):
        fn(t[:1], xy[:1], yaw[:1])
    with pytest.raises(ValueError, match="strictly increasing"):
        fn(np.array([0.0, 0.1, 0.1]), xy, yaw)


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "configs/sim").glob("*.yaml")))
def test_every_shipped_sim_config_loads_with_procdrive_reward(path):
    cfg = load_config(SimConfig, path)
    assert cfg.reward == RewardConfig()  # none of them overrides the reward: ProcDrive's weights
    assert cfg.reward.comfort == 0.0 and cfg.reward.max_deviation_m is None


def test_deprecated_sim_reward_keys_warn_and_set_the_reward(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text("reward_progress: 0.2\nreward_lane_offset: 0.5\n")
    with pytest.warns(DeprecationWarning) as caught:
        cfg = load_config(SimConfig, old)
    messages = [str(w.message) for w in caught]
    assert (
        len(messages) == 2 and "SimConfig.reward_progress is deprecated: use SimConfig.reward.progress" in messages[0]
    )
    assert "SimConfig.reward_lane_offset is deprecated: use SimConfig.reward.deviation" in messages[1]
    assert cfg.reward == RewardConfig(progress=0.2, deviation=0.5)
    with pytest.warns(DeprecationWarning, match="reward_terminal"):
        assert SimConfig(reward_terminal=2.0).reward.terminal == 2.0
    new = tmp_path / "new.yaml"
    new.write_text("reward:\n  heading: 0.3\n")
    assert load_config(SimConfig, new).reward == RewardConfig(heading=0.3)
    new.write_text("reward:\n  headng: 0.3\n")
    with pytest.raises(ConfigError, match=r"new\.yaml\.reward.*headng"):
        load_config(SimConfig, new)


def test_dream_config_round_trips_and_rejects_unknown_keys():
    cfg = DreamConfig.from_dict({"sampling_steps": 4, "start": {"seed": 3}, "reward_weights": {"comfort": 0.01}})
    assert cfg.reward == dataclasses.replace(DREAM_REWARD, comfort=0.01)  # the other dream weights are kept
    assert cfg.reward.event == 1.0 and cfg.reward.max_deviation_m == 4.0
    data = json.loads(json.dumps(cfg.to_dict()))
    assert DreamConfig.from_dict(data) == cfg
    partial = DreamConfig.from_dict({"reward": {"terminal": 1.0}})  # a partial mapping keeps the dream's others
    assert partial.reward == dataclasses.replace(DREAM_REWARD, terminal=1.0)
    assert DreamConfig.from_dict({"device": "cpu"}, base=cfg) == dataclasses.replace(cfg, device="cpu")
    assert DreamConfig(context_frames=0).context_frames is None  # 0 = the model's own, as before
    with pytest.raises(
        ConfigError, match=r"unknown WorldDreamerDrive-v0 argument\(s\) \['temprature'\].*'temperature'"
    ):
        DreamConfig.from_dict({"temprature": 0.5})
    with pytest.raises(ConfigError, match=r"unknown reward weight.*'comfrt'.*known"):
        DreamConfig.from_dict({"reward_weights": {"comfrt": 1.0}})
    with pytest.raises(ValueError, match="render_mode must be"):
        DreamConfig(render_mode="video")


def test_camera_pitch_from_the_nuscenes_rotation():
    from drivedreamer_env.nuscenes.writer.tables import camera_to_ego_rotation_wxyz
    from drivedreamer_env.units import camera_pitch_from_rotation

    for pitch in (-0.2, 0.0, 0.0524, 0.3):
        assert camera_pitch_from_rotation(camera_to_ego_rotation_wxyz(pitch)) == pytest.approx(pitch, abs=1e-9)
    with pytest.raises(ValueError, match="w, x, y, z"):
        camera_pitch_from_rotation([1.0, 0.0, 0.0])
