"""Reinforcement learning in the dream and in the simulator, with Stable-Baselines3 (the ``rl`` extra).

* :mod:`~drivedreamer_env.rl.vec_env`: :class:`DreamVecEnv`, an SB3 ``VecEnv`` over the native batched
  ``WorldDreamerDrive-v0`` (one world-model forward for all sub-envs per step, SB3's autoreset convention);
* :mod:`~drivedreamer_env.rl.worlds`: the policy's observation and the two training worlds, ``dream`` and ``sim``;
* :mod:`~drivedreamer_env.rl.train`: ``drivedreamer train policy`` (PPO, seeded, checkpoints, resume, logs, curve);
* :mod:`~drivedreamer_env.rl.checkpoint`: policies as safetensors + JSON (never a pickle);
* :mod:`~drivedreamer_env.rl.evaluate`: ``drivedreamer eval policy`` on held-out simulator seeds, and the
  random and lane-keeper references.

``stable_baselines3`` is imported only by the modules that need it (through :mod:`drivedreamer_env.rl.sb3`), so
``import drivedreamer_env.rl`` works without it; using them without it is an ``ImportError`` that names the extra.
"""
