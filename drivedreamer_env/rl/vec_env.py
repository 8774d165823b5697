"""An SB3 ``VecEnv`` over the native batched ``WorldDreamerDrive-v0``: every step is one world-model forward.

SB3's ``VecEnv`` API is not Gymnasium's ``VectorEnv``: ``step`` returns ``(obs, rewards, dones, infos)`` with
``dones = terminated | truncated`` and one info dict per sub-env, and a finished sub-env is reset in the same
step, its last observation in ``infos[i]["terminal_observation"]`` and ``infos[i]["TimeLimit.truncated"]`` set
when only the time limit ended it (what ``DummyVecEnv`` does). :class:`DreamVecEnv` drives
:class:`~drivedreamer_env.envs.world_dreamer.WorldDreamerDriveVectorEnv` in its ``same_step`` autoreset mode,
which has exactly those semantics, and translates its batched infos: a finished sub-env's ``infos[i]`` is its
final info, and the info of its new episode goes to ``reset_infos[i]`` (as ``DummyVecEnv`` keeps it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from drivedreamer_env.envs.config import DreamConfig
from drivedreamer_env.envs.world_dreamer import WorldDreamerDriveVectorEnv
from drivedreamer_env.rl.sb3 import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn


def unbatch_info(infos: dict[str, Any], i: int) -> dict[str, Any]:
    """Sub-env ``i``'s entries of a Gymnasium vector ``infos`` dict (the ``_key`` masks say which it has)."""
    out: dict[str, Any] = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get(f"_{key}")
        if mask is not None and not mask[i]:
            continue
        out[key] = unbatch_info(value, i) if isinstance(value, dict) else value[i]
    return out


class DreamVecEnv(VecEnv):
    """``num_envs`` dreams as one SB3 ``VecEnv`` (``PPO("MultiInputPolicy", DreamVecEnv(8, observation="dict"))``).

    Args:
        num_envs: sub-envs, stepped as one batch.
        config: the :class:`~drivedreamer_env.envs.config.DreamConfig` of every sub-env; ``**kwargs`` are its
            fields, applied over it (without a config, ``max_episode_steps`` defaults to the registered 400).
        keys: with ``observation="dict"``, the observation keys to keep (e.g. ``("image", "speed",
            "yaw_rate")``); None keeps them all.

    ``seed(s)`` seeds sub-env ``i`` with ``s + i`` at the next ``reset`` (SB3's convention, and the native env's).
    ``get_attr`` / ``set_attr`` / ``env_method`` reach the one native env that holds every sub-env, so
    ``set_attr`` and ``env_method`` take all indices or none.
    """

    def __init__(
        self,
        num_envs: int = 1,
        config: DreamConfig | None = None,
        keys: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.venv = WorldDreamerDriveVectorEnv(num_envs, config=config, autoreset_mode="same_step", **kwargs)
        space = self.venv.single_observation_space
        self.keys = None if keys is None else tuple(keys)
        if self.keys is not None:
            if not isinstance(space, spaces.Dict):
                raise ValueError(f"keys={list(self.keys)} needs observation='dict', the env observes the frame only")
            unknown = sorted(set(self.keys) - set(space.spaces))
            if unknown:
                raise ValueError(f"unknown observation key(s) {unknown}; the env has {list(space.spaces)}")
            space = spaces.Dict({k: space[k] for k in self.keys})
        self._actions: np.ndarray | None = None
        self._started = False
        super().__init__(num_envs, space, self.venv.single_action_space)

    # ------------------------------------------------------------------ observations
    def _select(self, obs: Any) -> Any:
        """An observation (batched or of one sub-env) restricted to ``keys``."""
        return obs if self.keys is None else {k: obs[k] for k in self.keys}

    # ------------------------------------------------------------------ the VecEnv API
    def reset(self) -> VecEnvObs:
        options = self._options[0]
        if any(o != options for o in self._options):
            raise ValueError("DreamVecEnv takes one set of reset options for all sub-envs (set_options(dict))")
        seeds = self._seeds if any(s is not None for s in self._seeds) else None
        obs, infos = self.venv.reset(seed=seeds, options=options or None)
        self.reset_infos = [unbatch_info(infos, i) for i in range(self.num_envs)]
        self._started = True
        self._reset_seeds()
        self._reset_options()
        return self._select(obs)

    def reset_one(self, index: int, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        """Restart sub-env ``index`` alone (the first call restarts all); returns its observation and info."""
        if not self._started:  # the native env's first reset must restart every sub-env
            self.reset()
        seeds = [seed if i == index else None for i in range(self.num_envs)]
        mask = np.arange(self.num_envs) == index
        obs, infos = self.venv.reset(seed=seeds, options={**(options or {}), "reset_mask": mask})
        self.reset_infos[index] = unbatch_info(infos, index)
        row = {k: v[index] for k, v in obs.items()} if isinstance(obs, dict) else obs[index]
        return self._select(row), dict(self.reset_infos[index])

    def sub_env(self, index: int) -> SubEnv:
        """Sub-env ``index`` as a ``gym.Env`` (for checkers such as SB3's ``check_env``; see :class:`SubEnv`)."""
        return SubEnv(self, index)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async(actions)")
        obs, rewards, terminated, truncated, infos = self.venv.step(self._actions)
        self._actions = None
        dones = terminated | truncated
        step_infos: list[dict[str, Any]] = []
        for i in range(self.num_envs):
            now = unbatch_info(infos, i)
            if dones[i]:  # already reset (same step): report the episode's end, keep the new start's info
                final_obs, final_info = now.pop("final_obs"), now.pop("final_info")
                self.reset_infos[i] = now
                now = {**final_info, "terminal_observation": self._select(final_obs)}
            now["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            step_infos.append(now)
        return self._select(obs), rewards.astype(np.float32), dones, step_infos

    def close(self) -> None:
        self.venv.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        images = self.venv.render()
        return [None] * self.num_envs if images is None else list(images)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self.venv, attr_name)
        return [value for _ in self._get_indices(indices)]

    def _all(self, indices: VecEnvIndices, what: str) -> None:
        if sorted(self._get_indices(indices)) != list(range(self.num_envs)):
            raise ValueError(f"DreamVecEnv.{what} acts on the one native env of every sub-env: give all indices")

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._all(indices, "set_attr")
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kwargs: Any) -> list:
        self._all(indices, "env_method")
        result = getattr(self.venv, method_name)(*method_args, **kwargs)
        return [result] * self.num_envs

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]  # the sub-envs are rows of one env, never wrapped


class SubEnv(gym.Env):
    """One sub-env of a :class:`DreamVecEnv` seen as a ``gym.Env``, through the adapter's own outputs.

    ``reset`` restarts this sub-env alone; ``step`` steps the whole batch (the other sub-envs repeat their last
    action) and returns this sub-env's part of SB3's step: its observation (on the last step of an episode the
    ``terminal_observation``), reward, ``terminated`` / ``truncated`` (from ``TimeLimit.truncated``) and info.
    """

    def __init__(self, venv: DreamVecEnv, index: int) -> None:
        if not 0 <= index < venv.num_envs:
            raise ValueError(f"sub-env index must be in [0, {venv.num_envs}), got {index}")
        self.venv, self.index = venv, index
        self.observation_space, self.action_space = venv.observation_space, venv.action_space
        self.render_mode = venv.render_mode
        self._actions = np.zeros((venv.num_envs, *venv.action_space.shape), venv.action_space.dtype)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        return self.venv.reset_one(self.index, seed, options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self._actions[self.index] = action
        obs, rewards, dones, infos = self.venv.step(self._actions)
        i, info = self.index, infos[self.index]
        truncated = bool(info["TimeLimit.truncated"])
        if dones[i]:
            return info["terminal_observation"], float(rewards[i]), not truncated, truncated, info
        mine = {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]
        return mine, float(rewards[i]), False, False, info
