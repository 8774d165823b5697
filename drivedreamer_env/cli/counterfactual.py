"""``drivedreamer counterfactual``: branch one start into several steering futures, write videos and metrics.

The branches are dreamt and scored by :func:`drivedreamer_env.eval.counterfactual.run_counterfactual`; this
module parses the branches, prints the table and writes ``counterfactual.mp4`` / ``.gif`` (dreams on top,
ground truth below), ``contact_sheet.png``, ``birdseye.png`` and ``metrics.json`` into ``--out``.
``drivedreamer demo`` (:mod:`drivedreamer_env.cli.demo`) runs the same handler with the demo's defaults.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from drivedreamer_env.cli.env_options import add_env_options, make_env_kwargs, parse_start

if TYPE_CHECKING:
    from drivedreamer_env.eval.counterfactual import CounterfactualReport

# normalised steering command of the named branches (+1 = full left = 0.5 rad road-wheel angle)
BRANCH_STEER_NORMALIZED = {"hard-left": 0.5, "left": 0.25, "straight": 0.0, "right": -0.25, "hard-right": -0.5}
COLORS = {"left": (40, 80, 220), "straight": (40, 160, 40), "right": (220, 50, 40)}  # RGB
DEFAULT_BRANCHES = "left,straight,right"
DEFAULT_SPEED = -0.2  # normalised speed command (8 m/s)
SHEET_COLUMNS = 6  # evenly spaced steps shown in the contact sheet


def parse_branches(spec: str) -> dict[str, float]:
    """``"left,straight,right"`` or ``"left,0.1,-0.3"`` -> {name: normalised steering}."""
    out = {}
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        if item in BRANCH_STEER_NORMALIZED:
            out[item] = BRANCH_STEER_NORMALIZED[item]
            continue
        try:
            out[f"steer{float(item):+.2f}"] = float(np.clip(float(item), -1.0, 1.0))
        except ValueError:
            raise ValueError(
                f"branch {item!r}: use names {list(BRANCH_STEER_NORMALIZED)} or steering values in [-1, 1]"
            ) from None
    if not out:
        raise ValueError("give at least one branch, e.g. --branches left,straight,right")
    return out


def birdseye(
    route_xy: np.ndarray, paths: dict[str, np.ndarray], edges: list[np.ndarray], size: int = 400
) -> np.ndarray:
    """Top-down (size, size, 3) RGB image: road edges (grey), the reference route (yellow), each branch's path."""
    import cv2

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


def write_outputs(report: CounterfactualReport, out_dir: str | Path) -> None:
    """Video (per step a row of branches, dream above truth), contact sheet, bird's-eye PNG, ``metrics.json``."""
    from drivedreamer_env.io_utils import write_json
    from drivedreamer_env.media import contact_sheet, upscale, write_png, write_video

    out = Path(out_dir)
    branches = list(report.branches.values())
    video = []
    for t in range(report.steps + 1):
        panel = np.concatenate([b.dream[t] for b in branches], axis=1)
        if all(b.truth is not None for b in branches):
            panel = np.concatenate([panel, np.concatenate([b.truth[t] for b in branches], axis=1)], axis=0)
        video.append(upscale(panel, 3))
    write_video(out / "counterfactual.mp4", video, fps=10)
    write_video(out / "counterfactual.gif", video[::2], fps=5)
    picks = np.linspace(0, report.steps, SHEET_COLUMNS).astype(int)
    rows, labels = [], []
    for name, b in report.branches.items():
        rows.append([b.dream[t] for t in picks])
        labels.append(f"{name} dream")
        if b.truth is not None:
            rows.append([b.truth[t] for t in picks])
            labels.append(f"{name} truth")
    write_png(out / "contact_sheet.png", upscale(contact_sheet(rows, labels), 2))
    paths = {name: b.poses[:, :2] for name, b in report.branches.items()}
    write_png(out / "birdseye.png", birdseye(report.route_xy, paths, report.road_edges_xy))
    write_json(out / "metrics.json", report.metrics())


def format_table(metrics: dict[str, Any]) -> str:
    """The short table ``counterfactual`` and ``demo`` print, from the ``metrics.json`` content.

    On a start without ground truth (an image or a clip: ``heading_reference == "commanded"``) the heading
    column is the bicycle model's commanded heading change, and it is labelled so.
    """
    from drivedreamer_env.eval.counterfactual import STRAIGHT_TOLERANCE_RAD, TURN_SIZE_TOLERANCE

    truth = metrics.get("heading_reference", "truth") == "truth"
    heading = "heading true [deg]" if truth else "commanded [deg]"
    lines = [f"start: {metrics['start']}  text: {metrics['text']!r}", ""]
    head = (
        f"{'branch':<12}{'PSNR vs truth [dB]':>20}{heading:>20}{'truth est. [deg]':>18}"
        f"{'dream est. [deg]':>18}{'agrees':>8}"
    )
    lines.append(head)
    for name, m in metrics["branches"].items():
        ps = f"{m['psnr_db']:.2f}" if "psnr_db" in m else "n/a"
        gt_est = f"{np.rad2deg(m['gt_heading_change_est_rad']):.1f}" if "gt_heading_change_est_rad" in m else "n/a"
        lines.append(
            f"{name:<12}{ps:>20}{np.rad2deg(m['heading_change_rad']):>20.1f}{gt_est:>18}"
            f"{np.rad2deg(m['dream_heading_change_est_rad']):>18.1f}{'yes' if m['yaw_agrees'] else 'no':>8}"
        )
    ref = "the true turn (read off the true frames by the same estimator)" if truth else "the commanded turn"
    lines += [
        "",
        f"agrees: a turn read off the dream with the sign of {ref} and within "
        f"{TURN_SIZE_TOLERANCE * 100:.0f} % of its size; straight: within {STRAIGHT_TOLERANCE_RAD} rad",
    ]
    if not truth:
        lines.append("(no ground truth on this start: the bicycle model's commanded heading change is the reference)")
    return "\n".join(lines)


def cmd_counterfactual(args: argparse.Namespace) -> int:
    """Run, write and print one counterfactual (``counterfactual`` and ``demo``)."""
    from drivedreamer_env.eval.counterfactual import run_counterfactual

    t0 = time.perf_counter()
    start = parse_start(args.start)
    report = run_counterfactual(start, parse_branches(args.branches), args.steps, speed=args.speed,
                                env_kwargs=make_env_kwargs(args), seed=args.seed)  # fmt: skip
    write_outputs(report, args.out)
    print(format_table(report.metrics()))
    print(f"\noutputs in {Path(args.out).resolve()} ({time.perf_counter() - t0:.1f} s)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``counterfactual``."""
    cf = sub.add_parser("counterfactual", help="branch one start into several steering futures")
    cf.add_argument("--start", required=True, help="simulator seed (int), clip source spec, video or image")
    cf.add_argument("--branches", default=DEFAULT_BRANCHES, help="names or normalised steering values")
    cf.add_argument("--steps", type=int, default=40)
    cf.add_argument("--speed", type=float, default=DEFAULT_SPEED, help="normalised speed command (-0.2 = 8 m/s)")
    cf.add_argument("--out", required=True, help="output directory")
    add_env_options(cf)
    cf.set_defaults(func=cmd_counterfactual)
