"""``DreamConfig``: everything a ``WorldDreamerDrive-v0`` env is built from, one typed dataclass.

The single and the vector env take it whole (``config=DreamConfig(...)``) or build it from their keyword
arguments, which are its fields plus ``reward_weights`` (overrides of the reward fields). Unknown keys are an
error naming the key and listing the known ones. ``to_dict`` / ``from_dict`` round-trip it through plain data
(JSON-able whenever ``start`` is: None, a seed, a scenario dict or an image path).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivedreamer_env.config import ConfigError
from drivedreamer_env.sim.rewards import RewardConfig

# The dream's reward: ProcDrive's terms plus comfort and the learned event heads, and a deviation limit.
DREAM_REWARD = RewardConfig(comfort=0.002, event=1.0, max_deviation_m=4.0)
OBSERVATIONS = ("rgb", "dict")
RENDER_MODES = (None, "rgb_array", "human")
REWARD_WEIGHTS_KEY = "reward_weights"  # the keyword argument of reward overrides (``reward_weights={...}``)


@dataclass
class DreamConfig:
    """Settings of a dream environment (see :mod:`drivedreamer_env.envs.world_dreamer`).

    Attributes:
        checkpoint: world-model directory; None = the shipped ``data/checkpoints/default``.
        device: "auto", "cpu" or "cuda".
        sampling_steps: MaskGIT decoding steps per frame; None = the checkpoint's (its ``config.json`` ``sampler``,
            else 8).
        temperature: MaskGIT sampling temperature.
        guidance_scale: classifier-free guidance scale (1.0 = none).
        decoding: "plain" or "warp" (warp-then-refine, :mod:`drivedreamer_env.models.dream`); None = what the
            checkpoint was trained for (its ``config.json`` ``sampler``).
        warp_remask: share of the trusted warp-proposal tokens re-predicted each step; None = the checkpoint's.
        context_frames: frames the model sees; None or 0 = the model's ``context_frames``.
        start: the default start (None, a seed, a scenario dict, a Clip or an image); ``reset(options=...)``
            overrides it.
        start_offset_m, start_heading_rad: simulator-scene starts begin off their lane centre by up to this many
            metres and off the road heading by up to this many radians, drawn from the scene seed
            (``SimConfig.start_offset_m`` / ``start_heading_rad``; 0 = on the centre line).
        start_drive_s: simulator-scene starts begin after the simulator's lane keeper has driven the scene for
            U(0, start_drive_s) seconds, drawn from the scene seed (0 = at the scene's first frame), so that they
            lie anywhere along a drive, as starts cut from logged drives do (the scenario key ``drive_s``).
        text: caption override (default: the start's caption).
        observation: "rgb" (the frame) or "dict" (frame, speed, yaw rate, pose).
        reward: reward and termination weights (default :data:`DREAM_REWARD`).
        max_episode_steps: truncate after this many steps; None = never (``gym.make`` and ``gym.make_vec`` apply
            the registered 400 or their own ``max_episode_steps``).
        render_mode: None, "rgb_array" (upscaled frame with HUD) or "human" (pygame window).
    """

    checkpoint: str | None = None
    device: str = "auto"
    sampling_steps: int | None = None
    temperature: float = 1.0
    guidance_scale: float = 1.0
    decoding: str | None = None
    warp_remask: float | None = None
    context_frames: int | None = None
    start: Any = None
    start_offset_m: float = 0.0
    start_heading_rad: float = 0.0
    start_drive_s: float = 0.0
    text: str | None = None
    observation: str = "rgb"
    reward: RewardConfig = DREAM_REWARD
    max_episode_steps: int | None = None
    render_mode: str | None = None

    def __post_init__(self) -> None:
        if self.render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode must be None, 'rgb_array' or 'human', got {self.render_mode!r}")
        if self.observation not in OBSERVATIONS:
            raise ValueError(f"observation must be 'rgb' or 'dict', got {self.observation!r}")
        if not isinstance(self.reward, RewardConfig):
            raise TypeError(f"reward must be a RewardConfig, got {type(self.reward).__name__}")
        self.checkpoint = None if self.checkpoint is None else str(self.checkpoint)
        self.sampling_steps = None if self.sampling_steps is None else int(self.sampling_steps)
        self.temperature = float(self.temperature)
        self.guidance_scale = float(self.guidance_scale)
        self.start_offset_m, self.start_heading_rad = float(self.start_offset_m), float(self.start_heading_rad)
        if min(self.start_offset_m, self.start_heading_rad) < 0:
            bounds = (self.start_offset_m, self.start_heading_rad)
            raise ValueError(f"start_offset_m and start_heading_rad must be >= 0, got {bounds}")
        self.start_drive_s = float(self.start_drive_s)
        if not self.start_drive_s >= 0:  # also NaN
            raise ValueError(f"start_drive_s must be a time >= 0 s, got {self.start_drive_s}")
        self.context_frames = int(self.context_frames) if self.context_frames else None
        if isinstance(self.start, Path):
            self.start = str(self.start)

    @classmethod
    def known_keys(cls) -> list[str]:
        """The keys :meth:`from_dict` accepts: the fields and ``reward_weights``."""
        return [f.name for f in dataclasses.fields(cls)] + [REWARD_WEIGHTS_KEY]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: DreamConfig | None = None) -> DreamConfig:
        """``base`` (default ``DreamConfig()``) with the keys of ``data`` applied: an env's keyword arguments.

        ``reward`` may be a :class:`RewardConfig` (used as is) or a mapping of its fields, applied, like
        ``reward_weights``, over the base's reward (so a partial mapping keeps the dream's other weights).

        Raises:
            ConfigError: a key that is no field (naming it and listing the known keys) or an unknown reward weight.
        """
        data = dict(data)
        unknown = sorted(set(data) - set(cls.known_keys()))
        if unknown:
            raise ConfigError(f"unknown WorldDreamerDrive-v0 argument(s) {unknown}; known: {cls.known_keys()}")
        base = base or cls()
        reward = data.pop("reward", base.reward)
        if not isinstance(reward, RewardConfig):
            reward = base.reward.updated(reward)
        data["reward"] = reward.updated(data.pop(REWARD_WEIGHTS_KEY, None))
        return dataclasses.replace(base, **data)

    def to_dict(self) -> dict[str, Any]:
        """Plain data that :meth:`from_dict` turns back into this config."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)} | {
            "reward": dataclasses.asdict(self.reward)
        }
