"""Simulator configuration (one dataclass, loadable from ``configs/sim/*.yaml``)."""

from __future__ import annotations

import math
import warnings
from dataclasses import InitVar, dataclass, field

from drivedreamer_env.sim.rewards import RewardConfig
from drivedreamer_env.units import VehicleGeometry

TIMES_OF_DAY = ("day", "dusk", "night")
WEATHERS = ("clear", "fog", "rain")
ENVIRONMENTS = ("rural", "urban")
# SimConfig's reward weights before they moved into SimConfig.reward: old key -> RewardConfig field
DEPRECATED_REWARD_KEYS = {
    "reward_progress": "progress",
    "reward_lane_offset": "deviation",
    "reward_heading": "heading",
    "reward_terminal": "terminal",
}


@dataclass
class CameraConfig:
    """Pinhole front camera mounted on the ego.

    Attributes:
        width, height: image size [px].
        hfov_deg: horizontal field of view [deg].
        height_m: mounting height above the ground [m].
        x_m: forward offset from the ego reference point (rear axle) [m].
        pitch_deg: downward pitch [deg] (positive looks down).
        max_range_m: ground beyond this distance is drawn as distant terrain [m].
    """

    width: int = 128
    height: int = 64
    hfov_deg: float = 80.0
    height_m: float = 1.5
    x_m: float = 1.5
    pitch_deg: float = 3.0
    max_range_m: float = 100.0


@dataclass
class EgoLimits:
    """Actuator limits of the ego bicycle model."""

    max_steer_rate_rps: float = 0.8  # road-wheel angle rate [rad/s]
    max_accel_mps2: float = 3.0  # [m/s^2]
    max_decel_mps2: float = 6.0  # [m/s^2]


@dataclass
class SimConfig:
    """Everything that defines a ProcDrive episode except its seed.

    ``time_of_day``, ``weather``, ``environment``, ``lanes_per_direction`` and ``traffic_density`` are drawn
    per episode from the seed when left ``None``; set them to force a style. ``reward`` holds the weights of the
    reward shared with the dream (:mod:`drivedreamer_env.sim.rewards`); the old flat keys ``reward_progress``,
    ``reward_lane_offset``, ``reward_heading`` and ``reward_terminal`` still load, with a DeprecationWarning.
    """

    camera: CameraConfig = field(default_factory=CameraConfig)
    geometry: VehicleGeometry = field(default_factory=VehicleGeometry)
    limits: EgoLimits = field(default_factory=EgoLimits)
    dt_s: float = 0.1  # simulation and camera period [s] (10 Hz)
    road_length_m: float = 1500.0
    lane_width_m: float = 3.5
    time_of_day: str | None = None
    weather: str | None = None
    environment: str | None = None
    lanes_per_direction: int | None = None  # 1..3
    traffic_density: float | None = None  # vehicles per 100 m per lane
    initial_speed_mps: float = 8.0
    # episodes start off their lane centre by U(-a, a) metres (+ left) and off the road heading by U(-b, b)
    # radians, drawn from the episode seed (0 = on the centre line, along the road)
    start_offset_m: float = 0.0
    start_heading_rad: float = 0.0
    max_curvature_1pm: float = 1.0 / 25.0  # tightest curve [1/m] (radius 25 m)
    reward: RewardConfig = field(default_factory=RewardConfig)  # terminal = leaving the road or colliding
    # deprecated spellings of reward.progress / .deviation / .heading / .terminal: they warn, then set `reward`
    reward_progress: InitVar[float | None] = None
    reward_lane_offset: InitVar[float | None] = None
    reward_heading: InitVar[float | None] = None
    reward_terminal: InitVar[float | None] = None

    def __post_init__(
        self,
        reward_progress: float | None,
        reward_lane_offset: float | None,
        reward_heading: float | None,
        reward_terminal: float | None,
    ) -> None:
        values = (reward_progress, reward_lane_offset, reward_heading, reward_terminal)
        old = zip(DEPRECATED_REWARD_KEYS, values, strict=True)
        self.reward = _fold_deprecated_rewards(self.reward, {k: v for k, v in old if v is not None})
        for name, value, allowed in (
            ("time_of_day", self.time_of_day, TIMES_OF_DAY),
            ("weather", self.weather, WEATHERS),
            ("environment", self.environment, ENVIRONMENTS),
        ):
            if value is not None and value not in allowed:
                raise ValueError(f"SimConfig.{name}={value!r}; expected one of {allowed} or null")
        if self.lanes_per_direction is not None and not 1 <= self.lanes_per_direction <= 3:
            raise ValueError(f"SimConfig.lanes_per_direction={self.lanes_per_direction}; expected 1, 2 or 3")
        if self.dt_s <= 0:
            raise ValueError(f"SimConfig.dt_s must be positive, got {self.dt_s}")
        for name in ("start_offset_m", "start_heading_rad"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"SimConfig.{name} must be a finite bound >= 0, got {value}")


def _fold_deprecated_rewards(reward: RewardConfig, old: dict[str, float]) -> RewardConfig:
    """``reward`` with the deprecated ``SimConfig.reward_*`` values ``old`` applied, warning once per key."""
    for key, value in old.items():
        new = DEPRECATED_REWARD_KEYS[key]
        warnings.warn(
            f"SimConfig.{key} is deprecated: use SimConfig.reward.{new} (in YAML: reward: {{{new}: {value}}}); "
            "see drivedreamer_env.sim.rewards.RewardConfig",
            DeprecationWarning,
            stacklevel=4,
        )
    return reward.updated({DEPRECATED_REWARD_KEYS[k]: v for k, v in old.items()})
