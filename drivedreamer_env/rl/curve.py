"""The episode log as CSV and the learning curve as a PNG (drawn with OpenCV; no plotting library needed)."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from drivedreamer_env.io_utils import write_bytes
from drivedreamer_env.media import write_png
from drivedreamer_env.rl.callbacks import RECENT_EPISODES, EpisodeRecord

FIELDS = tuple(f.name for f in dataclasses.fields(EpisodeRecord))
SIZE = (420, 720)  # (H, W) [px]
MARGIN = (40, 40, 50, 70)  # top, right, bottom, left [px]
FONT = cv2.FONT_HERSHEY_SIMPLEX


def write_episodes(path: str | Path, records: Sequence[EpisodeRecord]) -> None:
    """Write the episode log (one row per episode: ``step, ret, length, wall_s``) atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(FIELDS)
    writer.writerows(dataclasses.astuple(r) for r in records)
    write_bytes(path, buf.getvalue().encode())


def read_episodes(path: str | Path, up_to_step: int | None = None) -> list[EpisodeRecord]:
    """The episode log of :func:`write_episodes` (empty when there is none), up to ``up_to_step`` env steps."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    records = [EpisodeRecord(int(r["step"]), float(r["ret"]), int(r["length"]), float(r["wall_s"])) for r in rows]
    return [r for r in records if up_to_step is None or r.step <= up_to_step]


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each value and the up to ``window - 1`` before it."""
    c = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    end = np.arange(1, len(values) + 1)
    start = np.maximum(end - window, 0)
    return (c[end] - c[start]) / (end - start)


def _ticks(lo: float, hi: float, count: int = 5) -> np.ndarray:
    return np.linspace(lo, hi, count)


def learning_curve(records: Sequence[EpisodeRecord], title: str, env_steps: int | None = None) -> np.ndarray:
    """An RGB image: every episode's return (grey dots) against env steps (the x axis ends at ``env_steps``,
    default the last episode's), and the moving mean over :data:`RECENT_EPISODES` episodes (blue line)."""
    h, w = SIZE
    top, right, bottom, left = MARGIN
    img = np.full((h, w, 3), 255, np.uint8)
    cv2.putText(img, title, (left, 14), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    x0, x1, y0, y1 = left, w - right, h - bottom, top  # plot box; y grows downwards
    cv2.rectangle(img, (x0, y1), (x1, y0), (0, 0, 0), 1)
    cv2.putText(img, "env steps", ((x0 + x1) // 2 - 30, h - 10), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "return", (5, y1 - 10), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    if not records:
        cv2.putText(img, "no finished episode yet", (x0 + 20, (y0 + y1) // 2), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        return img
    steps = np.array([r.step for r in records], np.float64)
    rets = np.array([r.ret for r in records], np.float64)
    s_hi = max(float(steps.max()), float(env_steps or 0), 1.0)
    r_lo, r_hi = float(rets.min()), float(rets.max())
    pad = max(0.05 * (r_hi - r_lo), 0.5)  # keep the extreme dots off the frame
    r_lo, r_hi = r_lo - pad, r_hi + pad

    def px(s: np.ndarray, r: np.ndarray) -> np.ndarray:
        x = x0 + (s / s_hi) * (x1 - x0)
        y = y0 - (r - r_lo) / (r_hi - r_lo) * (y0 - y1)
        return np.stack([x, y], axis=-1).round().astype(np.int32)

    for s in _ticks(0.0, s_hi):
        x = int(px(np.array([s]), np.array([r_lo]))[0, 0])
        cv2.line(img, (x, y0), (x, y0 + 4), (0, 0, 0), 1)
        cv2.putText(img, f"{s:,.0f}", (x - 18, y0 + 18), FONT, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    for r in _ticks(r_lo, r_hi):
        y = int(px(np.array([0.0]), np.array([r]))[0, 1])
        cv2.line(img, (x0 - 4, y), (x0, y), (0, 0, 0), 1)
        cv2.putText(img, f"{r:.1f}", (5, y + 4), FONT, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    for x, y in px(steps, rets):
        cv2.circle(img, (int(x), int(y)), 2, (170, 170, 170), -1, cv2.LINE_AA)
    line = px(steps, moving_average(rets, RECENT_EPISODES))
    cv2.polylines(img, [line.reshape(-1, 1, 2)], False, (30, 90, 220), 2, cv2.LINE_AA)
    legend = f"{len(records)} episodes; line: mean of the last {RECENT_EPISODES}"
    cv2.putText(img, legend, (x1 - 300, y1 - 8), FONT, 0.4, (30, 90, 220), 1, cv2.LINE_AA)
    return img


def write_learning_curve(
    path: str | Path, records: Sequence[EpisodeRecord], title: str, env_steps: int | None = None
) -> None:
    """Write :func:`learning_curve` as a PNG, atomically."""
    write_png(path, learning_curve(records, title, env_steps))
