"""Gymnasium registration of every environment the package provides."""

from __future__ import annotations

import gymnasium as gym

ENV_IDS = ("ProcDrive-v0",)


def register_envs() -> None:
    """Register the package's environments (idempotent)."""
    if "ProcDrive-v0" not in gym.registry:
        gym.register(
            id="ProcDrive-v0",
            entry_point="drivedreamer_env.sim.env:ProcDriveEnv",
            max_episode_steps=400,
        )
