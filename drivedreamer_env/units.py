"""Every unit conversion in the package lives here; nothing else converts units.

Conventions (nuScenes and ISO 8855): ego frame x forward, y left, z up; yaw is counter-clockwise from the
global x axis, so a left turn is a positive yaw rate. Quaternions are ``[w, x, y, z]``. Steering angles are
road-wheel angles [rad], positive to the left, unless a name says ``steering_wheel`` (the CAN-bus quantity,
road-wheel angle times the steering ratio).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

KMH_PER_MPS = 3.6
MIN_SPEED_FOR_STEERING_MPS = 0.1  # below this the bicycle model cannot tell steering from yaw rate


@dataclass(frozen=True)
class VehicleGeometry:
    """Kinematic bicycle model parameters.

    Attributes:
        wheelbase_m: distance rear axle -> front axle [m].
        steering_ratio: steering-wheel angle / road-wheel angle [-].
        max_steer_rad: largest road-wheel angle either way [rad].
        max_speed_mps: speed reached by a normalised speed command of +1 [m/s].
    """

    wheelbase_m: float = 2.7
    steering_ratio: float = 14.0
    max_steer_rad: float = 0.5
    max_speed_mps: float = 20.0


def kmh_to_mps(speed_kmh: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(speed_kmh, dtype=np.float64) / KMH_PER_MPS


def mps_to_kmh(speed_mps: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(speed_mps, dtype=np.float64) * KMH_PER_MPS


def deg_to_rad(angle_deg: ArrayLike) -> NDArray[np.float64]:
    """Degrees (or deg/s) -> radians (or rad/s)."""
    return np.deg2rad(np.asarray(angle_deg, dtype=np.float64))


def rad_to_deg(angle_rad: ArrayLike) -> NDArray[np.float64]:
    """Radians (or rad/s) -> degrees (or deg/s)."""
    return np.rad2deg(np.asarray(angle_rad, dtype=np.float64))


def steering_to_yaw_rate(steer_rad: ArrayLike, speed_mps: ArrayLike, wheelbase_m: float) -> NDArray:
    """Kinematic bicycle model (rear-axle reference): yaw rate [rad/s] = v tan(delta) / L."""
    return np.asarray(speed_mps, dtype=np.float64) * np.tan(np.asarray(steer_rad, np.float64)) / wheelbase_m


def yaw_rate_to_steering(yaw_rate_rps: ArrayLike, speed_mps: ArrayLike, wheelbase_m: float) -> NDArray:
    """Inverse bicycle model: road-wheel angle [rad] = atan(L * yaw_rate / v); 0 where the car stands still."""
    speed = np.asarray(speed_mps, dtype=np.float64)
    yaw_rate = np.asarray(yaw_rate_rps, dtype=np.float64)
    moving = np.abs(speed) >= MIN_SPEED_FOR_STEERING_MPS
    safe_speed = np.where(moving, speed, 1.0)
    return np.where(moving, np.arctan(wheelbase_m * yaw_rate / safe_speed), 0.0)


def steering_wheel_deg_to_road_wheel_rad(steering_wheel_deg: ArrayLike, steering_ratio: float) -> NDArray:
    """CAN-bus steering-wheel angle [deg] -> road-wheel angle [rad]."""
    return np.deg2rad(np.asarray(steering_wheel_deg, dtype=np.float64)) / steering_ratio


def road_wheel_rad_to_steering_wheel_deg(steer_rad: ArrayLike, steering_ratio: float) -> NDArray:
    """Road-wheel angle [rad] -> CAN-bus steering-wheel angle [deg]."""
    return np.rad2deg(np.asarray(steer_rad, dtype=np.float64) * steering_ratio)


def quaternion_to_yaw(q_wxyz: ArrayLike) -> NDArray[np.float64]:
    """Yaw [rad] (rotation about z) of quaternion(s) ``[..., 4]`` in ``[w, x, y, z]`` order."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    if q.shape[-1] != 4:
        raise ValueError(f"quaternion must have 4 components [w, x, y, z], got shape {q.shape}")
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def camera_pitch_from_rotation(q_wxyz: ArrayLike) -> float:
    """Downward pitch [rad] (positive looking down) of a camera whose rotation ``[w, x, y, z]`` takes camera
    vectors (x right, y down, z forward: OpenCV / nuScenes) into the ego frame (z up): nuScenes
    ``calibrated_sensor.rotation``."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    if q.shape != (4,):
        raise ValueError(f"quaternion must be [w, x, y, z], got shape {q.shape}")
    x, y = (q / np.linalg.norm(q))[1:3]
    optical_z = 1.0 - 2.0 * (x * x + y * y)  # ego z of the optical axis (R applied to camera z)
    return float(np.arcsin(np.clip(-optical_z, -1.0, 1.0)))


def yaw_to_quaternion(yaw_rad: ArrayLike) -> NDArray[np.float64]:
    """Quaternion(s) ``[..., 4]`` ``[w, x, y, z]`` of a pure rotation about z by ``yaw_rad``."""
    yaw = np.asarray(yaw_rad, dtype=np.float64)
    out = np.zeros((*yaw.shape, 4))
    out[..., 0] = np.cos(yaw / 2.0)
    out[..., 3] = np.sin(yaw / 2.0)
    return out


def unwrap_yaw(yaw_rad: ArrayLike) -> NDArray[np.float64]:
    """Remove 2*pi jumps from a yaw sequence so that differences are the true rotation."""
    return np.unwrap(np.asarray(yaw_rad, dtype=np.float64))


def wrap_angle(angle_rad: ArrayLike) -> NDArray[np.float64]:
    """Wrap angle(s) into [-pi, pi)."""
    return (np.asarray(angle_rad, dtype=np.float64) + np.pi) % (2.0 * np.pi) - np.pi


def normalized_to_physical(action: ArrayLike, geometry: VehicleGeometry) -> tuple[NDArray, NDArray]:
    """Map a normalised ``[steering, speed]`` action in [-1, 1] to physical commands.

    steering +1 is full left: road-wheel angle ``+max_steer_rad``; speed -1 -> 0 m/s, +1 -> ``max_speed_mps``
    (linear in between).

    Returns:
        (road-wheel angle [rad], target speed [m/s]) with the leading shape of ``action``.
    """
    a = np.asarray(action, dtype=np.float64)
    steer = np.clip(a[..., 0], -1.0, 1.0) * geometry.max_steer_rad
    speed = (np.clip(a[..., 1], -1.0, 1.0) + 1.0) * 0.5 * geometry.max_speed_mps
    return steer, speed


def physical_to_normalized(steer_rad: ArrayLike, speed_mps: ArrayLike, geometry: VehicleGeometry) -> NDArray:
    """Inverse of :func:`normalized_to_physical` (clipped to [-1, 1]); returns ``[..., 2]`` float32."""
    steer = np.clip(np.asarray(steer_rad, np.float64) / geometry.max_steer_rad, -1.0, 1.0)
    speed = np.clip(2.0 * np.asarray(speed_mps, np.float64) / geometry.max_speed_mps - 1.0, -1.0, 1.0)
    return np.stack([steer, speed], axis=-1).astype(np.float32)


def _validated_poses(
    timestamps_s: ArrayLike, xy_m: ArrayLike, yaw_rad: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """A pose sequence as float64 ``(T,)`` timestamps, ``(T, 2)`` xy and ``(T,)`` unwrapped yaw.

    Raises:
        ValueError: fewer than 2 poses, mismatched shapes, or timestamps that do not strictly increase.
    """
    t = np.asarray(timestamps_s, dtype=np.float64)
    xy = np.asarray(xy_m, dtype=np.float64)
    yaw = unwrap_yaw(yaw_rad)
    if t.ndim != 1 or len(t) < 2 or xy.shape != (len(t), 2) or yaw.shape != t.shape:
        raise ValueError(
            f"need >= 2 poses with timestamps (T,), xy (T, 2), yaw (T,); got {t.shape}, {xy.shape}, {yaw.shape}"
        )
    if np.any(np.diff(t) <= 0):
        raise ValueError("timestamps must be strictly increasing")
    return t, xy, yaw


def speed_yaw_rate_from_poses(
    timestamps_s: ArrayLike, xy_m: ArrayLike, yaw_rad: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Ego speed [m/s] and yaw rate [rad/s] per pose from a pose sequence with real (uneven) timestamps.

    Central differences inside, one-sided at the ends; yaw is unwrapped first. Speed is signed by the
    direction of motion in the ego frame (negative when reversing).
    """
    t, xy, yaw = _validated_poses(timestamps_s, xy_m, yaw_rad)
    vel = np.stack([np.gradient(xy[:, 0], t), np.gradient(xy[:, 1], t)], axis=-1)
    forward = np.stack([np.cos(yaw), np.sin(yaw)], axis=-1)
    speed = np.linalg.norm(vel, axis=-1) * np.sign(np.sum(vel * forward, axis=-1) + 1e-12)
    return speed, np.gradient(yaw, t)


def step_speed_yaw_rate(
    timestamps_s: ArrayLike, xy_m: ArrayLike, yaw_rad: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean speed [m/s] and yaw rate [rad/s] over each step between consecutive poses, ``(T-1,)`` each.

    Both are central differences about the step's midpoint, so they are the step's canonical action (what moved
    the ego from pose t to pose t+1) and need no even spacing. The yaw rate is the unwrapped yaw change over the
    step's duration: its exact mean. The speed is the arc length of a constant-curvature step over its duration,
    ``chord * (dyaw / 2) / sin(dyaw / 2)`` (exact for the kinematic bicycle model's arcs, the chord length when
    going straight), signed by the direction of motion along the heading at the midpoint (negative reversing).
    """
    t, xy, yaw = _validated_poses(timestamps_s, xy_m, yaw_rad)
    dt = np.diff(t)
    d_xy = np.diff(xy, axis=0)
    half_turn = np.diff(yaw) / 2.0
    safe = np.where(np.abs(half_turn) > 1e-9, half_turn, 1.0)
    arc_per_chord = np.where(np.abs(half_turn) > 1e-9, safe / np.sin(safe), 1.0)
    heading = yaw[:-1] + half_turn
    along = d_xy[:, 0] * np.cos(heading) + d_xy[:, 1] * np.sin(heading)
    sign = np.where(along < 0, -1.0, 1.0)
    speed = sign * np.linalg.norm(d_xy, axis=-1) * arc_per_chord / dt
    return speed, 2.0 * half_turn / dt


def steering_wheel_deg_to_yaw_rate(
    steering_wheel_deg: ArrayLike, speed_mps: ArrayLike, geometry: VehicleGeometry
) -> NDArray[np.float64]:
    """CAN-bus steering-wheel angle [deg, + left] -> yaw rate [rad/s, + left] through the bicycle model.

    The road-wheel angle is the steering-wheel angle over ``geometry.steering_ratio``; the yaw rate is
    ``v tan(delta) / L`` with ``L = geometry.wheelbase_m``. Every steering-wheel reader (the CAN bus, a video's
    action CSV) converts through this one function.
    """
    road_wheel_rad = steering_wheel_deg_to_road_wheel_rad(steering_wheel_deg, geometry.steering_ratio)
    return steering_to_yaw_rate(road_wheel_rad, speed_mps, geometry.wheelbase_m)
