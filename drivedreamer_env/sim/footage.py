"""Stand-in "own dashcam footage": simulator drives rendered in a look the shipped model never saw, as an mp4.

No real footage may ship or be downloaded, so the tests, the fine-tuning benchmark
(``benchmarks/tokenizer_finetune.py``) and the README's worked example all use a clip made here. It differs from
the simulator data the shipped tokenizer trained on the way real footage does (issue 15 found the shipped tokenizer
drawing a real white dashed line yellow):

- the dashed centre line is white (European paint), where the simulator always paints it yellow;
- a colour grade: warm highlights, teal shadows, lifted blacks, more saturation (a consumer dashcam's tone curve);
- a vignette and the dark top of the car's bonnet across the bottom of the frame;
- sensor noise, then H.264 compression (``media.write_video``).

The drive itself is an ordinary ProcDrive episode (one lane per direction, day, clear, so the centre line is the
dashed one), recorded with :func:`~drivedreamer_env.sim.record.record_episode`; its true actions are kept in the
returned clip, though the mp4 carries none (footage without telemetry).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.media import write_video
from drivedreamer_env.sim import styles
from drivedreamer_env.sim.config import CameraConfig, SimConfig
from drivedreamer_env.sim.record import record_episode
from drivedreamer_env.sim.simulator import Labels, Simulator


@dataclass(frozen=True)
class FootageLook:
    """How the footage departs from the simulator's own rendering (appearance choices, RGB 0-255 or unitless)."""

    white_centre_line: bool = True  # paint the (yellow) centre line white
    shadow_tint: tuple[float, float, float] = (-6.0, 8.0, 14.0)  # added where the image is dark
    highlight_tint: tuple[float, float, float] = (16.0, 6.0, -12.0)  # added where it is bright
    black_lift: float = 18.0  # the darkest value after the tone curve
    saturation: float = 1.3  # chroma gain around the grey value
    vignette: float = 0.35  # brightness lost in the corners
    bonnet_rows: float = 0.1  # share of the image height the bonnet covers at the centre
    bonnet_color: tuple[float, float, float] = (34.0, 36.0, 40.0)
    noise_std: float = 3.0  # sensor noise before compression


class _RepaintedSimulator(Simulator):
    """A simulator whose renderer paints the centre line in the white line's colour."""

    def reset(self, seed: int, lane: int | None = None, speed_mps: float | None = None) -> tuple[np.ndarray, Labels]:
        _, labels = super().reset(seed, lane, speed_mps)
        palette = self.renderer.palette
        palette[styles.YELLOW_LINE] = palette[styles.WHITE_LINE]
        return self.render(), labels  # the first frame again, repainted


def grade_frames(frames: np.ndarray, look: FootageLook = FootageLook(), seed: int = 0) -> np.ndarray:
    """The dashcam look (everything of :class:`FootageLook` but the line colour) on uint8 frames (T, H, W, 3)."""
    x = frames.astype(np.float32)
    _, h, w, _ = x.shape
    luma = x.mean(axis=-1, keepdims=True) / 255.0  # (T, H, W, 1)
    grey = luma * 255.0
    x = grey + (x - grey) * look.saturation
    x = x + (1.0 - luma) * np.float32(look.shadow_tint) + luma * np.float32(look.highlight_tint)
    x = look.black_lift + x * (1.0 - look.black_lift / 255.0)
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    x = x * (1.0 - look.vignette * np.clip((xx**2 + yy**2) / 2.0, 0.0, 1.0))[None, :, :, None]
    # the bonnet: an arc that rises to bonnet_rows at the centre and falls to half of it at the sides
    top = h * (1.0 - look.bonnet_rows * (1.0 - 0.5 * xx[0] ** 2))  # (W,) first bonnet row per column
    bonnet = np.arange(h)[:, None] >= top[None, :]  # (H, W)
    shade = np.float32(look.bonnet_color) * (1.0 + 0.25 * yy[:, :, None])  # darker towards the bottom edge
    x = np.where(bonnet[None, :, :, None], shade[None], x)
    x = x + np.random.default_rng(seed).normal(0.0, look.noise_std, x.shape).astype(np.float32)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def record_footage(
    seed: int = 503,
    frames: int = 300,
    width: int = 256,
    height: int = 128,
    look: FootageLook = FootageLook(),
) -> Clip:
    """One simulator drive in the footage look.

    Args:
        seed: the episode seed (world, traffic and driving policy).
        frames: frames to record at the simulator's 10 Hz (fewer if the drive ends early).
        width, height: image size [px]; the default 256 x 128 is twice the shipped tokenizer's, as a dashcam's
            frames are larger than the model's input.
        look: the departures from the simulator's rendering.

    Returns:
        The clip: graded frames, true timestamps and actions, ``meta["footage_look"]`` and the episode's meta.
    """
    if frames < 2:
        raise ValueError(f"frames={frames}: record at least 2 frames")
    cfg = SimConfig(
        camera=CameraConfig(width=width, height=height), time_of_day="day", weather="clear", lanes_per_direction=1
    )
    sim = _RepaintedSimulator(cfg) if look.white_centre_line else Simulator(cfg)
    clip = record_episode(sim, seed, frames)
    meta = {**clip.meta, "source": "footage", "footage_look": dataclasses.asdict(look)}
    return dataclasses.replace(clip, frames=grade_frames(clip.frames, look, seed), meta=meta)


def write_footage_video(path: str | Path, **kwargs: Any) -> Clip:
    """Record :func:`record_footage` (``kwargs`` are its arguments) and write it as an mp4 at the simulator's
    frame rate (10 Hz).

    Returns:
        The clip as recorded (before compression), with its true actions.
    """
    clip = record_footage(**kwargs)
    fps = 1.0 / float(np.median(np.diff(clip.timestamps)))
    write_video(path, clip.frames, fps)
    return clip
