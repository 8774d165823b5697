"""Recording simulator episodes as ``Clip`` s and writing them as shards or a nuScenes-format dataset."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.shards import write_clip, write_manifest
from drivedreamer_env.sim.config import SimConfig
from drivedreamer_env.sim.policies import MixedPolicy
from drivedreamer_env.sim.simulator import LABEL_NAMES, Simulator
from drivedreamer_env.sim.world import START_S_M

MIN_EPISODE_FRAMES = 8


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
    frames, actions, poses, steer, times = [], [], [], [], []
    termination = ""
    lab = {name: [] for name in (*LABEL_NAMES, "steer_rad", "lane_count")}

    def keep_frame() -> None:
        st = sim.state
        frames.append(frame)
        times.append(st.time_s)
        poses.append((st.ego.x, st.ego.y, st.ego.yaw))
        for name in LABEL_NAMES:
            lab[name].append(getattr(labels, name))

    for _ in range(steps):
        keep_frame()
        result = sim.step(policy())
        actions.append((sim.state.ego.speed, sim.state.ego.yaw_rate))
        steer.append(sim.state.ego.steer)
        frame, labels = result.frame, result.labels
        if result.terminated:
            termination = "collision" if labels.collision else "off_road"
            if len(frames) < steps:
                # keep the terminal frame: it carries the off-road / collision label the event heads learn
                # from; nothing follows it, so its action row repeats the last one
                keep_frame()
                actions.append(actions[-1])
                steer.append(steer[-1])
            break
    n = len(frames)
    lab["steer_rad"] = steer
    lab["lane_count"] = [sim.world.road.lanes_per_direction] * n
    world = sim.world
    road = world.road
    every = 4  # centreline every 2 m is plenty for maps
    meta = {
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
            "centerline": road.xy[::every].tolist(),
            "half_width_m": road.paved_half_width_m,
            "lanes_per_direction": road.lanes_per_direction,
            "lane_width_m": road.lane_width_m,
        },
        "style": dict(world.style.__dict__),
        "start_s_m": START_S_M,
        "dt_s": sim.cfg.dt_s,
        "terminated_early": n < steps,
        "termination": termination,
        "labels": {k: np.asarray(v, dtype=np.float32) for k, v in lab.items()},
        "poses": np.asarray(poses, dtype=np.float64),
    }
    return Clip(np.stack(frames), np.asarray(times), np.asarray(actions, np.float32), world.caption, meta)


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
