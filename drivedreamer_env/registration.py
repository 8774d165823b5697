"""Gymnasium registration of every environment the package provides."""

from __future__ import annotations

import gymnasium as gym

ENV_IDS = ("ProcDrive-v0", "WorldDreamerDrive-v0")


def register_envs() -> None:
    """Register the package's environments (idempotent)."""
    if "ProcDrive-v0" not in gym.registry:
        gym.register(
            id="ProcDrive-v0",
            entry_point="drivedreamer_env.sim.env:ProcDriveEnv",
            max_episode_steps=400,
        )
    if "WorldDreamerDrive-v0" not in gym.registry:
        # kwargs: the fields of drivedreamer_env.envs.config.DreamConfig (checkpoint, device, sampling_steps,
        # temperature, guidance_scale, context_frames, start, text, observation, reward, max_episode_steps,
        # render_mode) plus reward_weights, or config=DreamConfig(...); the vector env also num_envs and
        # autoreset_mode. The weights load lazily, on construction.
        gym.register(
            id="WorldDreamerDrive-v0",
            entry_point="drivedreamer_env.envs.world_dreamer:WorldDreamerDriveEnv",
            vector_entry_point="drivedreamer_env.envs.world_dreamer:WorldDreamerDriveVectorEnv",
            max_episode_steps=400,
        )
