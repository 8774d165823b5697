"""What drives an evaluation episode: a trained policy, the random policy, or the simulator's lane keeper.

A controller maps a batch of observations (``POLICY_KEYS``, one row per env) to a batch of ``[steering, speed]``
actions. ``start(sim)`` is called at the start of each episode with the simulator being driven (None in the
dream): only the lane keeper reads it, since it drives on the true state and not on the frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from drivedreamer_env.rl.checkpoint import load_policy
from drivedreamer_env.sim.policies import LaneKeeper
from drivedreamer_env.sim.simulator import Simulator

REFERENCES = ("random", "lane_keeper")


class Controller(Protocol):
    name: str

    def start(self, sim: Simulator | None) -> None: ...

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """(B, 2) normalised actions for a batch of B observations."""
        ...


class PolicyController:
    """A saved policy's deterministic action (the mean of its Gaussian, clipped to the action box).

    Args:
        directory: a ``train policy --out`` directory.
        device: torch device.
    """

    def __init__(self, directory: str | Path, device: str = "cpu") -> None:
        self.policy, self.spec = load_policy(directory, device)
        self.name = f"policy:{directory}"

    def start(self, sim: Simulator | None) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        action, _ = self.policy.predict(obs, deterministic=True)
        return np.asarray(action, np.float32).reshape(-1, 2)


class RandomController:
    """Uniform random actions in the box, from its own seeded generator."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def start(self, sim: Simulator | None) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, (len(obs["image"]), 2)).astype(np.float32)


class LaneKeeperController:
    """The simulator's :class:`~drivedreamer_env.sim.policies.LaneKeeper` (ground truth: simulator only)."""

    name = "lane_keeper"

    def __init__(self) -> None:
        self.keeper: LaneKeeper | None = None

    def start(self, sim: Simulator | None) -> None:
        if sim is None:
            raise ValueError("the lane keeper drives on the simulator's true state: evaluate it with world 'sim'")
        self.keeper = LaneKeeper(sim)

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        if len(obs["image"]) != 1:
            raise ValueError("the lane keeper drives one simulator at a time")
        return self.keeper()[None].astype(np.float32)


def make_controller(spec: str, seed: int = 0, device: str = "cpu") -> Controller:
    """``random``, ``lane_keeper`` or a policy directory."""
    if spec == "random":
        return RandomController(seed)
    if spec == "lane_keeper":
        return LaneKeeperController()
    if not Path(spec).is_dir():
        raise FileNotFoundError(f"policy {spec!r}: no such directory (or give one of {list(REFERENCES)})")
    return PolicyController(spec, device)
