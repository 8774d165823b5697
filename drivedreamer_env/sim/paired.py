"""Paired-style renders: one drive (same seed, same poses, same traffic) seen in several styles.

A forced style in :class:`~drivedreamer_env.sim.config.SimConfig` changes the random draws of the world (the style
is drawn first from the seed's generator), so two forced styles of one seed are two different roads. Here the
world is built once from the seed, driven once, and every recorded state is rendered again with only the
world's :class:`~drivedreamer_env.sim.world.Style` replaced: the geometry is identical by construction. This is
the ground truth of stylization (what the same drive looks like at night, in fog ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from drivedreamer_env.sim.config import TIMES_OF_DAY, WEATHERS, CameraConfig, SimConfig
from drivedreamer_env.sim.policies import pure_pursuit
from drivedreamer_env.sim.render import Renderer
from drivedreamer_env.sim.simulator import Simulator
from drivedreamer_env.sim.world import START_S_M, Style, make_caption
from drivedreamer_env.units import physical_to_normalized

LANE_KEEP_SPEED_MPS = 8.0
PAIRED_INTENSITY = 0.8  # fog density / rain strength of the non-clear styles ("dense fog", "heavy rain")


def parse_style(style: str) -> tuple[str, str]:
    """``"night, rain"`` -> ``("night", "rain")``; a clear error for anything else."""
    parts = [p.strip() for p in style.split(",")]
    if len(parts) != 2 or parts[0] not in TIMES_OF_DAY or parts[1] not in WEATHERS:
        raise ValueError(f"style must be 'time_of_day, weather' with {TIMES_OF_DAY} x {WEATHERS}, got {style!r}")
    return parts[0], parts[1]


@dataclass
class PairedDrive:
    """One drive in several styles.

    Attributes:
        styles: the ``"time_of_day, weather"`` of each row.
        frames: (S, T, H, W, 3) uint8; frame t of every style is seen from the same pose, with the same traffic.
        captions: the episode caption in each style (same road and traffic words, the style's own first words).
        actions: (T, 2) float32 ``[speed m/s, yaw_rate rad/s]`` that moved the ego from frame t to t+1 (the last
            row repeats the one before, as in :func:`~drivedreamer_env.sim.record.record_episode`).
        timestamps: (T,) [s].
        camera: the clip meta of the camera (``intrinsics`` 3x3, ``camera``: ``x_m``, ``height_m``,
            ``pitch_rad``), as :class:`~drivedreamer_env.models.reprojection.CameraModel.from_meta` reads it.
    """

    styles: tuple[str, ...]
    frames: np.ndarray
    captions: tuple[str, ...]
    actions: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    camera: dict | None = None


def render_paired(
    seed: int, styles: Sequence[str], camera: CameraConfig, frames: int, intensity: float = PAIRED_INTENSITY
) -> PairedDrive:
    """The drive of episode ``seed`` (lane keeping at 8 m/s), rendered in each style.

    Args:
        seed: simulator episode seed (road, objects, traffic; its own drawn style is replaced).
        styles: ``"time_of_day, weather"`` strings, e.g. ``("day, clear", "night, rain")``.
        camera: the camera (resolution) to render with.
        frames: frames per drive (10 Hz).
        intensity: fog density / rain strength of the non-clear styles, 0..1.

    Returns:
        The :class:`PairedDrive`.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity must be in [0, 1], got {intensity}")
    parsed = [parse_style(s) for s in styles]
    sim = Simulator(SimConfig(camera=camera))
    sim.reset(seed)
    world = sim.world
    looks = [Style(t, w, 0.0 if w == "clear" else intensity, world.style.environment) for t, w in parsed]
    renderers = [Renderer(sim.camera, replace(world, style=s), camera.max_range_m) for s in looks]
    # the caption's road and traffic words are the episode's; only its first two (time of day, weather) change
    rest = world.caption.split(", ", 2)[2]
    captions = tuple(", ".join([*make_caption(s, world.road, 0.0, START_S_M).split(", ")[:2], rest]) for s in looks)
    out = np.empty((len(parsed), frames, camera.height, camera.width, 3), np.uint8)
    actions = np.zeros((frames, 2), np.float32)
    times = np.zeros(frames)
    for t in range(frames):
        st = sim.state
        times[t] = st.time_s
        for k, r in enumerate(renderers):
            out[k, t] = r.render(np.array([st.ego.x, st.ego.y]), st.ego.yaw, st.s, st.traffic, st.step)
        if t + 1 < frames:
            steer = pure_pursuit(sim, st.d, max(6.0, st.ego.speed))
            sim.step(physical_to_normalized(steer, LANE_KEEP_SPEED_MPS, sim.cfg.geometry))
            actions[t] = (sim.state.ego.speed, sim.state.ego.yaw_rate)
        elif t > 0:
            actions[t] = actions[t - 1]
    cam = sim.camera
    meta = {"intrinsics": cam.intrinsics.tolist(),
            "camera": {"x_m": cam.x_m, "y_m": 0.0, "height_m": cam.height_m, "pitch_rad": cam.pitch_rad}}  # fmt: skip
    return PairedDrive(tuple(styles), out, captions, actions, times, meta)
