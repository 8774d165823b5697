"""``WorldDreamerDrive-v0``: drive the learned world model as a Gymnasium environment.

Action ``Box(-1, 1, (2,), float32)`` = ``[steering, speed]``, the same as ``ProcDrive-v0``:

* steering: road-wheel angle ``steering * 0.5 rad`` (28.6 deg), +1 = full left, reached at most at 0.8 rad/s;
* speed: target speed ``(speed + 1) / 2 * 20 m/s``, reached with at most 3 m/s^2 acceleration, 6 m/s^2 braking.

Actions outside [-1, 1] are clipped; NaN / inf or a wrong shape raise ``ValueError``. The units module converts
the command into the kinematic bicycle model's new state, whose ``[speed m/s, yaw_rate rad/s]`` is the canonical
action the world model is conditioned on.

Observation: the dreamt frame, uint8 ``(H, W, 3)`` (64 x 128 for the shipped model); with
``observation="dict"``: ``{"image", "speed" (1,), "yaw_rate" (1,), "pose" (3,) = x, y, heading}``.

Episodes start (``reset``) from ``options["start"]`` or the ``start`` kwarg: None = a simulator scene rendered
for the seed (its caption is the text), an int seed or scenario dict (``seed, lane, speed, time_of_day,
weather, area``), a :class:`~drivedreamer_env.data.clip.Clip`, or an image (array or path) with
``options["text"]``. An image start repeats the image's tokens as the whole context under a stopped-ego
action history, so the first observation is exactly the tokenizer's reconstruction of the image and nothing is
dreamt before the first action (:func:`~drivedreamer_env.envs.starts.image_start`); a clip shorter than the
context has its missing frames dreamt from its first ones (image-to-video).

Settings: :class:`~drivedreamer_env.envs.config.DreamConfig`, passed whole (``config=``) or as keyword arguments.

Reward: :mod:`drivedreamer_env.sim.rewards` (the definition ProcDrive-v0 uses too) with
:data:`~drivedreamer_env.envs.config.DREAM_REWARD` (progress along the route minus deviation, heading, comfort
and event penalties). Termination: ``|deviation| > max_deviation_m`` or an event probability above
``event_threshold``. ``max_episode_steps`` (registered: 400 = 40 s) truncates. ``info``: pose, speed,
yaw rate, steer, progress, deviation, heading error, step, event probabilities, text.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from drivedreamer_env.envs.config import DreamConfig
from drivedreamer_env.envs.core import DreamCore
from drivedreamer_env.envs.hud import draw_hud
from drivedreamer_env.envs.starts import Start, make_start
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.sim.actions import action_space, validate_actions
from drivedreamer_env.sim.config import SimConfig
from drivedreamer_env.sim.observations import dict_observation, observation_space

RENDER_FPS = 10
VECTOR_MAX_EPISODE_STEPS = 400  # the vector env's own truncation when built without a config (= the registered)
START_OPTION_KEYS = ("start", "text", "clip", "image", "scenario")


@functools.lru_cache(maxsize=4)
def _load(checkpoint: str | None, device: str) -> WorldModel:
    return WorldModel.load(checkpoint, device=device)


def load_world_model(checkpoint: str | Path | None = None, device: str = "auto") -> WorldModel:
    """Load (once per process) the checkpoint directory; None = the shipped default model."""
    return _load(None if checkpoint is None else str(Path(checkpoint).resolve()), device)


def _observation_space(wm: WorldModel, observation: str) -> spaces.Space:
    return observation_space(*wm.resolution, observation)  # ProcDrive-v0's, at the model's resolution


def _start_from_options(options: dict | None, default: Any) -> tuple[Any, str | None]:
    options = dict(options or {})
    unknown = set(options) - set(START_OPTION_KEYS) - {"reset_mask"}
    if unknown:
        raise ValueError(f"unknown reset option(s) {sorted(unknown)}; allowed: {list(START_OPTION_KEYS)}")
    given = [k for k in ("start", "clip", "image", "scenario") if k in options]
    if len(given) > 1:
        raise ValueError(f"give one of 'start', 'clip', 'image', 'scenario' in reset options, got {given}")
    spec = options[given[0]] if given else default
    return spec, options.get("text")


def _autoreset_mode(mode: str | AutoresetMode) -> AutoresetMode:
    if isinstance(mode, AutoresetMode):
        return mode
    names = {m.name.lower(): m for m in AutoresetMode} | {m.value.lower(): m for m in AutoresetMode}
    if str(mode).lower() not in names:
        raise ValueError(f"autoreset_mode must be one of 'next_step', 'same_step', 'disabled', got {mode!r}")
    return names[str(mode).lower()]


class _DreamSettings:
    """What the single and the vector environment share: a :class:`DreamConfig`, the model and the core."""

    def _setup(self, config: DreamConfig, batch: int) -> None:
        self.config = config
        self.wm = load_world_model(config.checkpoint, config.device)
        self.sampler = self.wm.sampler(steps=config.sampling_steps, temperature=config.temperature,
                                       guidance_scale=config.guidance_scale, decoding=config.decoding,
                                       warp_remask=config.warp_remask)  # fmt: skip
        ctx = config.context_frames or self.wm.stpt.cfg.context_frames
        # one env step is one model frame: a checkpoint trained on a longer frame interval (frame_stride) steps
        # the ego kinematics and the simulator starts at its period
        dt_s = self.wm.frame_dt_s or SimConfig().dt_s
        self.core = DreamCore(self.wm, self.sampler, batch, ctx, config.reward, dt_s=dt_s)
        self.render_mode = config.render_mode  # the attribute Gymnasium's wrappers read
        self._window = None

    def _make_start(self, spec: Any, text: str | None, rng: np.random.Generator) -> Start:
        jitter = SimConfig(start_offset_m=self.config.start_offset_m, start_heading_rad=self.config.start_heading_rad)
        core, drive_s = self.core, self.config.start_drive_s
        return make_start(spec, self.wm.resolution, core.context_frames, text, rng, core.dt_s, jitter, drive_s)

    def _obs(self, i: int) -> Any:
        if self.config.observation == "rgb":
            return self.core.frames[i].copy()
        e = self.core.rows[i].ego
        return dict_observation(self.core.frames[i], e.speed, e.yaw_rate, e.x, e.y, e.yaw)  # copies the frame

    def _hud(self, i: int) -> np.ndarray:
        row = self.core.rows[i]
        if row is None:
            raise RuntimeError("call reset() before render()")
        return draw_hud(
            self.core.frames[i], float(row.action[0]), row.ego.speed, row.steps, self.core.info(i)["events"]
        )

    def _show(self, image: np.ndarray) -> None:
        try:
            import pygame
        except ImportError as exc:
            raise ImportError(
                "render_mode='human' needs pygame: pip install 'drivedreamer-env[play]'"
            ) from exc  # fmt: skip
        if self._window is None:
            pygame.display.init()
            self._window = pygame.display.set_mode((image.shape[1], image.shape[0]))
            pygame.display.set_caption("WorldDreamerDrive-v0")
        self._window.blit(pygame.surfarray.make_surface(image.swapaxes(0, 1)), (0, 0))
        pygame.event.pump()
        pygame.display.flip()

    def _close_window(self) -> None:
        if self._window is not None:
            import pygame

            pygame.display.quit()
            self._window = None


class WorldDreamerDriveEnv(_DreamSettings, gym.Env):
    """One dream.

    Args:
        config: the full :class:`~drivedreamer_env.envs.config.DreamConfig` (default ``DreamConfig()``).
        **kwargs: its fields, applied over ``config``: ``checkpoint``, ``device``, ``sampling_steps`` (default:
            the checkpoint's), ``temperature``, ``guidance_scale``, ``context_frames``, ``start`` (see the module
            docstring), ``text``, ``observation``, ``reward`` or ``reward_weights`` (overrides of its fields),
            ``max_episode_steps`` (``gym.make`` applies its own TimeLimit instead), ``render_mode``
            ("rgb_array": upscaled frame with HUD, "human": pygame window). An unknown key is an error.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array", "human"], "render_fps": RENDER_FPS}

    def __init__(self, config: DreamConfig | None = None, **kwargs: Any) -> None:
        self._setup(DreamConfig.from_dict(kwargs, base=config), batch=1)
        self.observation_space = _observation_space(self.wm, self.config.observation)
        self.action_space = action_space()
        self.start: Start | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        spec, text = _start_from_options(options, self.config.start)
        self.start = self._make_start(spec, text if text is not None else self.config.text, self.np_random)
        self.core.start_rows([0], [self.start], [int(self.np_random.integers(0, 2**63 - 1))])
        info = self.core.info(0)
        info["start"] = self.start.info
        return self._obs(0), info

    def step(self, action):
        if self.core.rows[0] is None:
            raise RuntimeError("call reset() before step()")
        a = validate_actions(action, 1)
        _, reward, terminated = self.core.step(a)
        steps, limit = self.core.rows[0].steps, self.config.max_episode_steps
        truncated = limit is not None and steps >= limit and not terminated[0]
        if self.render_mode == "human":
            self._show(self._hud(0))
        return self._obs(0), float(reward[0]), bool(terminated[0]), bool(truncated), self.core.info(0)

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        image = self._hud(0)
        if self.render_mode == "human":
            self._show(image)
            return None
        return image

    def close(self) -> None:
        self._close_window()
        super().close()

    # ------------------------------------------------------------------ counterfactuals
    def get_state(self) -> dict[str, Any]:
        """A deep copy of the full state: KV cache, context, ego, route progress, sampler and env RNGs."""
        if self.core.rows[0] is None:
            raise RuntimeError("call reset() before get_state()")
        return {"core": self.core.select([0]), "np_random": copy.deepcopy(self.np_random), "start": self.start}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`get_state` (it stays reusable)."""
        self.core = state["core"].select([0])
        self._np_random = copy.deepcopy(state["np_random"])
        self.start = state["start"]

    def fork(self) -> WorldDreamerDriveEnv:
        """A new environment in exactly this state; both can then be stepped independently."""
        new = copy.copy(self)
        new._window = None
        new.set_state(self.get_state())
        return new

    def dream_branches(
        self, actions: np.ndarray, steps: int, on_step: Callable[[], object] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Dream one branch per row of ``actions`` from the current state, all rows as one batch.

        The branches run on copies of the state (KV cache, ego, RNGs), so this environment is left as it was.

        Args:
            actions: (B, 2) normalised ``[steering, speed]`` held by branch b for every step (clipped to [-1, 1]).
            steps: steps to dream.
            on_step: called once after each batched step (progress bars).

        Returns:
            frames (B, steps + 1, H, W, 3) uint8, the first being the current frame, and poses
            (B, steps + 1, 3) ``[x m, y m, heading rad]``.
        """
        if self.core.rows[0] is None:
            raise RuntimeError("call reset() before dream_branches()")
        a = validate_actions(actions, len(actions))
        core = self.core.select([0] * len(a))
        frames = [np.repeat(self.core.frames[:1], len(a), axis=0)]
        poses = [np.stack([self.core.info(0)["pose"]] * len(a))]
        for _ in range(steps):
            frames.append(core.step(a)[0])
            poses.append(np.stack([core.info(b)["pose"] for b in range(len(a))]))
            if on_step is not None:
                on_step()
        return np.stack(frames, axis=1), np.stack(poses, axis=1)


class WorldDreamerDriveVectorEnv(_DreamSettings, VectorEnv):
    """``num_envs`` dreams stepped as one batch (``gym.make_vec("WorldDreamerDrive-v0", num_envs=N)``).

    ``reset(options={"start": [spec_0, ..., spec_N-1]})`` gives every sub-env its own start (any form a single
    env takes, or a prepared :class:`~drivedreamer_env.envs.starts.Start`).

    Takes ``config`` and the keyword arguments of :class:`WorldDreamerDriveEnv` (``max_episode_steps``
    defaults to 400 when no config is given) plus ``num_envs`` and ``autoreset_mode``
    ("next_step", the Gymnasium default, "same_step" or "disabled"), implemented as Gymnasium 1.x specifies:
    with ``next_step`` a finished sub-env is reset by the following ``step`` (its action ignored, reward 0);
    with ``same_step`` it is reset at once and the final observation / info are in ``info["final_obs"]`` /
    ``info["final_info"]``; with ``disabled`` the caller resets it via ``reset(options={"reset_mask": m})``.
    Each sub-env has its own RNG (seeded ``seed + i``) and sampler generator, so its results do not depend on
    the others.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["rgb_array", "human"], "render_fps": RENDER_FPS, "autoreset_mode": AutoresetMode.NEXT_STEP,
    }  # fmt: skip

    def __init__(
        self,
        num_envs: int = 1,
        config: DreamConfig | None = None,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        **kwargs: Any,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if config is None:
            kwargs.setdefault("max_episode_steps", VECTOR_MAX_EPISODE_STEPS)
        self._setup(DreamConfig.from_dict(kwargs, base=config), batch=num_envs)
        self.num_envs = num_envs
        self.autoreset_mode = _autoreset_mode(autoreset_mode)
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        self.single_observation_space = _observation_space(self.wm, self.config.observation)
        self.single_action_space = action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._rngs = [np.random.default_rng() for _ in range(num_envs)]
        self._done = np.zeros(num_envs, bool)

    def _restart(self, rows: list[int], options: dict | None) -> None:
        spec, text = _start_from_options(options, self.config.start)
        text = text if text is not None else self.config.text
        if isinstance(spec, (list, tuple)):  # one start per sub-env; a masked reset uses the rows' own
            if len(spec) != self.num_envs:
                raise ValueError(f"a list of starts needs one per sub-env ({self.num_envs}), got {len(spec)}")
            starts = [self._make_start(spec[i], text, self._rngs[i]) for i in rows]
        else:
            starts = [self._make_start(spec, text, self._rngs[i]) for i in rows]
        seeds = [int(self._rngs[i].integers(0, 2**63 - 1)) for i in rows]
        self.core.start_rows(rows, starts, seeds)
        self._done[rows] = False

    def _batch_obs(self) -> Any:
        if self.config.observation == "rgb":
            return self.core.frames.copy()
        obs = [self._obs(i) for i in range(self.num_envs)]
        return {k: np.stack([o[k] for o in obs]) for k in obs[0]}

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        seeds = [None] * self.num_envs if seed is None else seed
        if isinstance(seeds, int):
            seeds = [seeds + i for i in range(self.num_envs)]
        if len(seeds) != self.num_envs:
            raise ValueError(f"seed list must have num_envs={self.num_envs} entries, got {len(seeds)}")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is None:
            rows = list(range(self.num_envs))
        else:
            mask = np.asarray(mask)
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_ or not mask.any():
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},) with a True")
            if self.core.rows[0] is None and not mask.all():
                raise ValueError("the first reset must reset every sub-env (no reset_mask, or all True)")
            rows = [int(i) for i in np.flatnonzero(mask)]
        for i in rows:
            if seeds[i] is not None:
                self._rngs[i] = np.random.default_rng(seeds[i])
        self._restart(rows, options)
        infos: dict[str, Any] = {}
        for i in rows:
            infos = self._add_info(infos, self.core.info(i), i)
        return self._batch_obs(), infos

    def step(self, actions):
        if self.core.rows[0] is None:
            raise RuntimeError("call reset() before step()")
        a = validate_actions(actions, self.num_envs)
        mode = self.autoreset_mode
        if mode == AutoresetMode.DISABLED and self._done.any():
            raise RuntimeError(
                f"sub-envs {np.flatnonzero(self._done).tolist()} finished: with autoreset_mode='disabled' reset them "
                f"with reset(options={{'reset_mask': mask}}) before stepping"
            )
        pending = np.flatnonzero(self._done).tolist() if mode == AutoresetMode.NEXT_STEP else []
        _, rewards, terminated = self.core.step(a)
        steps = np.array([row.steps for row in self.core.rows])
        limit = self.config.max_episode_steps
        truncated = (steps >= limit) & ~terminated if limit is not None else np.zeros(self.num_envs, bool)
        infos: dict[str, Any] = {}
        if pending:  # NEXT_STEP: the finished sub-envs start over instead of stepping
            self._restart(pending, None)
            rewards[pending], terminated[pending], truncated[pending] = 0.0, False, False
        finished = np.flatnonzero(terminated | truncated).tolist()
        if mode == AutoresetMode.SAME_STEP and finished:
            final_obs = self._batch_obs()
            for i in finished:
                final = final_obs[i] if self.config.observation == "rgb" else {k: v[i] for k, v in final_obs.items()}
                infos = self._add_info(infos, {"final_obs": final, "final_info": self.core.info(i)}, i)
            self._restart(finished, None)
        for i in range(self.num_envs):
            infos = self._add_info(infos, self.core.info(i), i)
        self._done = terminated | truncated
        if self.render_mode == "human":
            self._show(self._hud(0))
        return self._batch_obs(), rewards, terminated, truncated, infos

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode is None:
            return None
        images = tuple(self._hud(i) for i in range(self.num_envs))
        if self.render_mode == "human":
            self._show(images[0])
            return None
        return images

    def close_extras(self, **kwargs: Any) -> None:
        self._close_window()
