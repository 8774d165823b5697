"""Train / validation split counted in windows: the tail of every clip, in proportion to its windows.

A clip of ``L`` frames holds ``L // window`` non-overlapping windows. ``fraction`` of all windows (rounded, at
least one when ``fraction > 0`` and there are two or more) go to validation, spread over the clips in proportion
to their windows (largest remainder), each taken from the end of its clip so no training window overlaps a
validation one, and each clip keeps at least one training window. One long clip therefore no longer goes to
validation whole, and a single clip still gets a held-out tail.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class WindowSplit:
    """Per clip, the frames that train (``[0, train_frames[i])``) and validate (``[train_frames[i], L_i)``)."""

    train_frames: list[int]
    val_frames: list[int]
    train_windows: int
    val_windows: int

    @property
    def val_clips(self) -> int:
        return sum(1 for v in self.val_frames if v > 0)

    def describe(self, unit: str = "windows") -> str:
        """One log line: how much went to validation."""
        total = self.train_windows + self.val_windows
        if not self.val_windows:
            return f"validation: none held out ({total} {unit}, too few to split); validating on training {unit}"
        share = 100.0 * self.val_windows / total
        return (
            f"validation: {self.val_windows} of {total} {unit} ({share:.1f} %) held out from the tails of "
            f"{self.val_clips} of {len(self.val_frames)} clips; training on {self.train_windows}"
        )


def split_windows(lengths: Sequence[int], window: int, fraction: float) -> WindowSplit:
    """Split clips of ``lengths`` frames into training heads and validation tails (see the module docstring).

    Args:
        lengths: frames per clip.
        window: frames per window (1 for frame-level training).
        fraction: share of the windows held out, in [0, 1).

    Raises:
        ValueError: ``fraction`` outside [0, 1) or ``window`` < 1.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"--val-fraction must be in [0, 1), got {fraction}")
    if window < 1:
        raise ValueError(f"window must be >= 1 frame, got {window}")
    windows = [n // window for n in lengths]
    total = sum(windows)
    want = max(1, round(fraction * total)) if fraction > 0 and total >= 2 else 0
    quota = [fraction * w for w in windows]
    val = [min(math.floor(q), max(w - 1, 0)) for q, w in zip(quota, windows, strict=True)]
    # hand out the rest by largest remainder, never taking a clip's last training window
    order = sorted(range(len(windows)), key=lambda i: (quota[i] - val[i], windows[i]), reverse=True)
    while sum(val) < want:
        open_clips = [i for i in order if val[i] < windows[i] - 1]
        if not open_clips:
            break
        val[open_clips[0]] += 1
        order = sorted(range(len(windows)), key=lambda i: (quota[i] - val[i], windows[i]), reverse=True)
    val_frames = [v * window for v in val]
    train_frames = [n - v for n, v in zip(lengths, val_frames, strict=True)]
    return WindowSplit(train_frames, val_frames, total - sum(val), sum(val))
