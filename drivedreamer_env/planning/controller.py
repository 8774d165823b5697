"""The tracking controller: a NAVSIM-style ego-frame trajectory -> the env's normalised ``[steering, speed]``.

Lateral: pure pursuit on the trajectory (the origin, the rear axle, prepended) with a speed-dependent look-ahead;
the road-wheel angle is ``atan(wheelbase * 2 y / d^2)`` for the look-ahead point ``(x, y)`` at distance ``d``.
Longitudinal: the reference speed is the trajectory's mean speed over its first second; the acceleration
towards it is limited to ``[min_accel, max_accel]`` and changes by at most ``max_jerk * dt`` a step, inside
nuPlan's comfort bounds, so a planner that asks for a smooth trajectory gets a smooth ride.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivedreamer_env.planning.protocol import TRAJECTORY_DT_S, Action, Trajectory
from drivedreamer_env.units import VehicleGeometry, physical_to_normalized


@dataclass(frozen=True)
class TrackerConfig:
    """Gains and limits of :class:`Tracker`.

    Attributes:
        lookahead_min_m: shortest pure-pursuit look-ahead [m].
        lookahead_time_s: look-ahead per unit of speed [s] (``d = max(min, time * speed)``).
        speed_time_constant_s: the acceleration closes the speed error in this time [s].
        min_accel_mps2, max_accel_mps2: acceleration limits [m/s^2] (nuPlan: -4.05 / 2.40).
        max_jerk_mps3: largest change of the acceleration per second [m/s^3] (nuPlan: 4.13).
    """

    lookahead_min_m: float = 4.0
    lookahead_time_s: float = 0.9
    speed_time_constant_s: float = 1.0
    min_accel_mps2: float = -3.5
    max_accel_mps2: float = 2.0
    max_jerk_mps3: float = 3.0


def point_at_arc_length(path: np.ndarray, distance_m: float) -> np.ndarray:
    """The point ``distance_m`` along polyline ``path`` (N, 2); past its end, along its last segment."""
    seg = np.diff(path, axis=0)
    length = np.linalg.norm(seg, axis=1)
    keep = length > 1e-6
    if not keep.any():
        return path[-1].copy()
    seg, length, starts = seg[keep], length[keep], path[:-1][keep]
    cum = np.concatenate([[0.0], np.cumsum(length)])
    k = int(np.clip(np.searchsorted(cum, distance_m, side="right") - 1, 0, len(seg) - 1))
    return starts[k] + seg[k] / length[k] * (distance_m - cum[k])


class Tracker:
    """Turns :class:`Trajectory` outputs into actions; an :class:`Action` passes through unchanged.

    One tracker per episode: it keeps the last acceleration command (the jerk limit).
    """

    def __init__(
        self, geometry: VehicleGeometry | None = None, dt_s: float = 0.1, config: TrackerConfig | None = None
    ) -> None:
        self.geometry = geometry or VehicleGeometry()
        self.dt_s = float(dt_s)
        self.cfg = config or TrackerConfig()
        self.accel_mps2 = 0.0

    def reset(self) -> None:
        self.accel_mps2 = 0.0

    def steer_rad(self, poses: np.ndarray, speed_mps: float) -> float:
        """Pure-pursuit road-wheel angle [rad] towards ego-frame ``poses`` (N, >= 2)."""
        path = np.vstack([np.zeros(2), np.asarray(poses, np.float64)[:, :2]])
        lookahead = max(self.cfg.lookahead_min_m, self.cfg.lookahead_time_s * speed_mps)
        x, y = point_at_arc_length(path, lookahead)
        d2 = max(x * x + y * y, 1.0)
        return float(np.arctan(self.geometry.wheelbase_m * 2.0 * y / d2))

    def speed_command_mps(self, poses: np.ndarray, speed_mps: float) -> float:
        """Target speed [m/s] for the next step: the trajectory's first-second mean speed, jerk- and accel-limited."""
        c = self.cfg
        first_second = max(1, round(1.0 / TRAJECTORY_DT_S))
        path = np.vstack([np.zeros(2), np.asarray(poses, np.float64)[:first_second, :2]])
        reference = float(np.sum(np.linalg.norm(np.diff(path, axis=0), axis=1))) / (first_second * TRAJECTORY_DT_S)
        wanted = np.clip((reference - speed_mps) / c.speed_time_constant_s, c.min_accel_mps2, c.max_accel_mps2)
        step = c.max_jerk_mps3 * self.dt_s
        self.accel_mps2 = float(np.clip(wanted, self.accel_mps2 - step, self.accel_mps2 + step))
        if speed_mps <= 0.0 and self.accel_mps2 < 0.0:  # standing still: nothing left to brake
            self.accel_mps2 = 0.0
        return max(speed_mps + self.accel_mps2 * self.dt_s, 0.0)

    def action(self, output: Action | Trajectory, speed_mps: float) -> np.ndarray:
        """The normalised ``[steering, speed]`` (2,) for ``output`` at the current ``speed_mps``."""
        if isinstance(output, Action):
            return np.clip(output.as_array(), -1.0, 1.0)
        steer = self.steer_rad(output.poses, speed_mps)
        speed = self.speed_command_mps(output.poses, speed_mps)
        return physical_to_normalized(steer, speed, self.geometry).astype(np.float64)
