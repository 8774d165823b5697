"""What a planner is told about the route, computed by one piece of code for both worlds: the route command and
the (privileged) route ahead in the ego frame; and the drivable area of the start scene's map."""

from __future__ import annotations

import numpy as np

from drivedreamer_env.envs.route import Route
from drivedreamer_env.sim.ego import EGO_LENGTH_M, REAR_OVERHANG_M
from drivedreamer_env.sim.road import Road
from drivedreamer_env.units import wrap_angle

COMMAND_LOOKAHEAD_M = 30.0  # the command says where the route heads this far ahead
COMMAND_TURN_RAD = 0.2  # a heading change beyond this is a turn
ROUTE_AHEAD_M = 60.0  # how much of the route the privileged view shows
ROUTE_POINT_STEP_M = 1.0
CENTER_OFFSET_M = EGO_LENGTH_M / 2 - REAR_OVERHANG_M  # rear axle -> footprint centre [m]


def route_points(route: Route, s_m: np.ndarray) -> np.ndarray:
    """World points (N, 2) of ``route`` at arc lengths ``s_m`` (N,) [m]."""
    s = np.asarray(s_m, np.float64)
    return np.stack([np.interp(s, route.s, route.xy[:, 0]), np.interp(s, route.s, route.xy[:, 1])], axis=-1)


def to_ego(points: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """World points (N, 2) in the ego frame of ``pose`` ``[x, y, heading]`` (x forward, y left)."""
    c, s = np.cos(pose[2]), np.sin(pose[2])
    rel = np.asarray(points, np.float64) - pose[:2]
    return np.stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1]], axis=-1)


def route_ahead_ego(route: Route, route_s_m: float, pose: np.ndarray, ahead_m: float = ROUTE_AHEAD_M) -> np.ndarray:
    """(N, 2) route points from the ego's projection ``route_s_m`` to ``ahead_m`` beyond it, in the ego frame."""
    s = route_s_m + np.arange(0.0, ahead_m + 1e-9, ROUTE_POINT_STEP_M)
    return to_ego(route_points(route, s), pose)


def route_heading(route: Route, s_m: float) -> float:
    """Heading [rad] of ``route``'s segment at arc length ``s_m``."""
    k = int(np.clip(np.searchsorted(route.s, s_m, side="right") - 1, 0, len(route.s) - 2))
    d = route.xy[k + 1] - route.xy[k]
    return float(np.arctan2(d[1], d[0]))


def route_command(route: Route, route_s_m: float) -> str:
    """``left`` / ``right`` when the route's heading changes by more than 0.2 rad over the next 30 m, else
    ``straight`` (NAVSIM's driving command, for roads without junctions)."""
    turn = float(wrap_angle(route_heading(route, route_s_m + COMMAND_LOOKAHEAD_M) - route_heading(route, route_s_m)))
    if turn > COMMAND_TURN_RAD:
        return "left"
    if turn < -COMMAND_TURN_RAD:
        return "right"
    return "straight"


def footprint_center(pose: np.ndarray) -> np.ndarray:
    """World (2,) centre of the ego footprint for rear-axle ``pose`` ``[x, y, heading]``."""
    return pose[:2] + CENTER_OFFSET_M * np.array([np.cos(pose[2]), np.sin(pose[2])])


def off_road(road: Road, pose: np.ndarray, s_hint_m: float) -> tuple[bool, float]:
    """(is the ego off the paved road, its road coordinate s [m]) for rear-axle ``pose``: the simulator's rule,
    the footprint centre beyond the edge line plus shoulder."""
    s, d = road.project(footprint_center(pose), s_hint_m)
    return bool(abs(d) > road.paved_half_width_m), s
