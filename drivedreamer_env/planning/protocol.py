"""The planner protocol: what a planner sees (:class:`PlannerInput`) and what it returns (:class:`Action` or
:class:`Trajectory`).

A planner sees only what both worlds, the dream and the simulator, can give it: the front-camera frame, the ego
speed and yaw rate, and a route command. It returns either an env action or a trajectory of future poses in the
ego frame, 8 poses at 2 Hz over 4 s as in NAVSIM, which :class:`~drivedreamer_env.planning.controller.Tracker`
turns into actions.

Any object with ``plan(obs) -> Action | Trajectory`` is a planner (``reset(seed)``, when it has one, is called at
every episode start), and so is any callable ``obs -> Action | Trajectory``. Arrays are accepted too: shape
``(2,)`` is an action, ``(8, 3)`` a trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

TRAJECTORY_POSES = 8  # NAVSIM: 4 s at 2 Hz
TRAJECTORY_DT_S = 0.5
COMMANDS = ("left", "straight", "right")


class PlannerError(RuntimeError):
    """A planner returned something that is neither a finite action nor a finite trajectory."""


@dataclass(frozen=True)
class PlannerInput:
    """One step's observation of a planner.

    Attributes:
        frame: uint8 (H, W, 3) RGB front-camera frame (the dreamt one in the dream).
        speed_mps: ego speed [m/s].
        yaw_rate_rps: ego yaw rate [rad/s], + left.
        command: route command, one of :data:`COMMANDS` (where the route turns in the next 30 m).
        step: steps since the episode start.
        dt_s: the env period [s].
        pose: ego ``[x m, y m, heading rad]`` in the start scene's world frame (as the env's ``info["pose"]``);
            baseline planners do not use it.
        route_ego: privileged: (N, 2) points of the route ahead in the ego frame [m] (x forward, y left), from
            the lane geometry in the simulator and the start scene's route in the dream (the same). Only the
            route-following oracles read it.
    """

    frame: np.ndarray
    speed_mps: float
    yaw_rate_rps: float
    command: str
    step: int
    dt_s: float
    pose: np.ndarray
    route_ego: np.ndarray


@dataclass(frozen=True)
class Action:
    """A normalised env action: ``steering`` (+1 = full left) and ``speed`` (-1..1 = 0..max speed), each in [-1, 1]."""

    steering: float
    speed: float

    def as_array(self) -> np.ndarray:
        return np.array([self.steering, self.speed], np.float64)


@dataclass(frozen=True)
class Trajectory:
    """Future ego poses (8, 3) ``[x m, y m, heading rad]`` at 0.5, 1.0, ..., 4.0 s, in the ego frame of now."""

    poses: np.ndarray


@runtime_checkable
class Planner(Protocol):
    """A planner: one instance drives one episode (see the module docstring)."""

    def plan(self, obs: PlannerInput) -> Action | Trajectory | np.ndarray: ...


def as_output(value: Any) -> Action | Trajectory:
    """``value`` as a validated :class:`Action` or :class:`Trajectory`.

    Raises:
        PlannerError: a wrong type or shape, or a value that is not finite (NaN / inf).
    """
    if isinstance(value, Action):
        arr = value.as_array()
    elif isinstance(value, Trajectory):
        arr = np.asarray(value.poses, np.float64)
    else:
        try:
            arr = np.asarray(value, np.float64)
        except (TypeError, ValueError) as err:
            raise PlannerError(f"a planner must return an Action, a Trajectory or an array, got {value!r}") from err
    if arr.shape not in ((2,), (TRAJECTORY_POSES, 3)):
        raise PlannerError(
            f"a planner must return an action (2,) = [steering, speed] or a trajectory ({TRAJECTORY_POSES}, 3) = "
            f"[x, y, heading] at 2 Hz over 4 s, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise PlannerError(f"the planner returned a non-finite {'action' if arr.shape == (2,) else 'trajectory'}")
    if arr.shape == (2,):
        return Action(float(arr[0]), float(arr[1]))
    return Trajectory(arr)


class FunctionPlanner:
    """A plain callable ``obs -> Action | Trajectory`` as a planner."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def plan(self, obs: PlannerInput) -> Action | Trajectory | np.ndarray:
        return self.fn(obs)
