"""Ego-motion actions of a camera sweep: the canonical ``[speed m/s, yaw_rate rad/s]`` of every frame step.

A clip's action t is what moved the ego from frame t to frame t+1 (ARCHITECTURE.md), so every source estimates
the rate at the *middle* of each step, where it equals the step's mean to second order:

- poses (nuScenes ``ego_pose``, one per camera frame, uneven spacing): central differences about each step's
  midpoint, :func:`drivedreamer_env.units.step_speed_yaw_rate` (exact for constant-curvature steps);
- CAN-bus signals (their own clocks, 2-100 Hz): linear interpolation on ``utime`` at each step's midpoint.

Per-pose derivatives averaged over a step would smear a step's action into its neighbours; the midpoint
estimates do not, which is what lets the recovered actions match a simulator's to a fraction of a percent.
Frames dropped later (a missing image) merge their steps: the action from kept frame i to kept frame j is the
time average of the steps in between (:func:`frame_actions`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from drivedreamer_env.units import step_speed_yaw_rate

MAX_EXTRAPOLATION_S = 1.0  # a signal that stops further than this from a step midpoint does not cover the sweep


class SignalCoverageError(ValueError):
    """A signal's messages do not cover the camera sweep (none, or they end too far from its frames)."""


def step_midpoints(timestamps_s: ArrayLike) -> NDArray[np.float64]:
    """(T-1,) midpoints [s] of the steps between consecutive frame times."""
    t = np.asarray(timestamps_s, dtype=np.float64)
    return (t[:-1] + t[1:]) / 2.0


def step_actions_from_poses(timestamps_s: ArrayLike, xy_m: ArrayLike, yaw_rad: ArrayLike) -> NDArray[np.float64]:
    """(T-1, 2) ``[speed m/s, yaw_rate rad/s]`` of each step between consecutive poses (central differences).

    Args:
        timestamps_s: (T,) pose times [s], strictly increasing, any spacing.
        xy_m: (T, 2) positions [m] in a fixed (global) frame.
        yaw_rad: (T,) headings [rad], counter-clockwise from the global x axis (unwrapped here).
    """
    speed, yaw_rate = step_speed_yaw_rate(timestamps_s, xy_m, yaw_rad)
    return np.stack([speed, yaw_rate], axis=-1)


def signal_at_step_midpoints(
    timestamps_s: ArrayLike, signal_t_s: ArrayLike, values: ArrayLike, name: str = "signal"
) -> NDArray[np.float64]:
    """A sampled signal, linearly interpolated on its own clock at each frame step's midpoint.

    Args:
        timestamps_s: (T,) frame times [s].
        signal_t_s: (N,) message times [s] on the same clock, any order (sorted here).
        values: (N,) or (N, C) message values.
        name: the signal's name, for the error message.

    Returns:
        (T-1,) or (T-1, C) values at the step midpoints.

    Raises:
        SignalCoverageError: no messages, or a midpoint more than ``MAX_EXTRAPOLATION_S`` outside them.
    """
    st = np.asarray(signal_t_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if st.size == 0:
        raise SignalCoverageError(f"{name}: no messages")
    order = np.argsort(st, kind="stable")
    st, v = st[order], v[order]
    mid = step_midpoints(timestamps_s)
    outside = np.maximum(st[0] - mid, mid - st[-1])
    if mid.size and outside.max() > MAX_EXTRAPOLATION_S:
        raise SignalCoverageError(
            f"{name}: messages span [{st[0]:.2f}, {st[-1]:.2f}] s but the frames need [{mid[0]:.2f}, {mid[-1]:.2f}] s"
        )
    if v.ndim == 1:
        return np.interp(mid, st, v)
    return np.stack([np.interp(mid, st, v[:, c]) for c in range(v.shape[1])], axis=-1)


def frame_actions(timestamps_s: ArrayLike, step_actions: ArrayLike, keep: ArrayLike | None = None) -> NDArray:
    """Per-frame actions of the kept frames from per-step actions of all frames.

    Args:
        timestamps_s: (T,) times [s] of all frames.
        step_actions: (T-1, C) action of each step t -> t+1.
        keep: (K,) increasing indices of the frames kept (K >= 2); None keeps all.

    Returns:
        (K, C) float64: row k is the time average of the step actions between kept frames k and k+1; the last
        row repeats the one before (nothing follows the last frame).
    """
    t = np.asarray(timestamps_s, dtype=np.float64)
    a = np.asarray(step_actions, dtype=np.float64)
    idx = np.arange(len(t)) if keep is None else np.asarray(keep, dtype=np.int64)
    if len(idx) < 2 or a.shape[0] != len(t) - 1:
        raise ValueError(f"need >= 2 kept frames and T-1 step actions; got {len(idx)} kept, {a.shape} for T={len(t)}")
    cumulative = np.concatenate([np.zeros((1, a.shape[1])), np.cumsum(a * np.diff(t)[:, None], axis=0)])
    rows = (cumulative[idx[1:]] - cumulative[idx[:-1]]) / (t[idx[1:]] - t[idx[:-1]])[:, None]
    return np.concatenate([rows, rows[-1:]], axis=0)
