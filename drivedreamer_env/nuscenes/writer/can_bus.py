"""CAN bus expansion files of one scene (pose, steeranglefeedback, vehicle_monitor, route, meta), one message per step.

The simulator holds speed, steering and yaw rate constant over each frame step and changes them at the frame
times, so a message there would be ambiguous. Each message is sampled at the middle of its step instead, where
the held values are the step's own; the pose is the exact arc pose at that instant. A reader that interpolates on
``utime`` at step midpoints (as it should for real, continuous CAN signals) recovers the step actions exactly.
Signs follow the nuScenes CAN bus README: steering (``vehicle_monitor.steering`` [deg] and
``steeranglefeedback.value`` [rad], steering-wheel angles) and yaw rate are positive for left turns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from drivedreamer_env.nuscenes.writer.constants import BRAKE_BAR_PER_MPS2, GEAR_DRIVE, GRAVITY_MPS2, THROTTLE_PER_MPS2
from drivedreamer_env.nuscenes.writer.episode import Episode
from drivedreamer_env.nuscenes.writer.map_raster import MapPlan
from drivedreamer_env.sim.ego import integrate_pose
from drivedreamer_env.units import (
    VehicleGeometry,
    deg_to_rad,
    mps_to_kmh,
    rad_to_deg,
    road_wheel_rad_to_steering_wheel_deg,
    yaw_to_quaternion,
)


def can_files(ep: Episode, plan: MapPlan, geometry: VehicleGeometry) -> dict[str, Any]:
    """CAN bus expansion files of one scene: pose, steeranglefeedback, vehicle_monitor, route and meta.

    Message i describes step i -> i+1 and is stamped at its midpoint (the last, after the last frame, describes
    the repeated last action half a step later).
    """
    n = len(ep.utimes)
    half_us = np.diff(ep.utimes) // 2 if n > 1 else np.zeros(0, dtype=np.int64)
    half_us = np.append(half_us, half_us[-1] if n > 1 else 0)  # (T,) [us]
    utimes = ep.utimes + half_us
    t = ep.t_s + half_us / 1e6  # message times [s]
    accel = np.gradient(ep.speed_mps, t) if n > 1 else np.zeros(n)  # longitudinal [m/s^2]
    steering_deg = road_wheel_rad_to_steering_wheel_deg(ep.steer_rad, geometry.steering_ratio)
    steering_rad = deg_to_rad(steering_deg)  # steering-wheel angle, as steeranglefeedback reports it
    steer_feedback = [
        {"utime": int(utimes[i]), "value": float(steering_rad[i])} for i in range(n)
    ]  # steering-wheel angle [rad], + left
    route = (_lane_route(ep.road_runs, ep.poses[:, :2]) + plan.offset_m).tolist()
    timespan = float(t[-1] - t[0]) if n > 1 else 0.0
    stats = {
        "message_count": n,
        "message_freq": (n - 1) / timespan if timespan > 0 else 0.0,
        "timespan": timespan,
    }
    return {
        "pose": _pose_messages(ep, plan, utimes, half_us, accel),
        "steeranglefeedback": steer_feedback,
        "vehicle_monitor": _vehicle_monitor_messages(ep, utimes, t, accel, steering_deg),
        "route": route,
        "meta": {"pose": stats, "steeranglefeedback": stats, "vehicle_monitor": stats},
    }


def _pose_messages(
    ep: Episode, plan: MapPlan, utimes: np.ndarray, half_us: np.ndarray, accel: np.ndarray
) -> list[dict[str, Any]]:
    """``pose`` messages: the exact arc pose at each step's midpoint, in the global frame."""
    n = len(utimes)
    mid = np.array(
        [integrate_pose(*ep.poses[i], ep.speed_mps[i], ep.yaw_rate_rps[i], half_us[i] / 1e6) for i in range(n)]
    )  # (T, 3) x, y, yaw on the step's arc
    xy = mid[:, :2] + plan.offset_m
    quats = yaw_to_quaternion(mid[:, 2])
    lateral = ep.speed_mps * ep.yaw_rate_rps  # centripetal [m/s^2], + left
    return [
        {
            "utime": int(utimes[i]),
            "pos": [float(xy[i, 0]), float(xy[i, 1]), 0.0],
            "orientation": quats[i].tolist(),
            "vel": [float(ep.speed_mps[i]), 0.0, 0.0],
            "accel": [float(accel[i]), float(lateral[i]), GRAVITY_MPS2],
            "rotation_rate": [0.0, 0.0, float(ep.yaw_rate_rps[i])],
        }
        for i in range(n)
    ]


def _vehicle_monitor_messages(
    ep: Episode, utimes: np.ndarray, t: np.ndarray, accel: np.ndarray, steering_deg: np.ndarray
) -> list[dict[str, Any]]:
    """``vehicle_monitor`` messages: speed [km/h], steering-wheel angle [deg], yaw rate [deg/s], pedal proxies."""
    n = len(utimes)
    steering_speed = np.gradient(steering_deg, t) if n > 1 else np.zeros(n)  # [deg/s]
    brake = np.clip(np.round(-accel * BRAKE_BAR_PER_MPS2), 0, 126).astype(int)
    throttle = np.clip(np.round(accel * THROTTLE_PER_MPS2), 0, 1000).astype(int)
    speed_kmh = mps_to_kmh(ep.speed_mps)
    yaw_rate_dps = rad_to_deg(ep.yaw_rate_rps)
    return [
        {
            "utime": int(utimes[i]),
            "vehicle_speed": float(speed_kmh[i]),
            "steering": float(steering_deg[i]),
            "steering_speed": float(steering_speed[i]),
            "yaw_rate": float(yaw_rate_dps[i]),
            "left_signal": int(ep.signals["left_signal"][i]),
            "right_signal": int(ep.signals["right_signal"][i]),
            "brake": int(brake[i]),
            "brake_switch": 2 if brake[i] > 0 else 1,
            "throttle": int(throttle[i]),
            "gear_position": GEAR_DRIVE,
        }
        for i in range(n)
    ]


def _lane_route(runs: list[np.ndarray], poses_xy: np.ndarray) -> np.ndarray:
    """(M, 2) route [m]: the centreline pieces shifted sideways by the ego's median lateral offset.

    nuScenes routes follow the driven lane; on a multi-lane road the centreline can be a lane or more away.
    """
    tangents = [np.gradient(run, axis=0) if len(run) > 1 else np.array([[1.0, 0.0]]) for run in runs]
    line, tangent = np.concatenate(runs), np.concatenate(tangents)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=-1)  # + left
    nearest = np.array([np.argmin(np.sum((line - p) ** 2, axis=1)) for p in poses_xy])
    lateral = np.sum((poses_xy - line[nearest]) * normal[nearest], axis=1)
    return line + float(np.median(lateral)) * normal
