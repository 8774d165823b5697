"""The ProcDrive simulator core: world + ego + traffic + renderer, stepped by normalised actions.

Kept apart from the Gymnasium wrapper so that data generation, the world-model referee and the env share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from drivedreamer_env.sim.actions import validate_actions
from drivedreamer_env.sim.camera import PinholeCamera
from drivedreamer_env.sim.collision import overlaps, rect_corners
from drivedreamer_env.sim.config import SimConfig
from drivedreamer_env.sim.ego import EGO_LENGTH_M, REAR_OVERHANG_M, EgoState, ego_corners, step_ego
from drivedreamer_env.sim.render import Renderer
from drivedreamer_env.sim.rewards import DrivingTask, RewardConfig, StepMeasures
from drivedreamer_env.sim.traffic import Traffic, step_traffic
from drivedreamer_env.sim.world import CANOPY, START_S_M, World, generate_world
from drivedreamer_env.units import normalized_to_physical, wrap_angle

START_JITTER_STREAM = 1  # the seed sequence [seed, 1] draws the start jitter
LABEL_NAMES = ("lane_offset", "heading_error", "distance", "off_road", "collision")


@dataclass
class Labels:
    lane_offset: float  # from the nearest lane centre of the ego's direction, + left [m]
    heading_error: float  # ego yaw minus road heading [rad]
    distance: float  # along the road since the episode start [m]
    off_road: bool
    collision: bool
    s: float  # road coordinate of the ego centre [m]
    d: float  # lateral road coordinate of the ego centre, + left of the centre line [m]

    def as_dict(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in (*LABEL_NAMES, "s", "d")}


@dataclass
class SimState:
    """Everything that changes during an episode (the world itself is regenerated from the seed)."""

    ego: EgoState
    traffic: Traffic
    step: int
    s: float  # road coordinates of the ego centre [m]
    d: float
    time_s: float

    def copy(self) -> SimState:
        return SimState(self.ego.copy(), self.traffic.copy(), self.step, self.s, self.d, self.time_s)


@dataclass
class StepResult:
    frame: np.ndarray | None  # (H, W, 3) uint8 after the step; None when stepped with ``render=False``
    reward: float
    terminated: bool
    labels: Labels
    info: dict = field(default_factory=dict)


class Simulator(DrivingTask):
    """Ground-truth driving simulator.

    ``reset(seed)`` builds the episode's world; ``step(action)`` applies a normalised ``[steering, speed]``
    action (steer +1 = ``+max_steer_rad`` road-wheel angle to the left; speed -1..1 -> 0..``max_speed_mps``
    target speed) for ``dt_s`` and renders the new frame. Reward and termination: :mod:`drivedreamer_env.sim.rewards`
    with ``cfg.reward``, measured on the lane offset, and the ground-truth off-road and collision labels as events.
    """

    def __init__(self, cfg: SimConfig | None = None) -> None:
        self.cfg = cfg or SimConfig()
        self.camera = PinholeCamera.from_config(self.cfg.camera)
        self.world: World | None = None
        self.renderer: Renderer | None = None
        self.state: SimState | None = None

    # --------------------------------------------------------------------------------------------- episode
    def reset(self, seed: int, lane: int | None = None, speed_mps: float | None = None) -> tuple[np.ndarray, Labels]:
        """Start episode ``seed`` with the ego centre at ``START_S_M`` in lane ``lane``.

        Lanes count from the centre line (0) outwards; the default is the outermost (rightmost) lane. With
        ``cfg.start_offset_m`` / ``cfg.start_heading_rad`` the ego starts off the lane centre and off the road
        heading by amounts drawn uniformly from the seed (the same start for the same seed).
        """
        self.world = generate_world(int(seed), self.cfg)
        self.renderer = Renderer(self.camera, self.world, self.cfg.camera.max_range_m)
        road = self.world.road
        lane = road.lanes_per_direction - 1 if lane is None else int(lane)
        if not 0 <= lane < road.lanes_per_direction:
            raise ValueError(f"lane must be in [0, {road.lanes_per_direction}), got {lane}")
        offset, dyaw = 0.0, 0.0
        if self.cfg.start_offset_m > 0 or self.cfg.start_heading_rad > 0:  # its own stream: the world is unchanged
            jitter = np.random.default_rng([int(seed), START_JITTER_STREAM]).uniform(-1.0, 1.0, 2)
            offset, dyaw = float(jitter[0] * self.cfg.start_offset_m), float(jitter[1] * self.cfg.start_heading_rad)
        d = road.lane_center_d(lane) + offset
        # place the rear axle so that the ego centre is at START_S_M
        center_offset = EGO_LENGTH_M / 2 - REAR_OVERHANG_M
        xy, heading = road.pose_at(START_S_M - center_offset, d)
        speed = self.cfg.initial_speed_mps if speed_mps is None else float(speed_mps)
        ego = EgoState(float(xy[0]), float(xy[1]), float(heading) + dyaw, speed, 0.0, 0.0)
        self.state = SimState(ego, self.world.traffic.copy(), 0, START_S_M, d, 0.0)
        labels = self.labels()
        return self.render(), labels

    def get_state(self) -> SimState:
        """A deep copy of the mutable state (fork it to branch counterfactuals)."""
        return self._require_state().copy()

    def set_state(self, state: SimState) -> None:
        self._require_state()
        self.state = state.copy()

    def _require_state(self) -> SimState:
        if self.state is None or self.world is None:
            raise RuntimeError("call reset(seed) before stepping or rendering the simulator")
        return self.state

    # --------------------------------------------------------------------------------------------- dynamics
    @property
    def reward_config(self) -> RewardConfig:
        return self.cfg.reward

    def step(self, action: object, render: bool = True) -> StepResult:
        """Advance one ``dt_s`` under the normalised ``action`` ``[steering, speed]``; ``render=False`` skips the
        frame (``StepResult.frame`` is None), e.g. to drive a scene ahead before rendering from there."""
        st = self._require_state()
        a = validate_actions(action)
        steer_cmd, speed_cmd = normalized_to_physical(a, self.cfg.geometry)
        s_before, d_before, speed_before = st.s, st.d, st.ego.speed
        st.ego = step_ego(st.ego, float(steer_cmd), float(speed_cmd), self.cfg.dt_s, self.cfg.geometry, self.cfg.limits)
        step_traffic(st.traffic, self.world.road, self.cfg.dt_s, s_before, d_before, st.ego.speed)
        st.step += 1
        st.time_s += self.cfg.dt_s
        labels = self.labels()
        st.s, st.d = labels.s, labels.d
        reward, terminated = self._score(self._measure(labels, s_before, speed_before))
        return StepResult(self.render() if render else None, reward, terminated, labels, self.info(labels))

    def _measure(self, labels: Labels, s_before: float, speed_before: float) -> StepMeasures:
        """The step's reward inputs: progress along the road, the lane offset, and off-road / collision as events."""
        e = self.state.ego
        return StepMeasures(
            progress_m=labels.s - s_before,
            deviation_m=labels.lane_offset,
            heading_error_rad=labels.heading_error,
            accel_lon_mps2=(e.speed - speed_before) / self.cfg.dt_s,
            accel_lat_mps2=e.speed * e.yaw_rate,
            events=np.array([float(labels.off_road), float(labels.collision)]),
        )

    def ego_center(self) -> np.ndarray:
        e = self._require_state().ego
        k = EGO_LENGTH_M / 2 - REAR_OVERHANG_M
        return np.array([e.x + k * np.cos(e.yaw), e.y + k * np.sin(e.yaw)])

    def labels(self) -> Labels:
        st = self._require_state()
        road = self.world.road
        s, d = road.project(self.ego_center(), st.s)
        w = road.lane_width_m
        k = int(np.clip(np.round(-d / w - 0.5), 0, road.lanes_per_direction - 1))
        _, road_heading = road.pose_at(s)
        return Labels(
            lane_offset=float(d + (k + 0.5) * w),
            heading_error=float(wrap_angle(st.ego.yaw - road_heading)),
            distance=float(s - START_S_M),
            off_road=bool(abs(d) > road.paved_half_width_m or s >= road.length_m - 1.0),
            collision=self._collides(s),
            s=float(s),
            d=float(d),
        )

    def _collides(self, s: float) -> bool:
        return self._collision(s) is not None

    def collided_with(self) -> str | None:
        """What the ego overlaps now: "oncoming" traffic, same-direction traffic "ahead" of the ego's centre (it ran
        into it) or "behind" it (it was run into), an "object" by the road, or None."""
        st = self._require_state()
        s, _ = self.world.road.project(self.ego_center(), st.s)
        return self._collision(float(s))

    def _collision(self, s: float) -> str | None:
        st = self.state
        ego = ego_corners(st.ego)
        center = self.ego_center()
        tr = st.traffic
        near = np.flatnonzero(np.abs(tr.s - s) < 12.0)
        if len(near):
            xy, yaw = tr.poses(self.world.road, near)
            vc = rect_corners(xy, yaw, tr.size[near, 0], tr.size[near, 1])
            hit = near[overlaps(ego, vc)]
            if len(hit):  # the ego drives along +s: traffic with direction -1 comes towards it
                if np.any(tr.direction[hit] < 0):
                    return "oncoming"
                return "ahead" if np.any(tr.s[hit] > s) else "behind"
        b = self.world.boxes
        # broad phase: bounding circles, then the exact separating-axis test
        reach = 0.5 * np.hypot(b.size[:, 0], b.size[:, 1]) + 3.0
        near = np.flatnonzero((np.abs(b.s - s) < 40.0) & (b.kind != CANOPY))
        near = near[np.hypot(*(b.xy[near] - center).T) < reach[near]]
        if len(near):
            bc = rect_corners(b.xy[near], b.yaw[near], b.size[near, 0], b.size[near, 1])
            if overlaps(ego, bc).any():
                return "object"
        return None

    def info(self, labels: Labels | None = None) -> dict:
        st = self._require_state()
        e = st.ego
        labels = labels or self.labels()
        return {
            "pose": np.array([e.x, e.y, e.yaw]),
            "speed": e.speed,
            "yaw_rate": e.yaw_rate,
            "steer": e.steer,
            "time": st.time_s,
            "step": st.step,
            **labels.as_dict(),
        }

    def render(self) -> np.ndarray:
        st = self._require_state()
        return self.renderer.render(np.array([st.ego.x, st.ego.y]), st.ego.yaw, st.s, st.traffic, st.step)
