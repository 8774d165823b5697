"""The reference route a dream episode is scored against: a polyline with arc length and a lateral signed offset.

A simulator start uses the centre of the ego's lane; a Clip start uses its logged path; an image start a
straight line ahead. Past its last point a route continues straight, so progress never saturates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXTEND_M = 2000.0  # straight continuation past the last point [m]


@dataclass
class Route:
    """Polyline ``xy`` (N, 2) [m] in the ego's world frame; ``s`` (N,) arc length [m]."""

    xy: np.ndarray
    s: np.ndarray

    @classmethod
    def from_points(cls, xy: np.ndarray, extend_m: float = EXTEND_M) -> Route:
        """A route through ``xy`` (N >= 2 distinct points), extended straight by ``extend_m`` past the end."""
        xy = np.asarray(xy, dtype=np.float64)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError(f"route points must have shape (N, 2), got {xy.shape}")
        keep = np.concatenate([[True], np.linalg.norm(np.diff(xy, axis=0), axis=1) > 1e-6])
        xy = xy[keep]
        if len(xy) < 2:
            raise ValueError("a route needs at least two distinct points")
        tangent = xy[-1] - xy[-2]
        xy = np.vstack([xy, xy[-1] + tangent / np.linalg.norm(tangent) * extend_m])
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
        return cls(xy, s)

    @classmethod
    def straight(cls, x: float, y: float, heading: float, length_m: float = EXTEND_M) -> Route:
        """A straight line from ``(x, y)`` along ``heading``."""
        d = np.array([np.cos(heading), np.sin(heading)])
        return cls.from_points(np.array([[x, y], [x + d[0], y + d[1]]]), extend_m=length_m)

    def project(self, xy: np.ndarray, s_hint: float, window_m: float = 40.0) -> tuple[float, float, float]:
        """``(s, d, heading)`` of point ``xy``: arc length, signed offset (+ left of the route) and route heading,
        searching the segments within ``s_hint +- window_m``."""
        p = np.asarray(xy, dtype=np.float64)
        lo = max(int(np.searchsorted(self.s, s_hint - window_m)) - 1, 0)
        hi = min(int(np.searchsorted(self.s, s_hint + window_m)) + 1, len(self.s) - 1)
        a, b = self.xy[lo:hi], self.xy[lo + 1 : hi + 1]
        ab = b - a
        length2 = np.sum(ab * ab, axis=1)
        u = np.clip(np.sum((p - a) * ab, axis=1) / length2, 0.0, 1.0)
        closest = a + ab * u[:, None]
        k = int(np.argmin(np.sum((closest - p) ** 2, axis=1)))
        seg = ab[k] / np.sqrt(length2[k])
        rel = p - a[k]
        d = float(seg[0] * rel[1] - seg[1] * rel[0])
        s = float(self.s[lo + k] + u[k] * np.sqrt(length2[k]))
        return s, d, float(np.arctan2(seg[1], seg[0]))
