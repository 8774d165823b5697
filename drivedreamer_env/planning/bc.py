"""The behaviour-cloning planner: demonstrations from the simulator, and the trained network as a planner.

Demonstrations (DART-style): the oracle with steering noise drives simulator episodes (training seeds, apart from
the held-out evaluation starts), so the data shows the recoveries too; every frame is labelled with the clean
oracle's trajectory from that state. ``drivedreamer train planner`` records them and trains
:class:`~drivedreamer_env.models.planner_net.PlannerNet` (:mod:`drivedreamer_env.training.planner_module`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from drivedreamer_env.models.checkpoint import CONFIG, CheckpointError, load_state_strict, read_config
from drivedreamer_env.models.planner_net import COMMAND_NAMES, PlannerNet, PlannerNetConfig
from drivedreamer_env.planning.baselines import NoisyOracle, RouteOracle
from drivedreamer_env.planning.protocol import PlannerInput, Trajectory
from drivedreamer_env.training.planner_module import COMPONENT, Demonstrations

DEMO_SEED0 = 20_000  # demonstration episodes: not the world model's training seeds, not the evaluation starts
DEMO_NOISE = 0.2  # normalised steering std of the driving oracle


def load_bc_network(directory: str | Path) -> PlannerNet:
    """The planning network of checkpoint ``directory`` (``config.json`` ``planner`` + ``planner.safetensors``)."""
    from drivedreamer_env.config import ConfigError, from_dict

    directory = Path(directory)
    cfg = read_config(directory)
    if COMPONENT not in cfg:
        raise CheckpointError(f"{directory / CONFIG} has no {COMPONENT!r} section: not a planner checkpoint")
    try:
        net = PlannerNet(from_dict(PlannerNetConfig, cfg[COMPONENT], where=f"{directory / CONFIG}:{COMPONENT}"))
    except (ConfigError, ValueError, TypeError) as err:
        raise CheckpointError(str(err)) from err
    load_state_strict(net, directory / f"{COMPONENT}.safetensors", directory / CONFIG)
    return net.eval()


class BCPlanner:
    """Plans with a trained :class:`PlannerNet` from the frame, the ego speed and yaw rate, and the command."""

    def __init__(self, net: PlannerNet) -> None:
        self.net = net

    def plan(self, obs: PlannerInput) -> Trajectory:
        frame = torch.from_numpy(np.ascontiguousarray(obs.frame))[None]
        ego = torch.tensor([[obs.speed_mps, obs.yaw_rate_rps]], dtype=torch.float32)
        command = torch.tensor([COMMAND_NAMES.index(obs.command)])
        return Trajectory(self.net.predict(frame, ego, command)[0].double().numpy())


class _Demonstrator:
    """Drives like a noisy oracle and writes down, for every frame, what the clean oracle would plan."""

    def __init__(self, sink: list, episode: int, noise: float) -> None:
        self.sink, self.episode = sink, episode
        self.driver, self.expert = NoisyOracle(noise), RouteOracle()

    def reset(self, seed: int) -> None:
        self.driver.reset(seed)

    def plan(self, obs: PlannerInput):
        target = self.expert.plan(obs).poses
        self.sink.append((obs.frame, obs.speed_mps, obs.yaw_rate_rps, COMMAND_NAMES.index(obs.command), target,
                          self.episode))  # fmt: skip
        return self.driver.plan(obs)


def record_demonstrations(
    episodes: int, steps: int, seed0: int = DEMO_SEED0, noise: float = DEMO_NOISE, progress: bool = True
) -> Demonstrations:
    """``episodes`` simulator episodes of ``steps`` steps (seeds from ``seed0``) driven by the noisy oracle."""
    from tqdm.auto import tqdm

    from drivedreamer_env.planning.rollout import EpisodeSpec, run_episodes
    from drivedreamer_env.planning.starts import make_starts
    from drivedreamer_env.planning.worlds import SimWorld

    samples: list = []
    world = SimWorld()
    for k in tqdm(range(episodes), desc="demonstrations", disable=not progress):
        start = make_starts(1, seed0=seed0 + k)[0]
        spec = EpisodeSpec(lambda k=k: _Demonstrator(samples, k, noise), start, seed0 + k, route_length_m=1.0)
        run_episodes(world, [spec], steps, [seed0 + k])
    if not samples:
        raise ValueError("no demonstrations were recorded (episodes and steps must be >= 1)")
    frames, speed, yaw_rate, command, target, episode = zip(*samples, strict=True)
    return Demonstrations(
        frames=torch.from_numpy(np.stack(frames)),
        ego=torch.tensor(np.stack([speed, yaw_rate], -1), dtype=torch.float32),
        command=torch.tensor(command, dtype=torch.int64),
        target=torch.tensor(np.stack(target), dtype=torch.float32),
        episodes=torch.tensor(episode, dtype=torch.int64),
    )
