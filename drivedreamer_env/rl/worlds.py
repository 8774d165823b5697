"""The two worlds a policy trains in, as SB3 ``VecEnv`` s with the same observation and the same starts.

Both observe :data:`~drivedreamer_env.rl.config.POLICY_KEYS` (frame, speed, yaw rate; ``observation="dict"``
without the pose, whose origin differs between the worlds), take ``[steering, speed]`` actions and truncate at
``max_episode_steps``, the dream at ``dream_max_episode_steps`` when that is set; the frame has the world model's
resolution in both. ``VecMonitor`` records each episode's return and length in ``info["episode"]``.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
from gymnasium.wrappers import FilterObservation

from drivedreamer_env.envs.config import DREAM_REWARD, DreamConfig
from drivedreamer_env.models.checkpoint import read_config
from drivedreamer_env.models.world_model import DEFAULT_CHECKPOINT
from drivedreamer_env.rl.config import POLICY_KEYS, PolicyTrainConfig
from drivedreamer_env.rl.sb3 import DummyVecEnv, VecEnv, VecMonitor
from drivedreamer_env.rl.vec_env import DreamVecEnv
from drivedreamer_env.sim.config import SimConfig


def world_resolution(checkpoint: str | Path | None) -> tuple[int, int]:
    """(height, width) [px] of a world-model checkpoint's frames (None = the shipped model), from its config."""
    tok = read_config(checkpoint if checkpoint is not None else DEFAULT_CHECKPOINT)["tokenizer"]
    return int(tok["height"]), int(tok["width"])


def dream_config(cfg: PolicyTrainConfig) -> DreamConfig:
    """The dream every sub-env runs: the run's checkpoint, device and MaskGIT steps, dict observations, the dream's
    reward with the run's deviation limit."""
    reward = DREAM_REWARD.updated({"max_deviation_m": cfg.dream_max_deviation_m})
    return DreamConfig(checkpoint=cfg.checkpoint, device=cfg.device, sampling_steps=cfg.sampling_steps,
                       observation="dict", max_episode_steps=cfg.dream_max_episode_steps or cfg.max_episode_steps,
                       start_offset_m=cfg.start_offset_m, start_heading_rad=cfg.start_heading_rad,
                       start_drive_s=cfg.start_drive_s, reward=reward)  # fmt: skip


def make_sim_env(
    height: int, width: int, max_episode_steps: int = 400, start_offset_m: float = 0.0, start_heading_rad: float = 0.0
) -> gym.Env:
    """``ProcDrive-v0`` rendering ``height`` x ``width`` frames, observing :data:`POLICY_KEYS`, its episodes
    starting with the given jitter (``SimConfig.start_offset_m`` / ``start_heading_rad``)."""
    config = SimConfig(start_offset_m=start_offset_m, start_heading_rad=start_heading_rad)
    env = gym.make("ProcDrive-v0", config=config, width=width, height=height, observation="dict",
                   max_episode_steps=max_episode_steps)  # fmt: skip
    return FilterObservation(env, list(POLICY_KEYS))


def make_world(cfg: PolicyTrainConfig) -> VecEnv:
    """``cfg.num_envs`` sub-envs of ``cfg.world`` under ``VecMonitor`` (seed them with ``VecEnv.seed``)."""
    if cfg.world == "dream":
        venv: VecEnv = DreamVecEnv(cfg.num_envs, config=dream_config(cfg), keys=POLICY_KEYS)
    else:
        h, w = world_resolution(cfg.checkpoint)
        jitter = cfg.start_offset_m, cfg.start_heading_rad
        venv = DummyVecEnv([lambda: make_sim_env(h, w, cfg.max_episode_steps, *jitter) for _ in range(cfg.num_envs)])
    return VecMonitor(venv)
