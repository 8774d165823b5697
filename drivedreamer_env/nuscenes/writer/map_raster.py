"""The shared map: global offset and raster size for all episodes, and the drivable-area mask in MapMask layout."""

from __future__ import annotations

import dataclasses
import warnings

import cv2
import numpy as np

from drivedreamer_env.nuscenes.writer.constants import MAP_MARGIN_M, NATIVE_MAP_RESOLUTION_M
from drivedreamer_env.nuscenes.writer.episode import Episode


@dataclasses.dataclass
class MapPlan:
    offset_m: np.ndarray  # (2,) added to world x, y to get nuScenes global coordinates
    resolution_m: float  # [m/px]
    size_px: tuple[int, int]  # (width, height)


def plan_map(episodes: list[Episode], max_map_px: int) -> MapPlan:
    """Global offset and raster size so that every road and pose lies on the map with a margin.

    Warns (attributed to the caller of ``export_nuscenes``, which must call this directly) when the raster has
    to be coarsened past ``max_map_px``.
    """
    lo = np.full(2, np.inf)
    hi = np.full(2, -np.inf)
    for ep in episodes:
        for pts, pad in [(ep.poses[:, :2], 0.0)] + [(run, ep.road_half_width_m) for run in ep.road_runs]:
            lo = np.minimum(lo, pts.min(axis=0) - pad)
            hi = np.maximum(hi, pts.max(axis=0) + pad)
    offset = np.ceil(MAP_MARGIN_M - lo)  # whole metres keep the global coordinates readable
    extent = hi + offset + MAP_MARGIN_M
    resolution = NATIVE_MAP_RESOLUTION_M
    if extent.max() / resolution > max_map_px:
        resolution = round(float(np.ceil(extent.max() / max_map_px / 0.05)) * 0.05, 2)
        warnings.warn(
            f"map extent {extent.max():.0f} m exceeds {max_map_px} px at 0.1 m/px; writing {resolution} "
            "m/px, which the devkit's MapMask (it assumes 0.1 m/px) misplaces; raise max_map_px to keep 0.1",
            stacklevel=3,
        )
    width, height = (int(np.ceil(e / resolution)) for e in extent)
    return MapPlan(offset, resolution, (width, height))


def rasterize_map(episodes: list[Episode], plan: MapPlan) -> np.ndarray:
    """(H, W) uint8 drivable-area mask in the devkit's MapMask layout (global y up = image row down)."""
    width, height = plan.size_px
    img = np.zeros((height, width), dtype=np.uint8)
    sub = 16  # cv2 fixed-point drawing with 4 fractional bits
    for ep in episodes:
        thickness = max(1, round(2.0 * ep.road_half_width_m / plan.resolution_m))
        for run in ep.road_runs:
            g = run + plan.offset_m
            px = np.stack([g[:, 0] / plan.resolution_m, height - g[:, 1] / plan.resolution_m], axis=-1)
            pts = np.round(px * sub).astype(np.int32)
            if len(pts) == 1:
                cv2.circle(img, tuple(pts[0]), thickness * sub // 2, 255, -1, cv2.LINE_8, shift=4)
            else:
                cv2.polylines(img, [pts], False, 255, thickness, cv2.LINE_8, shift=4)
    return img
