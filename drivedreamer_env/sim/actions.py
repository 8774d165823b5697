"""The normalised action both driving envs take: ``[steering, speed]`` in [-1, 1], its space and its validation.

steering +1 = full left (road-wheel angle ``+max_steer_rad``); speed -1..1 maps linearly to a target speed of
0..``max_speed_mps``. :func:`drivedreamer_env.units.normalized_to_physical` converts it to physical commands.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

ACTION_DIM = 2


def action_space() -> spaces.Box:
    """``Box(-1, 1, (2,), float32)`` = ``[steering, speed]``, the action space of one env."""
    return spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)


def validate_actions(actions: object, batch: int | None = None) -> np.ndarray:
    """Normalised action(s) as float64, clipped to [-1, 1]; NaN / inf and wrong shapes raise ``ValueError``.

    Args:
        actions: one action ``(2,)`` when ``batch`` is None; else ``(batch, 2)`` (or ``(2,)`` when batch is 1).
        batch: number of rows of a batched env, None for a single action.

    Returns:
        ``(2,)`` when ``batch`` is None, else ``(batch, 2)``.
    """
    a = np.asarray(actions, dtype=np.float64)
    if batch == 1 and a.shape == (ACTION_DIM,):
        a = a[None]
    expected = (ACTION_DIM,) if batch is None else (batch, ACTION_DIM)
    if a.shape != expected:
        shown = "(2,)" if batch in (None, 1) else f"({batch}, 2)"
        raise ValueError(
            f"action must have shape {shown} = [steering, speed] in [-1, 1] (steering +1 = full left), "
            f"got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"action must be finite [steering, speed] in [-1, 1], got {a.tolist()}")
    return np.clip(a, -1.0, 1.0)
