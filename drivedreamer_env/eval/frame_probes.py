"""Measurements read off frames alone, validated on ground-truth simulator frames before they judge dreams.

* :func:`estimate_yaw`: heading change between frames from the horizontal image shift of the upper part of
  the frame (phase correlation): turning left moves the scene right, so a positive shift is a left turn.
* :class:`StyleClassifier`: time of day x weather from colour layout and texture statistics (multinomial
  logistic regression), trained on ground-truth frames of known style.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from drivedreamer_env.sim.config import TIMES_OF_DAY, WEATHERS

STYLES = tuple(f"{t}, {w}" for t in TIMES_OF_DAY for w in WEATHERS)


def estimate_yaw(frames: np.ndarray, hfov_deg: float = 80.0, band: float = 0.6) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T-1,) estimated yaw change per frame step [rad] (+ = left)."""
    h, w = frames.shape[1:3]
    fx = (w / 2) / math.tan(math.radians(hfov_deg) / 2)
    rows = int(h * band)
    win = cv2.createHanningWindow((w, rows), cv2.CV_32F)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[:rows].astype(np.float32) for f in frames]
    out = []
    for a, b in itertools.pairwise(gray):
        (dx, _), _ = cv2.phaseCorrelate(a, b, win)
        out.append(math.atan(dx / fx))
    return np.array(out)


def style_features(frames: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, F) float32: 4x8 colour layout, brightness/contrast and edge energy."""
    feats = []
    for f in frames:
        small = cv2.resize(f, (8, 4), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        gray = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        lap = np.abs(cv2.Laplacian(gray, cv2.CV_32F)).mean()
        hsv = cv2.cvtColor(f, cv2.COLOR_RGB2HSV).astype(np.float32) / 255.0
        extra = [gray.mean(), gray.std(), lap, hsv[..., 1].mean(), gray[: gray.shape[0] // 2].std()]
        feats.append(np.concatenate([small.ravel(), extra]))
    return np.asarray(feats, np.float32)


@dataclass
class StyleClassifier:
    weight: torch.Tensor
    bias: torch.Tensor
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, frames: np.ndarray, labels: np.ndarray, steps: int = 600, seed: int = 0) -> StyleClassifier:
        x = style_features(frames)
        mean, std = x.mean(0), x.std(0) + 1e-6
        xt = torch.from_numpy((x - mean) / std)
        y = torch.from_numpy(labels.astype(np.int64))
        torch.manual_seed(seed)
        lin = torch.nn.Linear(xt.shape[1], len(STYLES))
        opt = torch.optim.Adam(lin.parameters(), lr=0.05, weight_decay=1e-3)
        for _ in range(steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(lin(xt), y).backward()
            opt.step()
        return cls(lin.weight.detach(), lin.bias.detach(), mean, std)

    def predict(self, frames: np.ndarray) -> np.ndarray:
        x = torch.from_numpy((style_features(frames) - self.mean) / self.std)
        return (x @ self.weight.T + self.bias).argmax(-1).numpy()
