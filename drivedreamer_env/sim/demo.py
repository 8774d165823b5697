"""The simulator demo: one start, three steering branches, rendered by the ground-truth simulator.

This is what ``drivedreamer demo`` runs until a world model is shipped: it shows the referee that every dream
is later compared against. Outputs go to ``OUT`` (default ``outputs/demo/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from drivedreamer_env.io_utils import write_json
from drivedreamer_env.media import contact_sheet, upscale, write_png, write_video
from drivedreamer_env.sim.config import SimConfig
from drivedreamer_env.sim.simulator import Simulator

BRANCHES = {"left": 0.12, "straight": 0.0, "right": -0.12}  # normalised steering held after the fork


@dataclass
class BranchResult:
    name: str
    frames: list[np.ndarray]
    poses: np.ndarray  # (T, 3) x, y, yaw
    yaw_rates: np.ndarray  # (T,)


def run_branches(sim: Simulator, seed: int, steps: int, warmup: int = 5) -> list[BranchResult]:
    """Drive straight for ``warmup`` steps, fork the state, then hold each branch's steering."""
    frame, _ = sim.reset(seed)
    for _ in range(warmup):
        frame = sim.step([0.0, -0.1]).frame
    fork = sim.get_state()
    out = []
    for name, steer in tqdm(BRANCHES.items(), desc="branches", unit="branch"):
        sim.set_state(fork)
        frames, poses, yaw_rates = [frame], [], []
        for _ in range(steps):
            r = sim.step([steer, -0.1])
            e = sim.state.ego
            frames.append(r.frame)
            poses.append((e.x, e.y, e.yaw))
            yaw_rates.append(e.yaw_rate)
            if r.terminated:
                break
        out.append(BranchResult(name, frames, np.array(poses), np.array(yaw_rates)))
    return out


def style_grid(cfg: SimConfig, seed: int) -> np.ndarray:
    """A 3 x 3 sheet: times of day (rows) x weather (columns), same road."""
    rows = []
    for tod in ("day", "dusk", "night"):
        row = []
        for weather in ("clear", "fog", "rain"):
            sim = Simulator(SimConfig(**{**cfg.__dict__, "time_of_day": tod, "weather": weather}))
            sim.reset(seed)
            for _ in range(10):
                frame = sim.step([0.0, -0.1]).frame
            row.append(frame)
        rows.append(row)
    return contact_sheet(rows, labels=["day", "dusk", "night"])


def birdseye(sim: Simulator, branches: list[BranchResult], size: int = 400) -> np.ndarray:
    """Top-down plot of the road around the fork and each branch's trajectory (left = blue ... right = red)."""
    allp = np.concatenate([b.poses[:, :2] for b in branches])
    center = allp.mean(axis=0)
    span = max(np.ptp(allp, axis=0).max() * 1.4, 40.0)
    scale = size / span
    img = np.full((size, size, 3), 235, np.uint8)

    def px(xy: np.ndarray) -> np.ndarray:
        p = (xy - center) * scale
        return np.round(np.stack([size / 2 + p[:, 0], size / 2 - p[:, 1]], -1) * 16).astype(np.int32)

    road = sim.world.road
    near = np.linalg.norm(road.xy - center, axis=1) < span
    s = road.s[near]
    for d, color, thick in (
        (road.paved_half_width_m, (90, 90, 90), 1),
        (-road.paved_half_width_m, (90, 90, 90), 1),
        (0.0, (200, 160, 40), 1),
    ):
        xy, _ = road.pose_at(s, d)
        cv2.polylines(img, [px(xy)], False, color, thick, cv2.LINE_AA, 4)
    colors = {"left": (40, 80, 220), "straight": (40, 160, 40), "right": (220, 50, 40)}
    for b in branches:
        cv2.polylines(img, [px(b.poses[:, :2])], False, colors.get(b.name, (0, 0, 0)), 2, cv2.LINE_AA, 4)
    return img


def run_demo(out_dir: str | Path = "outputs/demo", seed: int = 7, steps: int = 40, scale: int = 3) -> dict:
    """Write branch video, contact sheet, bird's-eye plot, style grid and metrics; return the metrics."""
    out = Path(out_dir)
    cfg = SimConfig()
    sim = Simulator(cfg)
    branches = run_branches(sim, seed, steps)
    caption = sim.world.caption
    n = min(len(b.frames) for b in branches)
    video = [upscale(np.concatenate([b.frames[t] for b in branches], axis=1), scale) for t in range(n)]
    write_video(out / "sim_branches.mp4", video, fps=1.0 / cfg.dt_s)
    write_video(out / "sim_branches.gif", video[::2], fps=0.5 / cfg.dt_s)
    picks = np.linspace(0, n - 1, 6).astype(int)
    write_png(
        out / "sim_contact_sheet.png",
        upscale(contact_sheet([[b.frames[t] for t in picks] for b in branches], [b.name for b in branches]), 2),
    )
    write_png(out / "sim_birdseye.png", birdseye(sim, branches))
    write_png(out / "sim_styles.png", upscale(style_grid(cfg, seed), 2))
    metrics = {
        "seed": seed,
        "caption": caption,
        "steps": steps,
        "branches": {
            b.name: {
                "frames": len(b.frames),
                "mean_yaw_rate_rps": float(b.yaw_rates.mean()),
                "heading_change_deg": float(np.rad2deg(b.poses[-1, 2] - b.poses[0, 2])),
                "distance_m": float(np.sum(np.linalg.norm(np.diff(b.poses[:, :2], axis=0), axis=1))),
            }
            for b in branches
        },
    }
    write_json(out / "sim_metrics.json", metrics)
    return metrics


def print_table(metrics: dict) -> None:
    print(f"\nseed {metrics['seed']}: {metrics['caption']}")
    print(f"{'branch':<10}{'frames':>8}{'yaw rate [rad/s]':>18}{'heading change [deg]':>22}{'distance [m]':>14}")
    for name, m in metrics["branches"].items():
        print(
            f"{name:<10}{m['frames']:>8}{m['mean_yaw_rate_rps']:>18.3f}{m['heading_change_deg']:>22.1f}{m['distance_m']:>14.1f}"
        )
