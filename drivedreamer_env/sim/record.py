"""Recording simulator episodes as ``Clip`` s and writing them as clip shards.

The nuScenes-format writer of the same clips is :func:`drivedreamer_env.nuscenes.writer.export_nuscenes`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.shards import write_clip, write_manifest
from drivedreamer_env.sim.config import SimConfig
from drivedreamer_env.sim.policies import MixedPolicy
from drivedreamer_env.sim.simulator import LABEL_NAMES, Labels, Simulator
from drivedreamer_env.sim.world import START_S_M

MIN_EPISODE_FRAMES = 8
CENTERLINE_EVERY = 4  # keep every 4th centreline point in the meta: every 2 m is plenty for maps


@dataclass
class _Track:
    """What a recording accumulates: one row per kept frame (and per action, which may repeat at the end)."""

    frames: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # [s]
    poses: list[tuple[float, float, float]] = field(default_factory=list)  # x [m], y [m], yaw [rad]
    actions: list[tuple[float, float]] = field(default_factory=list)  # speed [m/s], yaw rate [rad/s]
    steer: list[float] = field(default_factory=list)  # road-wheel angle [rad]
    labels: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in LABEL_NAMES})

    def keep_frame(self, sim: Simulator, frame: np.ndarray, labels: Labels) -> None:
        st = sim.state
        self.frames.append(frame)
        self.times.append(st.time_s)
        self.poses.append((st.ego.x, st.ego.y, st.ego.yaw))
        for name in LABEL_NAMES:
            self.labels[name].append(getattr(labels, name))

    def keep_action(self, sim: Simulator) -> None:
        """The ego's speed and yaw rate after a step: what moved it from the last kept frame to the next."""
        self.actions.append((sim.state.ego.speed, sim.state.ego.yaw_rate))
        self.steer.append(sim.state.ego.steer)

    def repeat_action(self) -> None:
        self.actions.append(self.actions[-1])
        self.steer.append(self.steer[-1])

    def label_arrays(self, lanes_per_direction: int) -> dict[str, np.ndarray]:
        """Per-frame labels (T,) float32: the simulator's, plus ``steer_rad`` and ``lane_count``."""
        lab = {**self.labels, "steer_rad": self.steer, "lane_count": [lanes_per_direction] * len(self.frames)}
        return {k: np.asarray(v, dtype=np.float32) for k, v in lab.items()}


def record_episode(sim: Simulator, seed: int, steps: int, policy_seed: int | None = None) -> Clip:
    """Drive episode ``seed`` for up to ``steps`` frames with :class:`MixedPolicy` and return it as a Clip.

    ``frames[t]`` is the image at ``timestamps[t]`` and ``actions[t] = [speed, yaw_rate]`` is what moved the
    ego from pose t to pose t+1. Episodes stop early when the ego leaves the road or collides; that terminal
    frame is kept (with its off-road / collision label) and its action row repeats the previous one. In a full
    length episode the frame after the last action is dropped so that every frame has its own action.
    """
    frame, labels = sim.reset(seed)
    rng = np.random.default_rng(seed if policy_seed is None else policy_seed)
    policy = MixedPolicy(rng, sim)
    track = _Track()
    termination = ""
    for _ in range(steps):
        track.keep_frame(sim, frame, labels)
        result = sim.step(policy())
        track.keep_action(sim)
        frame, labels = result.frame, result.labels
        if result.terminated:
            termination = "collision" if labels.collision else "off_road"
            if len(track.frames) < steps:
                # keep the terminal frame: it carries the off-road / collision label the event heads learn
                # from; nothing follows it, so its action row repeats the last one
                track.keep_frame(sim, frame, labels)
                track.repeat_action()
            break
    meta = {
        **_episode_meta(sim, seed),
        "terminated_early": len(track.frames) < steps,
        "termination": termination,
        "labels": track.label_arrays(sim.world.road.lanes_per_direction),
        "poses": np.asarray(track.poses, dtype=np.float64),
    }
    actions = np.asarray(track.actions, np.float32)
    return Clip(np.stack(track.frames), np.asarray(track.times), actions, sim.world.caption, meta)


def _episode_meta(sim: Simulator, seed: int) -> dict[str, Any]:
    """The episode's fixed meta: ids, camera model, road geometry, style and time step."""
    world = sim.world
    road = world.road
    return {
        "source": "procdrive",
        "scene": f"procdrive-{seed:07d}",
        "seed": int(seed),
        "intrinsics": sim.camera.intrinsics.tolist(),
        "camera": {
            "x_m": sim.camera.x_m,
            "y_m": 0.0,
            "height_m": sim.camera.height_m,
            "pitch_rad": sim.camera.pitch_rad,
        },
        "road": {
            "centerline": road.xy[::CENTERLINE_EVERY].tolist(),
            "half_width_m": road.paved_half_width_m,
            "lanes_per_direction": road.lanes_per_direction,
            "lane_width_m": road.lane_width_m,
        },
        "style": dict(world.style.__dict__),
        "start_s_m": START_S_M,
        "dt_s": sim.cfg.dt_s,
    }


def record_episodes(
    cfg: SimConfig, seeds: list[int], steps: int, progress: Callable[[int], None] | None = None
) -> Iterator[Clip]:
    """Record each seed in turn (episodes shorter than ``MIN_EPISODE_FRAMES`` frames are skipped)."""
    sim = Simulator(cfg)
    for seed in seeds:
        clip = record_episode(sim, seed, steps)
        if progress:
            progress(1)
        if len(clip) >= MIN_EPISODE_FRAMES:
            yield clip


def write_shards(clips: Iterator[Clip], out_dir: str | Path, cfg: SimConfig) -> list[dict]:
    """Write each clip as ``episode_<seed>.safetensors`` plus a manifest with per-episode summaries."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    episodes = []
    for clip in clips:
        name = f"episode_{clip.meta['seed']:07d}.safetensors"
        write_clip(out / name, clip)
        a = clip.actions
        episodes.append(
            {
                "file": name,
                "seed": clip.meta["seed"],
                "frames": len(clip),
                "caption": clip.text,
                "speed_mps": [float(a[:, 0].min()), float(a[:, 0].mean()), float(a[:, 0].max())],
                "yaw_rate_rps": [float(a[:, 1].min()), float(a[:, 1].mean()), float(a[:, 1].max())],
                "termination": clip.meta["termination"],
            }
        )
        # keep the manifest current so an interrupted run still leaves a readable directory
        write_manifest(out, episodes, fps=1.0 / cfg.dt_s, resolution=list(clip.resolution), source="procdrive")
    return episodes
