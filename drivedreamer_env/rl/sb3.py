"""The one place Stable-Baselines3 is imported; without it, an ``ImportError`` that says how to install it."""

from __future__ import annotations

INSTALL_HINT = "pip install 'drivedreamer-env[rl]'"

try:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList
    from stable_baselines3.common.logger import CSVOutputFormat, Logger
    from stable_baselines3.common.policies import ActorCriticPolicy, MultiInputActorCriticPolicy
    from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor
    from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(f"drivedreamer_env.rl needs stable-baselines3 (the 'rl' extra): {INSTALL_HINT}") from exc

__all__ = [
    "PPO", "ActorCriticPolicy", "BaseCallback", "CSVOutputFormat", "CallbackList", "DummyVecEnv", "Logger",
    "MultiInputActorCriticPolicy", "VecEnv", "VecEnvIndices", "VecEnvObs", "VecEnvStepReturn", "VecMonitor",
]  # fmt: skip
