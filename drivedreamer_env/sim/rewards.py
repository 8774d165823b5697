"""The one reward and termination definition of both driving envs, ``ProcDrive-v0`` and ``WorldDreamerDrive-v0``.

HighwayEnv's template method: each env measures a step into :class:`StepMeasures` its own way (the simulator
from ground truth, the dream from its reference route and learned event heads), and :class:`DrivingTask` turns
the measures into the signed reward terms (:meth:`DrivingTask._rewards`), their sum
(:meth:`DrivingTask._reward`) and termination (:meth:`DrivingTask._is_terminated`), weighted by one
:class:`RewardConfig`::

    reward = progress * progress_m - deviation * |deviation_m| - heading * |heading_error_rad|
             - comfort * (accel_lon^2 + accel_lat^2) - event * sum(events) - terminal * [terminated]
    terminated = |deviation_m| > max_deviation_m (when set) or any(events > event_threshold)

The class defaults are ProcDrive's reward; the dream adds its comfort and event terms and a deviation limit
(``drivedreamer_env.envs.config.DREAM_REWARD``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from drivedreamer_env.config import ConfigError

REWARD_TERMS = ("progress", "deviation", "heading", "comfort", "event", "terminal")


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the reward terms and the termination rules (see the module docstring).

    Attributes:
        progress: reward per metre of progress along the reference [1/m].
        deviation: penalty per metre of |lateral offset| from the reference, per step [1/m].
        heading: penalty per radian of |heading error|, per step [1/rad].
        comfort: penalty per (m/s^2)^2 of ``accel_lon^2 + accel_lat^2``, per step (ProcDrive 0, the dream 0.002).
        event: penalty per unit of event probability, per step (ProcDrive 0, the dream 1.0).
        terminal: penalty once, on the terminating step.
        max_deviation_m: terminate when |lateral offset| exceeds it [m]; None = never (ProcDrive).
        event_threshold: terminate when an event probability exceeds it (ground-truth events are 0 or 1).
    """

    progress: float = 0.1
    deviation: float = 0.05
    heading: float = 0.1
    comfort: float = 0.0
    event: float = 0.0
    terminal: float = 5.0
    max_deviation_m: float | None = None
    event_threshold: float = 0.5

    def updated(self, overrides: Mapping[str, float | None] | None) -> RewardConfig:
        """A copy with ``overrides`` (field name -> value) applied; an unknown name is an error listing the known."""
        overrides = dict(overrides or {})
        known = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ConfigError(f"unknown reward weight(s) {unknown}; known: {known}")
        return dataclasses.replace(self, **{k: None if v is None else float(v) for k, v in overrides.items()})


@dataclass(frozen=True)
class StepMeasures:
    """What one step of an env measured, the only input of the reward and the termination.

    Attributes:
        progress_m: arc length gained along the reference this step [m].
        deviation_m: lateral offset from the reference line (lane centre or route) [m], + left.
        heading_error_rad: ego heading minus reference heading [rad].
        accel_lon_mps2: longitudinal acceleration over the step [m/s^2].
        accel_lat_mps2: lateral acceleration, speed * yaw rate [m/s^2].
        events: (E,) event probabilities in [0, 1] (off-road, collision, ...); the simulator's are 0 or 1.
    """

    progress_m: float
    deviation_m: float
    heading_error_rad: float
    accel_lon_mps2: float
    accel_lat_mps2: float
    events: np.ndarray


class DrivingTask:
    """Reward and termination of a driving env (template method); subclasses provide ``reward_config``.

    An env builds the :class:`StepMeasures` of a step, then calls :meth:`_score`. A subclass that wants another
    term overrides :meth:`_rewards` and extends its dict.
    """

    reward_config: RewardConfig

    def _is_terminated(self, m: StepMeasures) -> bool:
        """True when the ego left the reference by more than ``max_deviation_m`` or an event fired."""
        rc = self.reward_config
        off_route = rc.max_deviation_m is not None and abs(m.deviation_m) > rc.max_deviation_m
        return bool(off_route or np.any(np.asarray(m.events) > rc.event_threshold))

    def _rewards(self, m: StepMeasures, terminated: bool) -> dict[str, float]:
        """The signed contribution of each term (keys :data:`REWARD_TERMS`), in the order they are summed."""
        rc = self.reward_config
        return {
            "progress": rc.progress * m.progress_m,
            "deviation": -(rc.deviation * abs(m.deviation_m)),
            "heading": -(rc.heading * abs(m.heading_error_rad)),
            "comfort": -(rc.comfort * (m.accel_lon_mps2**2 + m.accel_lat_mps2**2)),
            "event": -(rc.event * float(np.sum(m.events))),
            "terminal": -(rc.terminal if terminated else 0.0),
        }

    def _reward(self, m: StepMeasures, terminated: bool) -> float:
        """The sum of :meth:`_rewards`, left to right (the same float as the written-out formula)."""
        total = 0.0
        for value in self._rewards(m, terminated).values():
            total += value
        return float(total)

    def _score(self, m: StepMeasures) -> tuple[float, bool]:
        """(reward, terminated) of a step."""
        terminated = self._is_terminated(m)
        return self._reward(m, terminated), terminated
