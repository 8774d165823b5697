"""Per-episode planner metrics, one code path for the dream and the simulator.

An :class:`EpisodeTrace` holds what a world reported at every step of an episode (the ego pose and speed, its
place on the route, off-road and collision flags); :func:`episode_metrics` scores it:

* progress: metres driven along the route, and ``route_completion`` = progress / route length, clipped to [0, 1]
  (the route is what the cruise speed covers over the horizon);
* lateral deviation from the route: mean and max of ``|d|`` [m];
* drivable area: off-road when the footprint centre leaves the paved road (the simulator's rule) on the start
  scene's map; collisions: the simulator's true ones, the dream's event head above 0.5 (None when the checkpoint
  has no collision head);
* comfort against nuPlan's thresholds (``COMFORT_BOUNDS``), the derivatives taken as nuPlan does, with a
  Savitzky-Golay filter (order 2, window 15 = 1.5 s at 10 Hz) of the speed and the unwrapped heading:
  ``comfort`` is the share of steps within every bound, ``comfortable`` whether all steps are (nuPlan's
  per-scenario boolean);
* ``score``, in the spirit of NAVSIM's PDMS: ``NC * DAC * (5 * route_completion + 2 * comfort) / 7`` with
  ``NC`` = 0 after a collision and ``DAC`` = 0 after leaving the road (else 1), NAVSIM's weights of ego progress
  and comfort; 0 for an episode whose planner failed.

Episodes end at the first off-road or collision step (or when the planner fails), so everything is measured
on what was driven until then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import savgol_filter

# nuPlan's comfort thresholds (nuplan-devkit ego_is_comfortable; the NAVSIM PDMS comfort term)
COMFORT_BOUNDS = {
    "lon_accel_mps2": (-4.05, 2.40),
    "lat_accel_mps2": (-4.89, 4.89),
    "yaw_rate_rps": (-0.95, 0.95),
    "yaw_accel_rps2": (-1.93, 1.93),
    "lon_jerk_mps3": (-4.13, 4.13),
}
SAVGOL_WINDOW = 15  # samples (nuPlan's window at 10 Hz)
SAVGOL_ORDER = 2
PROGRESS_WEIGHT, COMFORT_WEIGHT = 5.0, 2.0  # NAVSIM's weights of ego progress and comfort


@dataclass
class EpisodeTrace:
    """What a world reported over one episode: T + 1 samples, the start included.

    Attributes:
        dt_s: the step period [s].
        poses: (T + 1, 3) rear-axle ``[x m, y m, heading rad]``.
        speeds: (T + 1,) [m/s].
        route_s: (T + 1,) arc length along the route [m].
        lateral_m: (T + 1,) signed offset from the route [m], + left.
        off_road: (T + 1,) bool.
        collision: (T + 1,) bool, or None where the world cannot tell.
        route_length_m: the length of the route to complete [m].
        failed: the planner raised or returned a non-finite value; ``error`` says what.
    """

    dt_s: float
    poses: np.ndarray
    speeds: np.ndarray
    route_s: np.ndarray
    lateral_m: np.ndarray
    off_road: np.ndarray
    collision: np.ndarray | None
    route_length_m: float
    failed: bool = False
    error: str = ""


@dataclass
class EpisodeMetrics:
    """The metrics of one episode (see the module docstring); comfort maxima in the units of their names."""

    score: float
    route_completion: float
    progress_m: float
    lateral_deviation_mean_m: float
    lateral_deviation_max_m: float
    offroad: bool
    collision: bool | None
    comfort: float
    comfortable: bool
    lon_accel_min_mps2: float
    lon_accel_max_mps2: float
    lat_accel_max_abs_mps2: float
    yaw_rate_max_abs_rps: float
    yaw_accel_max_abs_rps2: float
    lon_jerk_max_abs_mps3: float
    steps: int
    failed: bool
    error: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def derivative(values: np.ndarray, dt_s: float, order: int) -> np.ndarray:
    """The ``order``-th time derivative of evenly sampled ``values`` (nuPlan's Savitzky-Golay estimate); zeros
    when there are fewer than 3 samples."""
    values = np.asarray(values, np.float64)
    window = min(SAVGOL_WINDOW, len(values) - (1 - len(values) % 2))  # the largest odd window that fits
    if window < SAVGOL_ORDER + 1:
        return np.zeros_like(values)
    return savgol_filter(values, window, SAVGOL_ORDER, deriv=order, delta=dt_s, mode="interp")


def comfort_signals(speeds: np.ndarray, headings: np.ndarray, dt_s: float) -> dict[str, np.ndarray]:
    """The five comfort quantities per sample (keys of :data:`COMFORT_BOUNDS`)."""
    yaw = np.unwrap(np.asarray(headings, np.float64))
    yaw_rate = derivative(yaw, dt_s, 1)
    return {
        "lon_accel_mps2": derivative(speeds, dt_s, 1),
        "lat_accel_mps2": np.asarray(speeds, np.float64) * yaw_rate,
        "yaw_rate_rps": yaw_rate,
        "yaw_accel_rps2": derivative(yaw, dt_s, 2),
        "lon_jerk_mps3": derivative(speeds, dt_s, 2),
    }


def within_bounds(signals: dict[str, np.ndarray]) -> np.ndarray:
    """(T + 1,) bool: every comfort quantity strictly inside its bounds."""
    ok = np.ones(len(next(iter(signals.values()))), bool)
    for name, (lo, hi) in COMFORT_BOUNDS.items():
        ok &= (signals[name] > lo) & (signals[name] < hi)
    return ok


def aggregate_score(route_completion: float, comfort: float, offroad: bool, collision: bool | None) -> float:
    """The PDMS-like score: ``NC * DAC * (5 * completion + 2 * comfort) / 7`` (NC = 1 when collision is None)."""
    factor = (0.0 if offroad else 1.0) * (0.0 if collision else 1.0)
    weighted = (PROGRESS_WEIGHT * route_completion + COMFORT_WEIGHT * comfort) / (PROGRESS_WEIGHT + COMFORT_WEIGHT)
    return float(factor * weighted)


def episode_metrics(trace: EpisodeTrace) -> EpisodeMetrics:
    """Score one episode (see the module docstring)."""
    progress = float(trace.route_s[-1] - trace.route_s[0])
    completion = float(np.clip(progress / trace.route_length_m, 0.0, 1.0))
    lateral = np.abs(np.asarray(trace.lateral_m, np.float64))
    signals = comfort_signals(trace.speeds, trace.poses[:, 2], trace.dt_s)
    ok = within_bounds(signals)
    offroad = bool(np.any(trace.off_road))
    collision = None if trace.collision is None else bool(np.any(trace.collision))
    score = 0.0 if trace.failed else aggregate_score(completion, float(ok.mean()), offroad, collision)
    return EpisodeMetrics(
        score=score,
        route_completion=completion,
        progress_m=progress,
        lateral_deviation_mean_m=float(lateral.mean()),
        lateral_deviation_max_m=float(lateral.max()),
        offroad=offroad,
        collision=collision,
        comfort=float(ok.mean()),
        comfortable=bool(ok.all()),
        lon_accel_min_mps2=float(signals["lon_accel_mps2"].min()),
        lon_accel_max_mps2=float(signals["lon_accel_mps2"].max()),
        lat_accel_max_abs_mps2=float(np.abs(signals["lat_accel_mps2"]).max()),
        yaw_rate_max_abs_rps=float(np.abs(signals["yaw_rate_rps"]).max()),
        yaw_accel_max_abs_rps2=float(np.abs(signals["yaw_accel_rps2"]).max()),
        lon_jerk_max_abs_mps3=float(np.abs(signals["lon_jerk_mps3"]).max()),
        steps=len(trace.speeds) - 1,
        failed=bool(trace.failed),
        error=trace.error,
    )


RATE_NAMES = {"offroad": "offroad_rate", "collision": "collision_rate", "comfortable": "comfortable_rate",
              "failed": "failure_rate"}  # fmt: skip


def summarize(episodes: Sequence[EpisodeMetrics]) -> dict[str, float | int | None]:
    """Means over episodes: every numeric metric, and the boolean ones as rates (``collision_rate`` None when
    collisions are not available); plus ``episodes``."""
    if not episodes:
        raise ValueError("summarize needs at least one episode")
    rows = [e.to_dict() for e in episodes]
    out: dict[str, float | int | None] = {}
    for key in rows[0]:
        if key == "error":
            continue
        values = [r[key] for r in rows]
        name = RATE_NAMES.get(key, key)
        if any(v is None for v in values):
            out[name] = None
        else:
            out[name] = float(np.mean(np.asarray(values, np.float64)))
    out["episodes"] = len(rows)
    return out
