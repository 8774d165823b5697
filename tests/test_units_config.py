"""Units (signs and round trips) and typed YAML configs."""

from pathlib import Path

import numpy as np
import pytest

from drivedreamer_env import units
from drivedreamer_env.config import ConfigError, load_config
from drivedreamer_env.sim.config import SimConfig


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
