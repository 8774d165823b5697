"""``drivedreamer eval policy``: drive a controller for N episodes on held-out simulator seeds, in the sim or the dream.

Held out: the episode seeds are ``EVAL_SEED_BASE + k``, above every world seed the training envs draw
([0, 2**31 - 1)) and above the world model's training and evaluation seeds. In ``sim`` the seed is the
``ProcDrive-v0`` world (``reset(options={"episode_seed": s})``), in ``dream`` the simulator scene the dream starts
from (``start=s``). Per episode: the return (the world's own reward), the route completion (progress along the
start lane over :data:`ROUTE_LENGTH_M`, capped at 1), and whether it ended off the road or in a collision (in
the dream: the event head above its termination threshold). Confidence intervals are Student-t 95 % intervals
over episodes; margins between two controllers are paired by seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from drivedreamer_env.envs.config import DreamConfig
from drivedreamer_env.envs.world_dreamer import WorldDreamerDriveVectorEnv
from drivedreamer_env.rl.config import EVAL_SEED_BASE, POLICY_KEYS
from drivedreamer_env.rl.controllers import Controller
from drivedreamer_env.rl.worlds import make_sim_env, world_resolution
from drivedreamer_env.sim.policies import LANE_KEEPER_SPEED_MPS

MAX_EPISODE_STEPS = 400  # both worlds' registered horizon (40 s)
COLLISION_KINDS = ("oncoming", "ahead", "behind", "object")  # what Simulator.collided_with names
ROUTE_LENGTH_M = LANE_KEEPER_SPEED_MPS * MAX_EPISODE_STEPS * 0.1  # 320 m: the start speed held for 40 s


def held_out_seeds(episodes: int, start: int = EVAL_SEED_BASE) -> list[int]:
    """The episode seeds of an evaluation: ``start, start + 1, ...``."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    return [start + k for k in range(episodes)]


@dataclass(frozen=True)
class EpisodeResult:
    """One evaluation episode.

    Attributes:
        seed: its held-out seed.
        ret: undiscounted return, in the world's reward.
        steps: its length [steps of 0.1 s].
        progress_m: distance along the road / route since the start [m].
        route_completion: ``progress_m / ROUTE_LENGTH_M`` clipped to [0, 1].
        off_road, collision: how it ended (False for both when it ran to the horizon).
        terminated: it ended before the horizon.
        collision_with: in the sim, what a collision hit: "oncoming" traffic, same-direction traffic "ahead" or
            "behind", or an "object" by the road (:meth:`~drivedreamer_env.sim.simulator.Simulator.collided_with`);
            None without one and in the dream.
        mean_abs_lane_offset_m: the mean |offset| from the lane centre (the dream: the route) over its steps [m].
    """

    seed: int
    ret: float
    steps: int
    progress_m: float
    route_completion: float
    off_road: bool
    collision: bool
    terminated: bool
    collision_with: str | None = None
    mean_abs_lane_offset_m: float | None = None


def mean_ci95(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean and the half-width of its Student-t 95 % interval (None for fewer than 2 values)."""
    x = np.asarray(values, np.float64)
    if len(x) < 2:
        return float(x.mean()), None
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return float(x.mean()), half


@dataclass
class Evaluation:
    """A controller's episodes in one world."""

    world: str
    controller: str
    episodes: list[EpisodeResult]

    def returns(self) -> np.ndarray:
        return np.array([e.ret for e in self.episodes])

    def summary(self) -> dict[str, Any]:
        """The aggregates: mean return with its 95 % interval, route completion, off-road and collision rates."""
        mean, half = mean_ci95(self.returns())
        e = self.episodes
        return {
            "world": self.world, "controller": self.controller, "episodes": len(e),
            "mean_return": round(mean, 4), "return_ci95": None if half is None else round(half, 4),
            "route_completion": round(float(np.mean([x.route_completion for x in e])), 4),
            "off_road_rate": round(float(np.mean([x.off_road for x in e])), 4),
            "collision_rate": round(float(np.mean([x.collision for x in e])), 4),
            "mean_steps": round(float(np.mean([x.steps for x in e])), 2),
            "collisions_with": {k: sum(x.collision_with == k for x in e) for k in COLLISION_KINDS},
            "mean_abs_lane_offset_m": _mean_known([x.mean_abs_lane_offset_m for x in e]),
        }  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "per_episode": [dataclasses.asdict(x) for x in self.episodes]}


def paired_margin(a: Evaluation, b: Evaluation) -> dict[str, Any]:
    """``a``'s return minus ``b``'s on the same seeds: the mean and its 95 % interval."""
    if [x.seed for x in a.episodes] != [x.seed for x in b.episodes]:
        raise ValueError("a paired margin needs both evaluations on the same seeds, in the same order")
    mean, half = mean_ci95(a.returns() - b.returns())
    ci = None if half is None else [round(mean - half, 4), round(mean + half, 4)]
    return {"mean": round(mean, 4), "ci95": ci, "episodes": len(a.episodes)}


def _mean_known(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(float(np.mean(known)), 4) if known else None


def _completion(progress_m: float) -> float:
    return float(np.clip(progress_m / ROUTE_LENGTH_M, 0.0, 1.0))


def evaluate_in_sim(
    controller: Controller, seeds: Sequence[int], height: int, width: int, max_episode_steps: int = MAX_EPISODE_STEPS
) -> Evaluation:
    """Drive ``controller`` in ``ProcDrive-v0`` (``height`` x ``width`` frames) for one episode per seed."""
    env = make_sim_env(height, width, max_episode_steps)
    episodes = []
    for seed in seeds:
        obs, info = env.reset(seed=int(seed), options={"episode_seed": int(seed)})
        controller.start(env.unwrapped.sim)
        ret, terminated, truncated, offsets = 0.0, False, False, []
        while not (terminated or truncated):
            action = controller.act({k: v[None] for k, v in obs.items()})[0]
            obs, reward, terminated, truncated, info = env.step(action)
            ret += float(reward)
            offsets.append(abs(info["lane_offset"]))
        hit = env.unwrapped.sim.collided_with() if info["collision"] else None
        episodes.append(EpisodeResult(int(seed), ret, int(info["step"]), float(info["distance"]),
                                      _completion(info["distance"]), bool(info["off_road"]), bool(info["collision"]),
                                      bool(terminated), hit, float(np.mean(offsets))))  # fmt: skip
    env.close()
    return Evaluation("sim", controller.name, episodes)


def evaluate_in_dream(
    controller: Controller, seeds: Sequence[int], config: DreamConfig, num_envs: int = 8
) -> Evaluation:
    """Drive ``controller`` in the dream from the simulator scene of each seed, ``num_envs`` episodes at a time.

    Each episode's sampler is seeded with its scene seed, so its sampling noise does not depend on the batch it
    ran in (its frames may still differ in the last bits of the batched arithmetic).
    """
    controller.start(None)
    config = dataclasses.replace(config, observation="dict")
    threshold = config.reward.event_threshold
    seeds = [int(s) for s in seeds]
    k = min(num_envs, len(seeds))
    venv = WorldDreamerDriveVectorEnv(k, config=config, autoreset_mode="disabled")
    pending = list(range(len(seeds)))  # episodes not started yet, by index into seeds
    row_episode: list[int | None] = [None] * k  # the episode each row runs (None: idle, its results ignored)
    ret, offsets = np.zeros(k), np.zeros(k)  # the return and the sum of |deviation| so far, per row
    results: list[EpisodeResult | None] = [None] * len(seeds)

    def start(i: int, first: bool = False) -> Any:
        """Start the next pending episode in row ``i`` (every row on the first call), or idle it on a repeat."""
        row_episode[i] = pending.pop(0) if pending else None
        seed = seeds[row_episode[i] if row_episode[i] is not None else -1]
        ret[i] = offsets[i] = 0.0
        if first:
            return venv.reset(seed=[seed] * k, options={"start": seed})[0]
        row_seeds = [seed if j == i else None for j in range(k)]
        return venv.reset(seed=row_seeds, options={"start": seed, "reset_mask": np.arange(k) == i})[0]

    obs = start(0, first=True)
    for i in range(1, k):
        obs = start(i)
    while any(e is not None for e in row_episode):
        action = controller.act({key: obs[key] for key in POLICY_KEYS})
        obs, reward, terminated, truncated, info = venv.step(action)
        ret += reward
        offsets += np.abs(info["deviation"])
        for i in np.flatnonzero(terminated | truncated):
            episode = row_episode[i]
            if episode is not None:
                progress = float(info["progress"][i])
                events = {name: float(p[i]) for name, p in info["events"].items()}
                results[episode] = EpisodeResult(
                    seeds[episode], float(ret[i]), int(info["step"][i]), progress, _completion(progress),
                    events.get("off_road", 0.0) > threshold, events.get("collision", 0.0) > threshold,
                    bool(terminated[i]), None, float(offsets[i] / max(int(info["step"][i]), 1)),
                )  # fmt: skip
            obs = start(int(i))
    venv.close()
    return Evaluation("dream", controller.name, results)


def evaluate_controller(
    controller: Controller,
    world: str,
    seeds: Sequence[int],
    dream: DreamConfig | None = None,
    num_envs: int = 8,
    resolution: tuple[int, int] | None = None,
) -> Evaluation:
    """Evaluate ``controller`` in ``world`` ("sim" or "dream") on ``seeds``.

    Args:
        controller: what drives.
        world: "sim" (``ProcDrive-v0``) or "dream" (``WorldDreamerDrive-v0`` with ``dream``'s settings).
        seeds: held-out episode seeds (:func:`held_out_seeds`).
        dream: the dream's settings (default ``DreamConfig()``); its checkpoint also sets the sim's frame size.
        num_envs: dream episodes run as one batch.
        resolution: the frames (height, width) the controller expects, checked against the world's.
    """
    dream = dream or DreamConfig()
    height, width = world_resolution(dream.checkpoint)
    if resolution is not None and tuple(resolution) != (height, width):
        model = dream.checkpoint or "(shipped)"
        raise ValueError(f"the policy observes {resolution[0]}x{resolution[1]} frames, the world model {model} "
                         f"renders {height}x{width}: give the policy's --checkpoint")  # fmt: skip
    if world == "sim":
        return evaluate_in_sim(controller, seeds, height, width, dream.max_episode_steps or MAX_EPISODE_STEPS)
    if world == "dream":
        if dream.max_episode_steps is None:
            dream = dataclasses.replace(dream, max_episode_steps=MAX_EPISODE_STEPS)
        return evaluate_in_dream(controller, seeds, dream, num_envs)
    raise ValueError(f"world must be 'sim' or 'dream', got {world!r}")
