"""Baseline planners that do not read the frame: the route-following oracle (with and without steering noise),
constant straight ahead, a slow drift, random actions and stop.

The camera lane keeper is :mod:`~drivedreamer_env.planning.lane_keeper`, the behaviour-cloning planner
:mod:`~drivedreamer_env.planning.bc`. Every planner whose behaviour is random draws from a generator seeded by
``reset(seed)``, so the same start gives the same draws in both worlds.
"""

from __future__ import annotations

import numpy as np

from drivedreamer_env.planning.controller import Tracker, point_at_arc_length
from drivedreamer_env.planning.protocol import TRAJECTORY_DT_S, TRAJECTORY_POSES, Action, PlannerInput, Trajectory
from drivedreamer_env.units import VehicleGeometry, physical_to_normalized

CRUISE_SPEED_MPS = 8.0  # the speed of the scenes' starts, and of every baseline that drives
TRAJECTORY_TIMES_S = TRAJECTORY_DT_S * np.arange(1, TRAJECTORY_POSES + 1)  # 0.5 .. 4.0 s


def path_trajectory(path_ego: np.ndarray, speed_mps: float) -> Trajectory:
    """The :class:`Trajectory` that drives along ego-frame polyline ``path_ego`` (N, 2) at ``speed_mps``."""
    dist = speed_mps * TRAJECTORY_TIMES_S
    xy = np.stack([point_at_arc_length(path_ego, d) for d in dist])
    ahead = np.stack([point_at_arc_length(path_ego, d + 0.5) for d in dist])
    heading = np.arctan2(ahead[:, 1] - xy[:, 1], ahead[:, 0] - xy[:, 0])
    return Trajectory(np.column_stack([xy, heading]))


def cruise_speed_normalized(speed_mps: float = CRUISE_SPEED_MPS) -> float:
    """The normalised speed command of ``speed_mps``."""
    return float(physical_to_normalized(0.0, speed_mps, VehicleGeometry())[1])


class RouteOracle:
    """Follows the route (the privileged ``obs.route_ego``) at ``speed_mps``: the best a route-only planner does."""

    def __init__(self, speed_mps: float = CRUISE_SPEED_MPS) -> None:
        self.speed_mps = float(speed_mps)

    def plan(self, obs: PlannerInput) -> Trajectory:
        return path_trajectory(obs.route_ego, self.speed_mps)


class NoisyOracle:
    """The oracle's trajectory, tracked, with Ornstein-Uhlenbeck noise on the steering command.

    Args:
        noise: stationary standard deviation of the noise, in normalised steering (1 = 0.5 rad road-wheel angle).
        correlation_s: its correlation time [s].
    """

    def __init__(self, noise: float, correlation_s: float = 1.0, speed_mps: float = CRUISE_SPEED_MPS) -> None:
        self.noise, self.correlation_s = float(noise), float(correlation_s)
        self.oracle = RouteOracle(speed_mps)
        self.reset(0)

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.tracker = Tracker()
        self.value = 0.0

    def plan(self, obs: PlannerInput) -> Action:
        action = self.tracker.action(self.oracle.plan(obs), obs.speed_mps)
        theta = min(obs.dt_s / self.correlation_s, 1.0)
        self.value += -theta * self.value + self.noise * np.sqrt(2.0 * theta) * self.rng.standard_normal()
        return Action(float(np.clip(action[0] + self.value, -1.0, 1.0)), float(action[1]))


class Straight:
    """Wheel straight, cruise speed: leaves the road wherever it curves."""

    def plan(self, obs: PlannerInput) -> Action:
        return Action(0.0, cruise_speed_normalized())


class Drift:
    """Cruise speed with a small constant steering to one side (the side drawn from the seed)."""

    def __init__(self, steering: float = 0.03) -> None:
        self.steering = float(steering)
        self.reset(0)

    def reset(self, seed: int) -> None:
        self.sign = 1.0 if np.random.default_rng(seed).random() < 0.5 else -1.0

    def plan(self, obs: PlannerInput) -> Action:
        return Action(self.sign * self.steering, cruise_speed_normalized())


class RandomPlanner:
    """Uniform random steering in [-0.5, 0.5] and speed commands of 0-10 m/s, drawn every step."""

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def plan(self, obs: PlannerInput) -> Action:
        return Action(float(self.rng.uniform(-0.5, 0.5)), float(self.rng.uniform(-1.0, 0.0)))


class Stop:
    """Plans to stand still where it is: the tracker brakes within the comfort limits."""

    def plan(self, obs: PlannerInput) -> Trajectory:
        return Trajectory(np.zeros((TRAJECTORY_POSES, 3)))
