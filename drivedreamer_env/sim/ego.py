"""Ego vehicle: kinematic bicycle model (rear-axle reference) with steering-rate and acceleration limits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivedreamer_env.sim.config import EgoLimits
from drivedreamer_env.units import VehicleGeometry, steering_to_yaw_rate

EGO_LENGTH_M, EGO_WIDTH_M = 4.6, 1.9
REAR_OVERHANG_M = 1.0  # rear axle to rear bumper [m]


@dataclass
class EgoState:
    x: float  # [m] rear-axle position, world frame
    y: float  # [m]
    yaw: float  # [rad], counter-clockwise from world x
    speed: float  # [m/s]
    steer: float  # road-wheel angle [rad], + left
    yaw_rate: float = 0.0  # of the last step [rad/s]

    def copy(self) -> EgoState:
        return EgoState(self.x, self.y, self.yaw, self.speed, self.steer, self.yaw_rate)


def step_ego(
    state: EgoState,
    steer_cmd_rad: float,
    speed_cmd_mps: float,
    dt: float,
    geo: VehicleGeometry,
    lim: EgoLimits,
) -> EgoState:
    """Advance one step: rate-limit steering and speed towards the commands, then move along the exact arc.

    The speed and steering reached this step are held over the step, so ``(speed, yaw_rate)`` of the
    returned state is exactly the canonical action that moved the car from the old pose to the new one.
    """
    max_dsteer = lim.max_steer_rate_rps * dt
    target = float(np.clip(steer_cmd_rad, -geo.max_steer_rad, geo.max_steer_rad))
    steer = state.steer + float(np.clip(target - state.steer, -max_dsteer, max_dsteer))
    dv = float(np.clip(speed_cmd_mps - state.speed, -lim.max_decel_mps2 * dt, lim.max_accel_mps2 * dt))
    speed = max(state.speed + dv, 0.0)
    yaw_rate = float(steering_to_yaw_rate(steer, speed, geo.wheelbase_m))
    x, y, yaw = integrate_pose(state.x, state.y, state.yaw, speed, yaw_rate, dt)
    return EgoState(x, y, yaw, speed, steer, yaw_rate)


def integrate_pose(
    x: float, y: float, yaw: float, speed: float, yaw_rate: float, dt: float
) -> tuple[float, float, float]:
    """Exact pose after ``dt`` at constant speed [m/s] and yaw rate [rad/s] (a circular arc or a line)."""
    new_yaw = yaw + yaw_rate * dt
    if abs(yaw_rate) > 1e-9:
        r = speed / yaw_rate
        return x + r * (np.sin(new_yaw) - np.sin(yaw)), y - r * (np.cos(new_yaw) - np.cos(yaw)), new_yaw
    return x + speed * dt * np.cos(yaw), y + speed * dt * np.sin(yaw), new_yaw


def ego_corners(state: EgoState) -> np.ndarray:
    """(4, 2) world corners of the ego footprint [m]."""
    c, s = np.cos(state.yaw), np.sin(state.yaw)
    xs = np.array([-REAR_OVERHANG_M, EGO_LENGTH_M - REAR_OVERHANG_M])
    ys = np.array([-EGO_WIDTH_M / 2, EGO_WIDTH_M / 2])
    local = np.array([[xs[0], ys[0]], [xs[1], ys[0]], [xs[1], ys[1]], [xs[0], ys[1]]])
    return np.array([state.x, state.y]) + local @ np.array([[c, s], [-s, c]])
