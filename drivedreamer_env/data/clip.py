"""``Clip``: the one data type every source produces and every consumer reads (see ARCHITECTURE.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class ClipError(ValueError):
    """A clip's arrays do not have the documented shapes, dtypes or values."""


@dataclass
class Clip:
    """A stretch of front-camera video with ego actions and a caption.

    Attributes:
        frames: uint8 ``(T, H, W, 3)`` RGB.
        timestamps: float64 ``(T,)`` seconds, strictly increasing, real spacing.
        actions: float32 ``(T, 2)``: ``[speed m/s, yaw_rate rad/s]`` of the step t -> t+1 (the last row repeats
            the last known action when the next frame is not part of the clip).
        text: caption, "" when none.
        meta: anything else: ``source``, ``scene``, camera ``intrinsics`` (3x3 list), and optionally
            ``labels`` (name -> ``(T,)`` array) and ``poses`` (``(T, 3)`` x, y, yaw in a world frame).
    """

    frames: np.ndarray
    timestamps: np.ndarray
    actions: np.ndarray
    text: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64)
        self.actions = np.asarray(self.actions, dtype=np.float32)
        f, t, a = self.frames, self.timestamps, self.actions
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 4 or f.shape[-1] != 3:
            shape = getattr(f, "shape", None)
            raise ClipError(f"frames must be uint8 (T, H, W, 3) RGB, got {getattr(f, 'dtype', type(f))} {shape}")
        n = f.shape[0]
        if n == 0:
            raise ClipError("a clip needs at least one frame")
        if t.shape != (n,):
            raise ClipError(f"timestamps must have shape ({n},) to match frames, got {t.shape}")
        if a.shape != (n, 2):
            raise ClipError(f"actions must have shape ({n}, 2) [speed m/s, yaw_rate rad/s], got {a.shape}")
        if n > 1 and np.any(np.diff(t) <= 0):
            raise ClipError("timestamps must be strictly increasing")
        if not np.all(np.isfinite(a)):
            raise ClipError("actions contain NaN or inf")
        if not isinstance(self.text, str):
            raise ClipError(f"text must be a str, got {type(self.text).__name__}")

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def fps(self) -> float:
        """Mean frame rate [Hz] from the real timestamps (0 for a single frame)."""
        if len(self) < 2:
            return 0.0
        return float((len(self) - 1) / (self.timestamps[-1] - self.timestamps[0]))

    @property
    def resolution(self) -> tuple[int, int]:
        """(H, W) in pixels."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def slice(self, start: int, stop: int) -> Clip:
        """Frames ``[start, stop)`` as a new clip; per-frame ``labels`` and ``poses`` are sliced too."""
        meta = dict(self.meta)
        if "labels" in meta:
            meta["labels"] = {k: np.asarray(v)[start:stop] for k, v in meta["labels"].items()}
        if "poses" in meta:
            meta["poses"] = np.asarray(meta["poses"])[start:stop]
        meta["start_index"] = int(meta.get("start_index", 0)) + start
        return Clip(self.frames[start:stop], self.timestamps[start:stop], self.actions[start:stop], self.text, meta)
