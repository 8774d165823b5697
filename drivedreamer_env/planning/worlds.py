"""The two worlds a planner drives in, behind one batched interface: the ground-truth simulator and the dream.

Both start every row from the same :class:`~drivedreamer_env.envs.starts.Start` (a simulator scene after its
context frames), move the ego with the same kinematic bicycle model, and report per row the frame the planner
sees, the ego state and a collision flag: the simulator's true one, the dream's collision head above its
threshold (None when the checkpoint has no such head). Everything else (route, drivable area) is measured from
the pose by the caller, with one piece of code for both.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from drivedreamer_env.envs.config import DREAM_REWARD, DreamConfig
from drivedreamer_env.envs.starts import Start
from drivedreamer_env.sim.simulator import Simulator

WORLDS = ("dream", "sim")
COLLISION_EVENT = "collision"


@dataclass
class RowState:
    """What a world reports for one row after a reset or a step.

    Attributes:
        frame: uint8 (H, W, 3) the frame the planner sees.
        pose: rear-axle ``[x m, y m, heading rad]`` in the start scene's world frame.
        speed_mps: [m/s].
        yaw_rate_rps: [rad/s].
        collision: True / False, or None where the world cannot tell.
    """

    frame: np.ndarray
    pose: np.ndarray
    speed_mps: float
    yaw_rate_rps: float
    collision: bool | None


class World(Protocol):
    name: str
    dt_s: float

    def reset(self, starts: Sequence[Start], seeds: Sequence[int]) -> list[RowState]: ...

    def step(self, actions: np.ndarray) -> list[RowState]: ...


class SimWorld:
    """The simulator: one copy of each start's simulator (positioned at its last context frame) per row."""

    name = "sim"

    def __init__(self) -> None:
        self.sims: list[Simulator] = []
        self.dt_s = 0.1

    def reset(self, starts: Sequence[Start], seeds: Sequence[int]) -> list[RowState]:
        self.sims = []
        for start in starts:
            if start.sim is None:
                raise ValueError("the simulator world needs simulator starts (envs.starts.sim_start)")
            sim = copy.copy(start.sim)  # shares the read-only world and renderer, owns its state
            sim.state = start.sim.get_state()
            self.sims.append(sim)
        self.dt_s = self.sims[0].cfg.dt_s if self.sims else 0.1
        return [self._row(sim, start.frames[-1], sim.labels().collision) for sim, start in zip(self.sims, starts,
                                                                                              strict=True)]  # fmt: skip

    def step(self, actions: np.ndarray) -> list[RowState]:
        out = []
        for sim, action in zip(self.sims, actions, strict=True):
            result = sim.step(action)
            out.append(self._row(sim, result.frame, result.labels.collision))
        return out

    @staticmethod
    def _row(sim: Simulator, frame: np.ndarray, collision: bool) -> RowState:
        e = sim.state.ego
        return RowState(frame, np.array([e.x, e.y, e.yaw]), float(e.speed), float(e.yaw_rate), bool(collision))


class DreamWorld:
    """``WorldDreamerDrive-v0``'s native vector env, one sub-env per row, built for each batch size.

    The env's own termination is switched off (no deviation limit, no event threshold): the caller ends episodes
    by the same rule in both worlds. Collisions come from the event head named ``collision`` at
    ``event_threshold`` (the dream's default 0.5).
    """

    name = "dream"

    def __init__(self, settings: dict[str, Any] | None = None, event_threshold: float = DREAM_REWARD.event_threshold):
        self.settings = dict(settings or {})
        unknown = set(self.settings) - {"checkpoint", "device", "sampling_steps", "temperature", "guidance_scale",
                                        "decoding", "warp_remask", "context_frames"}  # fmt: skip
        if unknown:
            raise ValueError(f"unknown dream setting(s) {sorted(unknown)}; allowed: DreamConfig's model and sampler "
                             "fields (checkpoint, device, sampling_steps, temperature, guidance_scale, decoding, "
                             "warp_remask, context_frames)")  # fmt: skip
        self.event_threshold = float(event_threshold)
        self.env = None
        self.dt_s = 0.1

    def _env(self, rows: int):
        from drivedreamer_env.envs.world_dreamer import WorldDreamerDriveVectorEnv

        if self.env is None or self.env.num_envs != rows:
            reward = DREAM_REWARD.updated({"max_deviation_m": None, "event_threshold": float("inf")})
            config = DreamConfig(**self.settings, reward=reward, max_episode_steps=None)
            self.env = WorldDreamerDriveVectorEnv(num_envs=rows, config=config, autoreset_mode="disabled")
            self.dt_s = self.env.core.dt_s
        return self.env

    def reset(self, starts: Sequence[Start], seeds: Sequence[int]) -> list[RowState]:
        env = self._env(len(starts))
        frames, infos = env.reset(seed=[int(s) for s in seeds], options={"start": list(starts)})
        return self._rows(frames, infos)

    def step(self, actions: np.ndarray) -> list[RowState]:
        frames, _, _, _, infos = self.env.step(np.asarray(actions, np.float32))
        return self._rows(frames, infos)

    def _rows(self, frames: np.ndarray, infos: dict[str, Any]) -> list[RowState]:
        events = infos.get("events", {})
        probs = events.get(COLLISION_EVENT)
        return [
            RowState(frames[i], np.asarray(infos["pose"][i], np.float64), float(infos["speed"][i]),
                     float(infos["yaw_rate"][i]), None if probs is None else bool(probs[i] > self.event_threshold))
            for i in range(len(frames))
        ]  # fmt: skip


def make_world(name: str, dream_settings: dict[str, Any] | None = None) -> World:
    """``"sim"`` or ``"dream"`` (with the dream's model and sampler settings)."""
    if name == "sim":
        return SimWorld()
    if name == "dream":
        return DreamWorld(dream_settings)
    raise ValueError(f"unknown world {name!r}; expected one of {list(WORLDS)}")
