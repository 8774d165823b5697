"""A loaded world model: the tokenizer and the STPT of one checkpoint directory, with numpy-facing helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from drivedreamer_env.config import ConfigError, from_dict
from drivedreamer_env.models.checkpoint import CONFIG, CheckpointError, load_stpt, load_tokenizer, read_config
from drivedreamer_env.models.reprojection import CameraModel
from drivedreamer_env.models.sampler import SamplerConfig
from drivedreamer_env.models.stpt import STPT
from drivedreamer_env.models.tokenizer import VisualTokenizer

DECODE_CHUNK = 8  # clips per decoder call
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "data" / "checkpoints" / "default"


@dataclass
class WorldModel:
    """A checkpoint's tokenizer and STPT, its camera (``config.json`` ``camera``: what warp decoding reprojects
    with; None in checkpoints without one) and the sampler settings it was trained for (``sampler``)."""

    tokenizer: VisualTokenizer
    stpt: STPT
    device: torch.device
    camera: CameraModel | None = None
    sampler_defaults: dict[str, Any] = field(default_factory=dict)
    frame_dt_s: float | None = None  # the frame period it was trained at [s] (None: not recorded, the data's)

    @classmethod
    def load(cls, directory: str | Path | None = None, device: str = "auto") -> WorldModel:
        """Load ``directory`` (default: the shipped ``data/checkpoints/default``)."""
        directory = Path(directory) if directory is not None else DEFAULT_CHECKPOINT
        dev = torch.device(
            "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
        )
        tok, stpt = load_tokenizer(directory, dev), load_stpt(directory, dev)
        # channels-last convolutions: frames arrive in that layout (H, W, 3), and the convs run ~25 % faster
        tok = tok.to(memory_format=torch.channels_last)
        grid = (stpt.cfg.grid_h, stpt.cfg.grid_w)
        if tok.cfg.grid != grid or tok.cfg.codebook_size != stpt.cfg.codebook_size:
            raise CheckpointError(
                f"{directory}: tokenizer grid {tok.cfg.grid} / {tok.cfg.codebook_size} codes do not match the world "
                f"model's {grid} / {stpt.cfg.codebook_size}"
            )
        cfg = read_config(directory)
        camera = None
        if "camera" in cfg:
            try:
                camera = CameraModel.from_dict(cfg["camera"])
            except (TypeError, ValueError) as err:
                raise CheckpointError(f"{directory / CONFIG}: bad 'camera' section: {err}") from err
            if (camera.height, camera.width) != (tok.cfg.height, tok.cfg.width):
                raise CheckpointError(
                    f"{directory / CONFIG}: camera is {camera.height}x{camera.width}, the tokenizer "
                    f"{tok.cfg.height}x{tok.cfg.width}"
                )
        frame_dt = cfg.get("frame_dt_s")
        if frame_dt is not None and not (isinstance(frame_dt, (int, float)) and frame_dt > 0):
            raise CheckpointError(f"{directory / CONFIG}: 'frame_dt_s' must be a positive number [s], got {frame_dt!r}")
        return cls(tok, stpt, dev, camera, dict(cfg.get("sampler", {})), frame_dt)

    def sampler(self, **overrides: Any) -> SamplerConfig:
        """The checkpoint's recommended sampler settings, with ``overrides`` (None values are ignored)."""
        values = {**self.sampler_defaults, **{k: v for k, v in overrides.items() if v is not None}}
        try:
            return from_dict(SamplerConfig, values, where="sampler")
        except ConfigError as err:
            raise ValueError(str(err)) from err

    @property
    def resolution(self) -> tuple[int, int]:
        return self.tokenizer.cfg.height, self.tokenizer.cfg.width

    def prepare(self, frames: np.ndarray) -> np.ndarray:
        """Resize / centre-crop (T, H, W, 3) uint8 frames to the model's resolution."""
        from drivedreamer_env.data.windowing import resize_crop

        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be uint8 (T, H, W, 3) or (H, W, 3) RGB, got {frames.dtype} {frames.shape}")
        return frames if frames.shape[1:3] == self.resolution else resize_crop(frames, self.resolution)

    @torch.no_grad()
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """(T, H, W, 3) uint8 -> (T, h, w) int64 tokens on the model's device."""
        x = torch.from_numpy(self.prepare(frames)).to(self.device)
        return self.tokenizer.encode(x[None]).tokens[0]

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> np.ndarray:
        """(..., T, h, w) tokens -> (..., T, H, W, 3) uint8 numpy frames."""
        lead = tokens.shape[:-3]
        flat = tokens.reshape(-1, *tokens.shape[-3:]).to(self.device)
        # a few clips at a time: the decoder's full-resolution activations dominate peak memory
        frames = np.concatenate([self.tokenizer.decode(chunk).cpu().numpy() for chunk in flat.split(DECODE_CHUNK)])
        return frames.reshape(*lead, *frames.shape[1:])

    def text_ids(self, texts: list[str]) -> torch.Tensor:
        """The model's text inputs for ``texts`` (hashed word ids or frozen sentence embeddings)."""
        return self.stpt.text_inputs(texts).to(self.device)
