"""Counterfactual rollouts: one start, several steering branches, each dream beside the ground truth.

``drivedreamer counterfactual`` and ``drivedreamer demo`` run :func:`run_counterfactual`: the environment is
reset once, its state is copied into one row per branch (:meth:`DreamCore.select`), and the branches are
dreamt as one batch. For a simulator start the simulator is forked at the same moment and driven by the same
actions, which gives the ground truth each dream is scored against (PSNR per step, and the heading change read
off the frames by the same yaw estimator the world-model evaluation validates).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from drivedreamer_env.envs.world_dreamer import WorldDreamerDriveEnv
from drivedreamer_env.eval.frame_probes import estimate_yaw
from drivedreamer_env.io_utils import write_json
from drivedreamer_env.media import contact_sheet, upscale, write_png, write_video
from drivedreamer_env.metrics import psnr

BRANCH_STEERING = {"hard-left": 0.5, "left": 0.25, "straight": 0.0, "right": -0.25, "hard-right": -0.5}
COLORS = {"left": (40, 80, 220), "straight": (40, 160, 40), "right": (220, 50, 40)}  # RGB


def parse_branches(spec: str) -> dict[str, float]:
    """``"left,straight,right"`` or ``"left,0.1,-0.3"`` -> {name: normalised steering}."""
    out = {}
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        if item in BRANCH_STEERING:
            out[item] = BRANCH_STEERING[item]
            continue
        try:
            out[f"steer{float(item):+.2f}"] = float(np.clip(float(item), -1.0, 1.0))
        except ValueError:
            raise ValueError(
                f"branch {item!r}: use names {list(BRANCH_STEERING)} or steering values in [-1, 1]"
            ) from None
    if not out:
        raise ValueError("give at least one branch, e.g. --branches left,straight,right")
    return out


def birdseye(
    route_xy: np.ndarray, paths: dict[str, np.ndarray], edges: list[np.ndarray], size: int = 400
) -> np.ndarray:
    """Top-down PNG: road edges (grey), the reference route (yellow) and each branch's path."""
    allp = np.concatenate(list(paths.values()))
    center = allp.mean(axis=0)
    span = max(np.ptp(allp, axis=0).max() * 1.4, 40.0)
    scale = size / span
    img = np.full((size, size, 3), 235, np.uint8)

    def px(xy: np.ndarray) -> np.ndarray:
        xy = xy[np.linalg.norm(xy - center, axis=1) < span]
        p = (xy - center) * scale
        return np.round(np.stack([size / 2 + p[:, 0], size / 2 - p[:, 1]], -1) * 16).astype(np.int32)

    for e in edges:
        cv2.polylines(img, [px(e)], False, (90, 90, 90), 1, cv2.LINE_AA, 4)
    cv2.polylines(img, [px(route_xy)], False, (200, 160, 40), 1, cv2.LINE_AA, 4)
    for k, (name, xy) in enumerate(paths.items()):
        color = COLORS.get(name, tuple(int(c) for c in cv2.applyColorMap(np.uint8([[k * 60]]), 2)[0, 0]))
        cv2.polylines(img, [px(xy)], False, color, 2, cv2.LINE_AA, 4)
        cv2.putText(img, name, (8, 18 + 16 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1, cv2.LINE_AA)
    return img


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    import torch

    return float(psnr(torch.from_numpy(a), torch.from_numpy(b)).mean())


def run_counterfactual(
    start: Any,
    branches: dict[str, float],
    steps: int,
    out_dir: str | Path,
    speed: float = -0.2,
    env_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Dream ``branches`` (name -> normalised steering, speed command ``speed``) for ``steps`` steps from
    ``start`` (a simulator seed or scenario dict, a Clip, or an image) and write video, bird's-eye PNG, contact
    sheet and ``metrics.json`` into ``out_dir``. Returns the metrics."""
    t_start = time.perf_counter()
    out = Path(out_dir)
    env = WorldDreamerDriveEnv(**(env_kwargs or {}))
    _, info0 = env.reset(seed=seed, options={"start": start})
    st = env.start
    names = list(branches)
    core = env.core.select([0] * len(names))
    actions = np.array([[branches[n], speed] for n in names], np.float64)
    first = env.core.frames[0]
    dreams, poses = [[first] for _ in names], [[info0["pose"]] for _ in names]
    for _ in tqdm(range(steps), desc="dreaming", unit="step", disable=not progress):
        frames, _, _ = core.step(actions)
        for b in range(len(names)):
            dreams[b].append(frames[b])
            poses[b].append(core.info(b)["pose"])
    dt_dream = time.perf_counter() - t_start
    gt = None
    if st.sim is not None:  # the simulator forked at the same moment, driven by the same actions
        sim, fork = st.sim, st.sim.get_state()
        gt = []
        for b in tqdm(range(len(names)), desc="ground truth", unit="branch", disable=not progress):
            sim.set_state(fork)
            frames = [sim.render()]
            for _ in range(steps):
                frames.append(sim.step(actions[b]).frame)
            gt.append(frames)
    hfov = st.sim.cfg.camera.hfov_deg if st.sim is not None else 80.0
    metrics: dict[str, Any] = {
        "start": st.info, "text": st.text, "steps": steps, "speed_command": speed, "seed": seed,
        "sampler": {"steps": env.sampler.steps, "temperature": env.sampler.temperature,
                    "guidance_scale": env.sampler.guidance_scale},
        "dream_seconds": round(dt_dream, 2), "branches": {},
    }  # fmt: skip
    for b, name in enumerate(names):
        d = np.stack(dreams[b])
        p = np.stack(poses[b])
        m = {
            "steering": branches[name],
            "heading_change_rad": float(p[-1, 2] - p[0, 2]),  # of the ego kinematics (= simulator's)
            "dream_heading_change_est_rad": float(estimate_yaw(d, hfov).sum()),
            "distance_m": float(np.sum(np.linalg.norm(np.diff(p[:, :2], axis=0), axis=1))),
        }
        if gt is not None:
            g = np.stack(gt[b])
            m["psnr_db"] = _psnr(d[1:], g[1:])
            m["psnr_db_per_step"] = [round(_psnr(d[t], g[t]), 2) for t in range(1, len(d))]
            m["gt_heading_change_est_rad"] = float(estimate_yaw(g, hfov).sum())
        true, est = m["heading_change_rad"], m["dream_heading_change_est_rad"]
        # a turn must be read off the frames with its sign; "straight" within 0.1 rad of the truth
        m["yaw_agrees"] = bool(np.sign(est) == np.sign(true) if abs(true) >= 0.05 else abs(est - true) < 0.1)
        metrics["branches"][name] = m
    # media: per step, a row of branches (dream above ground truth when there is one)
    video = []
    for t in range(steps + 1):
        top = np.concatenate([dreams[b][t] for b in range(len(names))], axis=1)
        panel = top if gt is None else np.concatenate([top, np.concatenate([g[t] for g in gt], axis=1)], axis=0)
        video.append(upscale(panel, 3))
    write_video(out / "counterfactual.mp4", video, fps=10)
    write_video(out / "counterfactual.gif", video[::2], fps=5)
    picks = np.linspace(0, steps, 6).astype(int)
    rows, labels = [], []
    for b, name in enumerate(names):
        rows.append([dreams[b][t] for t in picks])
        labels.append(f"{name} dream")
        if gt is not None:
            rows.append([gt[b][t] for t in picks])
            labels.append(f"{name} truth")
    write_png(out / "contact_sheet.png", upscale(contact_sheet(rows, labels), 2))
    edges = []
    if st.sim is not None:
        road = st.sim.world.road
        edges = [road.pose_at(road.s, side * road.paved_half_width_m)[0] for side in (-1, 1)]
    paths = {n: np.stack(poses[b])[:, :2] for b, n in enumerate(names)}
    write_png(out / "birdseye.png", birdseye(st.route.xy, paths, edges))
    write_json(out / "metrics.json", metrics)
    env.close()
    return metrics


def format_table(metrics: dict[str, Any]) -> str:
    """The short table ``drivedreamer demo`` prints."""
    lines = [f"start: {metrics['start']}  text: {metrics['text']!r}", ""]
    head = f"{'branch':<12}{'PSNR vs truth [dB]':>20}{'heading true [deg]':>20}{'dream est. [deg]':>18}{'agrees':>8}"
    lines.append(head)
    for name, m in metrics["branches"].items():
        ps = f"{m['psnr_db']:.2f}" if "psnr_db" in m else "n/a"
        lines.append(
            f"{name:<12}{ps:>20}{np.rad2deg(m['heading_change_rad']):>20.1f}"
            f"{np.rad2deg(m['dream_heading_change_est_rad']):>18.1f}{'yes' if m['yaw_agrees'] else 'no':>8}"
        )
    return "\n".join(lines)
