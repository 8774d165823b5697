"""Procedural roads: a centreline integrated from a piecewise curvature profile, with lanes either side.

Road coordinates: ``s`` [m] along the centreline, ``d`` [m] lateral, positive to the left of the direction of
increasing ``s``. Traffic keeps right: the ego's direction uses lanes at ``d < 0``, oncoming traffic ``d > 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivedreamer_env.units import wrap_angle

DS_M = 0.5  # centreline sample spacing [m]


@dataclass
class Road:
    """A sampled centreline and its cross-section.

    Attributes:
        s: (N,) arc length of each sample [m], spacing ``DS_M``.
        xy: (N, 2) world position of each sample [m].
        heading: (N,) tangent direction [rad].
        curvature: (N,) signed curvature [1/m], positive curving left.
        lanes_per_direction: 1..3.
        lane_width_m: [m].
        shoulder_m: paved shoulder beyond each edge line [m].
        sidewalk_m: sidewalk width beyond the shoulder, 0 on rural roads [m].
    """

    s: np.ndarray
    xy: np.ndarray
    heading: np.ndarray
    curvature: np.ndarray
    lanes_per_direction: int
    lane_width_m: float
    shoulder_m: float
    sidewalk_m: float

    @property
    def length_m(self) -> float:
        return float(self.s[-1])

    @property
    def edge_m(self) -> float:
        """|d| of the edge lines [m]."""
        return self.lanes_per_direction * self.lane_width_m

    @property
    def paved_half_width_m(self) -> float:
        """|d| beyond which the ego is off the road [m] (edge line plus shoulder)."""
        return self.edge_m + self.shoulder_m

    def lane_center_d(self, lane: int) -> float:
        """Lateral centre of ego-direction lane ``lane`` [m]; lane 0 is next to the centre line."""
        return -(lane + 0.5) * self.lane_width_m

    def pose_at(self, s: np.ndarray | float, d: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """World position (..., 2) and road heading (...) at road coordinates ``(s, d)``."""
        s = np.clip(np.asarray(s, dtype=np.float64), self.s[0], self.s[-1])
        i = np.minimum((s / DS_M).astype(np.int64), len(self.s) - 2)
        frac = (s - self.s[i]) / DS_M
        xy = self.xy[i] + (self.xy[i + 1] - self.xy[i]) * frac[..., None]
        heading = self.heading[i] + wrap_angle(self.heading[i + 1] - self.heading[i]) * frac
        normal = np.stack([-np.sin(heading), np.cos(heading)], axis=-1)
        return xy + normal * np.asarray(d, dtype=np.float64)[..., None], heading

    def project(self, xy: np.ndarray, s_hint: float, window_m: float = 30.0) -> tuple[float, float]:
        """Road coordinates ``(s, d)`` of world point ``xy`` searching ``s_hint +- window_m``."""
        lo = max(int((s_hint - window_m) / DS_M), 0)
        hi = min(int((s_hint + window_m) / DS_M) + 2, len(self.s))
        seg = self.xy[lo:hi]
        i = lo + int(np.argmin(np.sum((seg - xy) ** 2, axis=1)))
        i = min(max(i, 0), len(self.s) - 2)
        tangent = self.xy[i + 1] - self.xy[i]
        tangent /= np.linalg.norm(tangent)
        rel = np.asarray(xy) - self.xy[i]
        along = float(rel @ tangent)
        d = float(tangent[0] * rel[1] - tangent[1] * rel[0])
        return float(self.s[i] + along), d


def curvature_profile(rng: np.random.Generator, length_m: float, max_curvature: float) -> np.ndarray:
    """Piecewise curvature: straights and left/right arcs joined by linear (clothoid-like) transitions."""
    n = int(length_m / DS_M) + 1
    kappa = np.zeros(n)
    i = 0
    current = 0.0
    while i < n:
        if rng.random() < 0.4:  # straight
            target, seg_len = 0.0, rng.uniform(30.0, 150.0)
        else:  # an arc turning 20-110 degrees, tight ones sometimes
            radius = rng.uniform(1.0 / max_curvature, 300.0) if rng.random() < 0.5 else rng.uniform(60.0, 400.0)
            target = rng.choice([-1.0, 1.0]) / radius
            seg_len = np.deg2rad(rng.uniform(20.0, 110.0)) * radius
        ramp = int(rng.uniform(10.0, 25.0) / DS_M)
        hold = max(int(seg_len / DS_M), 1)
        kappa[i : i + ramp] = np.linspace(current, target, ramp + 2)[1:-1][: max(0, min(ramp, n - i))]
        kappa[i + ramp : i + ramp + hold] = target
        current = target
        i += ramp + hold
    return kappa


def generate_road(
    rng: np.random.Generator,
    length_m: float,
    lanes_per_direction: int,
    lane_width_m: float,
    urban: bool,
    max_curvature: float,
    straight_start_m: float = 60.0,
) -> Road:
    """Sample a road; the first ``straight_start_m`` metres are straight so episodes start settled."""
    kappa = curvature_profile(rng, length_m, max_curvature)
    lead = int(straight_start_m / DS_M)
    kappa = np.concatenate([np.zeros(lead), kappa])[: len(kappa)]
    heading = np.concatenate([[0.0], np.cumsum(kappa[:-1] * DS_M)])
    # Midpoint heading per segment keeps the integrated curve consistent with the curvature.
    mid = np.concatenate([[0.0], (heading[:-1] + heading[1:]) * 0.5])
    steps = np.stack([np.cos(mid), np.sin(mid)], axis=-1) * DS_M
    steps[0] = 0.0
    xy = np.cumsum(steps, axis=0)
    s = np.arange(len(kappa)) * DS_M
    shoulder = float(rng.uniform(0.5, 1.0) if urban else rng.uniform(0.8, 2.5))
    sidewalk = float(rng.uniform(2.0, 3.5)) if urban else 0.0
    return Road(s, xy, heading, kappa, lanes_per_direction, lane_width_m, shoulder, sidewalk)
