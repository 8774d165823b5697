"""Clips to episodes: validate each clip's meta, time-stamp and name its frames, and write them as JPEGs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.io_utils import write_bytes
from drivedreamer_env.nuscenes.schema import CHANNEL
from drivedreamer_env.nuscenes.writer.constants import (
    BASE_UTIME_US,
    FALLBACK_HALF_WIDTH_M,
    JPEG_QUALITY,
    ROUTE_RADIUS_M,
    SCENE_SPACING_US,
)
from drivedreamer_env.nuscenes.writer.naming import NuScenesExportError
from drivedreamer_env.units import VehicleGeometry, yaw_rate_to_steering


@dataclasses.dataclass
class Episode:
    """One clip, reduced to what the tables and CAN files need (the frames are written and dropped)."""

    name: str  # scene-NNNN
    text: str
    source: dict[str, Any]  # sim scene id, seed, style
    t_s: np.ndarray  # (T,) clip timestamps [s]
    utimes: np.ndarray  # (T,) int64 [us], offset to this scene's slot
    keyframes: np.ndarray  # (K,) frame indices of the samples
    filenames: list[str]  # (T,) image paths relative to the dataroot
    height: int
    width: int
    speed_mps: np.ndarray  # (T,)
    yaw_rate_rps: np.ndarray  # (T,) + left
    steer_rad: np.ndarray  # (T,) road-wheel angle, + left
    poses: np.ndarray  # (T, 3) x [m], y [m], yaw [rad] in the episodes' world frame
    signals: dict[str, np.ndarray]  # left_signal / right_signal (T,) 0 or 1
    intrinsics: np.ndarray  # (3, 3) [px]
    camera_xyz_m: np.ndarray  # (3,) camera position in the ego frame [m]
    camera_pitch_rad: float  # + looking down
    road_runs: list[np.ndarray]  # (M, 2) centreline pieces near the ego path, world frame [m]
    road_half_width_m: float


def select_keyframes(timestamps_s: np.ndarray, interval_s: float) -> np.ndarray:
    """Indices of the frames closest to ``t0 + k * interval_s`` (k = 0, 1, ... within the clip), unique.

    Args:
        timestamps_s: (T,) strictly increasing [s].
        interval_s: target keyframe spacing [s].

    Returns:
        (K,) int indices into the frames, increasing; always starts with frame 0.
    """
    t = np.asarray(timestamps_s, dtype=np.float64)
    t = t - t[0]
    targets = np.arange(int(np.floor(t[-1] / interval_s + 1e-6)) + 1) * interval_s
    after = np.clip(np.searchsorted(t, targets), 0, len(t) - 1)
    before = np.clip(after - 1, 0, len(t) - 1)
    nearest = np.where(np.abs(t[before] - targets) <= np.abs(t[after] - targets), before, after)
    return np.unique(nearest)


def write_frames(
    named: Iterator[tuple[str, Clip]], root: Path, interval_s: float, geometry: VehicleGeometry
) -> list[Episode]:
    """Write every clip's JPEGs as they arrive (so only one clip's frames are held at a time)."""
    episodes = []
    start_us = BASE_UTIME_US
    for index, (name, clip) in enumerate(named):
        ep = parse_episode(name, clip, index, start_us, interval_s, geometry)
        for frame, filename in zip(clip.frames, ep.filenames, strict=True):
            ok, jpg = cv2.imencode(
                ".jpg", np.ascontiguousarray(frame[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
            )
            if not ok:
                raise NuScenesExportError(f"JPEG encoding failed for {filename}")
            write_bytes(root / filename, jpg.tobytes())
        duration_us = int(ep.utimes[-1] - ep.utimes[0])
        start_us += SCENE_SPACING_US * (duration_us // SCENE_SPACING_US + 1)
        episodes.append(ep)
    return episodes


def parse_episode(
    name: str, clip: Clip, index: int, start_us: int, interval_s: float, geometry: VehicleGeometry
) -> Episode:
    """Validate one clip's meta and build its :class:`Episode` (without writing anything)."""
    where = f"clip {index} ({name})"
    n = len(clip)
    meta = clip.meta
    poses = _meta_array(meta, "poses", (n, 3), where)
    labels = meta.get("labels") or {}
    speed = clip.actions[:, 0].astype(np.float64)
    yaw_rate = clip.actions[:, 1].astype(np.float64)
    if "steer_rad" in labels:
        steer = _meta_array(labels, "steer_rad", (n,), where + " labels")
    else:
        steer = yaw_rate_to_steering(yaw_rate, speed, geometry.wheelbase_m)
    signals = {
        k: (_meta_array(labels, k, (n,), where + " labels") if k in labels else np.zeros(n)).astype(np.int64)
        for k in ("left_signal", "right_signal")
    }
    xyz, pitch = _camera(meta, where)
    runs, half_width = _road_runs(meta, poses[:, :2], where)
    t = clip.timestamps
    utimes = start_us + np.round((t - t[0]) * 1e6).astype(np.int64)
    keyframes = select_keyframes(t, interval_s)
    is_key = np.zeros(n, dtype=bool)
    is_key[keyframes] = True
    filenames = [
        f"{'samples' if k else 'sweeps'}/{CHANNEL}/{name}__{CHANNEL}__{u}.jpg"
        for k, u in zip(is_key, utimes, strict=True)
    ]
    source = _jsonable({k: meta.get(k) for k in ("source", "scene", "seed", "style")})
    h, w = clip.resolution
    return Episode(
        name=name,
        text=clip.text,
        source=source,
        t_s=t,
        utimes=utimes,
        keyframes=keyframes,
        filenames=filenames,
        height=h,
        width=w,
        speed_mps=speed,
        yaw_rate_rps=yaw_rate,
        steer_rad=steer,
        poses=poses,
        signals=signals,
        intrinsics=_meta_array(meta, "intrinsics", (3, 3), where),
        camera_xyz_m=xyz,
        camera_pitch_rad=pitch,
        road_runs=runs,
        road_half_width_m=half_width,
    )


def _meta_array(meta: dict[str, Any], key: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    if key not in meta or meta[key] is None:
        raise NuScenesExportError(f"{where}: meta[{key!r}] is required for the nuScenes export")
    arr = np.asarray(meta[key], dtype=np.float64)
    if arr.shape != shape:
        raise NuScenesExportError(f"{where}: meta[{key!r}] must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise NuScenesExportError(f"{where}: meta[{key!r}] contains NaN or inf")
    return arr


def _camera(meta: dict[str, Any], where: str) -> tuple[np.ndarray, float]:
    cam = meta.get("camera")
    needed = ("x_m", "height_m", "pitch_rad")
    if not isinstance(cam, dict) or any(k not in cam for k in needed):
        raise NuScenesExportError(f"{where}: meta['camera'] must be a dict with keys {needed} (+ optional y_m)")
    xyz = np.array([cam["x_m"], cam.get("y_m", 0.0), cam["height_m"]], dtype=np.float64)
    return xyz, float(cam["pitch_rad"])


def _road_runs(meta: dict[str, Any], poses_xy: np.ndarray, where: str) -> tuple[list[np.ndarray], float]:
    """Pieces of the road centreline within ``ROUTE_RADIUS_M`` of the ego path, and the paved half width."""
    road = meta.get("road")
    if not road:
        return [poses_xy], FALLBACK_HALF_WIDTH_M
    line = np.asarray(road["centerline"], dtype=np.float64)
    if line.ndim != 2 or line.shape[1] != 2 or len(line) == 0:
        raise NuScenesExportError(f"{where}: meta['road']['centerline'] must be (N, 2), got {line.shape}")
    near = np.zeros(len(line), dtype=bool)
    for lo in range(0, len(line), 4096):  # chunks bound the (chunk, T) distance matrix
        d2 = np.sum((line[lo : lo + 4096, None, :] - poses_xy[None, :, :]) ** 2, axis=-1)
        near[lo : lo + 4096] = d2.min(axis=1) <= ROUTE_RADIUS_M**2
    breaks = np.flatnonzero(np.diff(near.astype(np.int8))) + 1
    runs = [seg for seg, keep in zip(np.split(line, breaks), np.split(near, breaks), strict=True) if keep[0]]
    return runs or [poses_xy], float(road["half_width_m"])


def _jsonable(obj: Any) -> Any:
    """Plain JSON data from meta values that may hold numpy scalars/arrays or dataclasses."""

    def default(o: Any) -> Any:
        if isinstance(o, (np.generic, np.ndarray)):
            return o.tolist()
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        return str(o)

    return json.loads(json.dumps(obj, default=default))
