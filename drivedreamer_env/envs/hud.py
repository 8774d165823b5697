"""The ``render()`` picture: the dream frame upscaled, with a small HUD (steering, speed, step, events)."""

from __future__ import annotations

import cv2
import numpy as np

from drivedreamer_env.media import upscale


def draw_hud(frame: np.ndarray, steering: float, speed_mps: float, step: int, events: dict[str, float],
             scale: int = 4) -> np.ndarray:  # fmt: skip
    """``frame`` (H, W, 3) uint8 upscaled ``scale`` times with a steering bar, speed, step and event readouts."""
    img = np.ascontiguousarray(upscale(frame, scale))
    h, w = img.shape[:2]
    band = max(18, h // 12)
    img[-band:] = (img[-band:].astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken the bottom band
    font, fs, th = cv2.FONT_HERSHEY_SIMPLEX, band / 40.0, 1
    y = h - band // 3
    cv2.putText(img, f"{speed_mps * 3.6:5.1f} km/h", (6, y), font, fs, (255, 255, 255), th, cv2.LINE_AA)
    cv2.putText(img, f"step {step}", (w - int(band * 3.2), y), font, fs, (255, 255, 255), th, cv2.LINE_AA)
    # steering bar: centre tick, filled to the left for +steering (left), to the right for -steering
    cx, bw, by = w // 2, w // 5, h - band // 2
    cv2.rectangle(img, (cx - bw, by - 3), (cx + bw, by + 3), (90, 90, 90), -1)
    end = int(cx - np.clip(steering, -1, 1) * bw)
    cv2.rectangle(img, (min(cx, end), by - 3), (max(cx, end), by + 3), (80, 200, 255), -1)
    cv2.line(img, (cx, by - 6), (cx, by + 6), (255, 255, 255), 1)
    risky = [f"{k} {p:.2f}" for k, p in events.items() if p > 0.2]
    if risky:
        cv2.putText(img, "  ".join(risky), (6, band), font, fs, (255, 80, 80), th, cv2.LINE_AA)
    return img
