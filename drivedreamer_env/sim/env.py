"""``ProcDrive-v0``: the ground-truth simulator as a Gymnasium environment.

Action ``Box(-1, 1, (2,), float32)`` = ``[steering, speed]``:

* steering: road-wheel angle ``steering * max_steer_rad`` (default 0.5 rad = 28.6 deg), +1 = full left;
  the wheel angle moves towards it at most ``max_steer_rate_rps`` (0.8 rad/s).
* speed: target speed ``(speed + 1) / 2 * max_speed_mps`` (default 0..20 m/s), reached with at most
  3 m/s^2 acceleration and 6 m/s^2 braking.

Observation: the front-camera RGB frame, uint8 ``(H, W, 3)`` (default 64 x 128); with ``observation="dict"``
``{"image", "speed" (1,), "yaw_rate" (1,), "pose" (3,) = x, y, heading}``, as ``WorldDreamerDrive-v0`` gives it.
Reward per step (:mod:`drivedreamer_env.sim.rewards`, the definition WorldDreamerDrive-v0 uses too, with the
weights ``SimConfig.reward``): ``0.1 * progress[m] - 0.05 * |lane offset|[m] - 0.1 * |heading error|[rad]``, and
``-5`` on termination. Terminates when the ego leaves the paved road or collides; the registered ``max_episode_steps``
(400 = 40 s) truncates. ``info`` carries the ego pose ``(x, y, yaw)``, speed, yaw rate, steering and the
labels (lane offset, heading error, distance, off-road, collision, road coordinates s, d).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from drivedreamer_env.sim.actions import action_space
from drivedreamer_env.sim.config import CameraConfig, SimConfig
from drivedreamer_env.sim.observations import OBSERVATIONS, dict_observation, observation_space
from drivedreamer_env.sim.simulator import Simulator

RESET_OPTIONS = ("lane", "speed", "episode_seed")


class ProcDriveEnv(gym.Env):
    """Gymnasium wrapper around :class:`~drivedreamer_env.sim.simulator.Simulator`.

    Args:
        config: a full :class:`SimConfig`; or pass ``width``/``height`` for just the image size.
        render_mode: ``"rgb_array"`` (returns the frame) or ``None``.
        observation: ``"rgb"`` (the frame) or ``"dict"`` (frame, speed, yaw rate, pose).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        config: SimConfig | None = None,
        width: int | None = None,
        height: int | None = None,
        render_mode: str | None = None,
        observation: str = "rgb",
    ) -> None:
        cfg = config or SimConfig()
        if width is not None or height is not None:
            cam = cfg.camera
            cfg.camera = CameraConfig(**{**cam.__dict__, "width": width or cam.width, "height": height or cam.height})
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be 'rgb' or 'dict', got {observation!r}")
        self.cfg = cfg
        self.render_mode = render_mode
        self.observation = observation
        self.sim = Simulator(cfg)
        self.metadata = {**self.metadata, "render_fps": round(1.0 / cfg.dt_s)}
        self.observation_space = observation_space(cfg.camera.height, cfg.camera.width, observation)
        self.action_space = action_space()
        self._frame: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start a new episode in a world drawn from the env's RNG (seeded by ``seed``).

        ``options`` may hold ``lane`` (0 = next to the centre line), ``speed`` (initial speed [m/s]) and
        ``episode_seed`` (the world's own seed, a non-negative int, instead of one drawn from the RNG in
        [0, 2**31 - 1); ``info["episode_seed"]`` reports it either way).
        """
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - set(RESET_OPTIONS)
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}; allowed: {list(RESET_OPTIONS)}")
        episode_seed = int(self.np_random.integers(0, 2**31 - 1))
        if options.get("episode_seed") is not None:
            episode_seed = options["episode_seed"]
            if isinstance(episode_seed, bool) or not isinstance(episode_seed, (int, np.integer)) or episode_seed < 0:
                raise ValueError(f"reset option 'episode_seed' must be a non-negative int, got {episode_seed!r}")
            episode_seed = int(episode_seed)
        self._frame, _ = self.sim.reset(episode_seed, lane=options.get("lane"), speed_mps=options.get("speed"))
        info = self.sim.info()
        info["caption"] = self.sim.world.caption
        info["episode_seed"] = episode_seed
        return self._obs(info), info

    def step(self, action):
        result = self.sim.step(action)
        self._frame = result.frame
        return self._obs(result.info), result.reward, result.terminated, False, result.info

    def _obs(self, info: dict[str, Any]) -> Any:
        if self.observation == "rgb":
            return self._frame
        return dict_observation(self._frame, info["speed"], info["yaw_rate"], *info["pose"])

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            if self._frame is None:
                raise RuntimeError("call reset() before render()")
            return self._frame.copy()
        return None
