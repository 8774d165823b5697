"""Driving policies on the simulator's ground truth: the data mix and a lane keeper.

For data generation a pure-pursuit lane keeper with noise carries most of the driving; on top of it the mixed
policy schedules lane changes, random steering segments (gentle to hard, left and right, then recovery) and speed
changes. All randomness comes from the generator passed in, so recorded data is reproducible per seed.
:class:`LaneKeeper` is the noiseless reference driver (it reads the true state: an oracle, not a camera policy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivedreamer_env.sim.simulator import Simulator
from drivedreamer_env.units import physical_to_normalized

SWERVE_MAX_OFFSET_M = 1.4  # a swerve ends once the ego is this far from its lane centre
SWERVE_MAX_HEADING_RAD = 0.35
LANE_KEEPER_SPEED_MPS = 8.0  # the speed the episodes start at


def pure_pursuit(sim: Simulator, target_d: float, lookahead_m: float) -> float:
    """Road-wheel angle [rad] that steers the rear axle towards lateral position ``target_d`` ahead."""
    st = sim.state
    road = sim.world.road
    xy, _ = road.pose_at(st.s + lookahead_m, target_d)
    dx, dy = xy[0] - st.ego.x, xy[1] - st.ego.y
    c, s = np.cos(st.ego.yaw), np.sin(st.ego.yaw)
    x_local, y_local = c * dx + s * dy, -s * dx + c * dy
    dist2 = max(x_local**2 + y_local**2, 1.0)
    return float(np.arctan(2.0 * sim.cfg.geometry.wheelbase_m * y_local / dist2))


def current_lane(sim: Simulator) -> int:
    """The lane of the ego's direction it is in now (0 = next to the centre line)."""
    road = sim.world.road
    return int(np.clip(round(-sim.state.d / road.lane_width_m - 0.5), 0, road.lanes_per_direction - 1))


def safe_speed(sim: Simulator, target_mps: float) -> float:
    """``target_mps`` [m/s], reduced to keep a time gap to the vehicle ahead in the ego's lane."""
    st, road = sim.state, sim.world.road
    tr = st.traffic
    lat = tr.lateral(road)
    ahead = (tr.direction > 0) & (np.abs(lat - st.d) < 0.6 * road.lane_width_m) & (tr.s > st.s)
    if not ahead.any():
        return target_mps
    k = np.flatnonzero(ahead)[np.argmin(tr.s[ahead])]
    gap = tr.s[k] - st.s - 0.5 * tr.size[k, 0] - 2.5
    # the speed whose 1.8 s headway (plus 4 m) fits into the gap, never faster than the target
    return float(np.clip((gap - 4.0) / 1.8, 0.0, target_mps))


class LaneKeeper:
    """Pure pursuit along the centre of the lane the ego is in at construction, at a cruise speed, slowing for
    the vehicle ahead (:func:`safe_speed`). Noiseless and deterministic.

    Args:
        sim: the simulator it drives (reset to the episode; reads the state and the road, never changes them).
        speed_mps: cruise speed [m/s].
    """

    def __init__(self, sim: Simulator, speed_mps: float = LANE_KEEPER_SPEED_MPS) -> None:
        self.sim, self.speed_mps = sim, float(speed_mps)
        self.lane = current_lane(sim)

    def __call__(self) -> np.ndarray:
        """The next normalised ``[steering, speed]`` action."""
        sim = self.sim
        lookahead = max(5.0, 1.0 * sim.state.ego.speed)
        steer = pure_pursuit(sim, sim.world.road.lane_center_d(self.lane), lookahead)
        return physical_to_normalized(steer, safe_speed(sim, self.speed_mps), sim.cfg.geometry)


@dataclass
class _Segment:
    mode: str  # keep | change | swerve
    steps_left: int
    value: float = 0.0  # swerve steering command in [-1, 1]


class MixedPolicy:
    """Lane keeping with noise, lane changes, random steering segments and speed changes.

    Args:
        rng: the source of all randomness.
        sim: the simulator it drives (reads the ego state and the road, never changes them).
    """

    def __init__(self, rng: np.random.Generator, sim: Simulator) -> None:
        self.rng = rng
        self.sim = sim
        self.lane = current_lane(sim)
        self.target_speed = float(rng.uniform(4.0, 16.0))
        self.noise = 0.0
        self.segment = _Segment("keep", int(rng.integers(10, 40)))

    def _next_segment(self) -> _Segment:
        r = self.rng.random()
        n_lanes = self.sim.world.road.lanes_per_direction
        if r < 0.3 and n_lanes > 1:
            choices = [k for k in (self.lane - 1, self.lane + 1) if 0 <= k < n_lanes and self._lane_free(k)]
            if choices:
                self.lane = int(self.rng.choice(choices))
                return _Segment("change", int(self.rng.integers(20, 40)))
        if r < 0.6:
            # gentle to hard, short enough to stay on the road; the lane keeper recovers afterwards
            strength = float(self.rng.choice([0.1, 0.2, 0.4, 0.7, 1.0]))
            sign = self.rng.choice([-1.0, 1.0])
            steps = int(self.rng.integers(3, 6) if strength > 0.5 else self.rng.integers(4, 15))
            return _Segment("swerve", steps, float(sign * strength * self.rng.uniform(0.8, 1.0)))
        if self.rng.random() < 0.5:
            self.target_speed = float(self.rng.choice([self.rng.uniform(0.0, 5.0), self.rng.uniform(5.0, 18.0)]))
        return _Segment("keep", int(self.rng.integers(15, 50)))

    def __call__(self) -> np.ndarray:
        """The next normalised ``[steering, speed]`` action."""
        sim = self.sim
        if self.segment.steps_left <= 0:
            self.segment = self._next_segment()
        self.segment.steps_left -= 1
        speed = sim.state.ego.speed
        lookahead = max(5.0, 1.0 * speed)
        lookahead *= 1.8 if self.segment.mode == "change" else 1.0  # smoother lane changes
        steer = pure_pursuit(sim, sim.world.road.lane_center_d(self.lane), lookahead)
        # Ornstein-Uhlenbeck steering noise keeps the lane keeper from being perfectly smooth
        self.noise += -0.3 * self.noise + 0.02 * self.rng.standard_normal()
        steer += self.noise
        if self.segment.mode == "swerve":
            labels = sim.labels()
            near_edge = abs(labels.d) > sim.world.road.paved_half_width_m - 2.0
            if (
                abs(labels.lane_offset) > SWERVE_MAX_OFFSET_M
                or abs(labels.heading_error) > SWERVE_MAX_HEADING_RAD
                or near_edge
            ):
                self.segment.steps_left = 0  # far enough: hand back to the lane keeper to recover
            else:
                steer = self.segment.value * sim.cfg.geometry.max_steer_rad
        return physical_to_normalized(steer, self._safe_speed(), sim.cfg.geometry)

    def _lane_free(self, lane: int) -> bool:
        """No vehicle in the ego's direction within [-12, +20] m of the ego in ``lane``."""
        st = self.sim.state
        tr = st.traffic
        rel = tr.s - st.s
        return not np.any((tr.direction > 0) & (tr.lane == lane) & (rel > -12.0) & (rel < 20.0))

    def _safe_speed(self) -> float:
        return safe_speed(self.sim, self.target_speed)
