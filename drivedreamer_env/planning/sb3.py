"""A Stable-Baselines3 model file as a planner (``PATH.zip`` = PPO, or ``sb3:ALGO:PATH``).

The policy gets the observation ``WorldDreamerDrive-v0`` gives it: the frame (``observation="rgb"``) or the dict
``{"image", "speed", "yaw_rate", "pose"}`` (``observation="dict"``), whichever its observation space is, and
its deterministic action is the env action. ``stable_baselines3`` is imported only here, when such a planner
is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from drivedreamer_env.planning.protocol import Action, PlannerInput

DEFAULT_ALGORITHM = "PPO"


def _observation_builder(space: Any) -> Callable[[PlannerInput], Any]:
    """The function turning a :class:`PlannerInput` into what a policy with observation ``space`` takes."""
    fields: dict[str, Callable[[PlannerInput], np.ndarray]] = {
        "image": lambda o: o.frame,
        "speed": lambda o: np.array([o.speed_mps], np.float32),
        "yaw_rate": lambda o: np.array([o.yaw_rate_rps], np.float32),
        "pose": lambda o: np.asarray(o.pose, np.float32),
    }
    keys = getattr(space, "spaces", None)
    if keys is None:
        return fields["image"]
    unknown = sorted(set(keys) - set(fields))
    if unknown:
        raise ValueError(f"the SB3 policy observes {unknown}; a planner can give it only {sorted(fields)}")
    return lambda o: {k: fields[k](o) for k in keys}


class SB3Planner:
    """Plans with a loaded SB3 model's deterministic policy."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.observe = _observation_builder(model.observation_space)

    def plan(self, obs: PlannerInput) -> Action:
        action, _ = self.model.predict(self.observe(obs), deterministic=True)
        action = np.asarray(action, np.float64).reshape(-1)
        return Action(float(action[0]), float(action[1]))


def sb3_factory(spec: str) -> Callable[[], SB3Planner]:
    """A factory of :class:`SB3Planner` s sharing the model of ``spec`` (``PATH.zip`` or ``sb3:ALGO:PATH``)."""
    if spec.startswith("sb3:"):
        algorithm, _, path = spec[4:].partition(":")
        if not path:
            raise ValueError(f"SB3 planner {spec!r}: expected sb3:ALGO:PATH, e.g. sb3:PPO:outputs/policy.zip")
    else:
        algorithm, path = DEFAULT_ALGORITHM, spec
    if not Path(path).is_file():
        raise FileNotFoundError(f"SB3 planner {spec!r}: no model file {path}")
    try:
        import stable_baselines3
    except ImportError as err:
        raise ImportError("an SB3 planner needs stable-baselines3: pip install stable-baselines3") from err
    cls = getattr(stable_baselines3, algorithm.upper(), None)
    if cls is None:
        raise ValueError(f"SB3 planner {spec!r}: unknown algorithm {algorithm!r} in stable_baselines3")
    model = cls.load(path, device="cpu")
    return lambda: SB3Planner(model)
