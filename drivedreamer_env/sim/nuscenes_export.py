"""Write simulator episodes as a dataset in the nuScenes on-disk format (v1.0 schema + CAN bus expansion).

The official devkit (``nuscenes.nuscenes.NuScenes`` and ``nuscenes.can_bus.can_bus_api.NuScenesCanBus``) loads
the result. This module writes plain JSON, JPEG and PNG and never imports the devkit (an optional extra).

Layout of the dataroot::

    <version>/*.json                    the 13 tables (instance and sample_annotation are empty)
    samples/CAM_FRONT/*.jpg             keyframes, about every ``keyframe_interval_s``
    sweeps/CAM_FRONT/*.jpg              every other frame
    maps/<token>.png                    semantic prior: 255 on the paved road, 0 elsewhere
    can_bus/<scene>_{pose,vehicle_monitor,route,meta}.json
    drivedreamer_export.json            provenance: global offset, map resolution, sources, fingerprint

Conventions: ego frame x forward, y left, z up with its origin on the ground under the rear axle; camera frame
x right, y down, z forward; quaternions ``[w, x, y, z]``; timestamps integer microseconds. The global frame is
the episodes' shared world frame shifted by one translation (``global_offset_m`` in the provenance file),
because the devkit's ``MapMask`` puts global (0, 0) at the bottom-left corner of the map raster.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.io_utils import write_bytes, write_json
from drivedreamer_env.units import (
    VehicleGeometry,
    mps_to_kmh,
    rad_to_deg,
    road_wheel_rad_to_steering_wheel_deg,
    yaw_rate_to_steering,
    yaw_to_quaternion,
)

CHANNEL = "CAM_FRONT"
MARKER_FILE = "drivedreamer_export.json"
TABLES = (
    "attribute", "calibrated_sensor", "category", "ego_pose", "instance", "log", "map", "sample",
    "sample_annotation", "sample_data", "scene", "sensor", "visibility",
)  # fmt: skip
# nuscenes.utils.splits.mini_train + mini_val, in that order (copied so the devkit stays optional).
NUSCENES_MINI_SCENES = (
    "scene-0061", "scene-0553", "scene-0655", "scene-0757", "scene-0796", "scene-1077", "scene-1094",
    "scene-1100", "scene-0103", "scene-0916",
)  # fmt: skip
# NuScenesCanBus.can_blacklist (get_messages refuses these) and the scene it warns has no vehicle_monitor.
CAN_BLACKLIST = frozenset((*range(161, 169), *range(170, 177), *range(309, 315)))
CAN_WARNING_SCENES = frozenset({419})

BASE_UTIME_US = 1_533_081_600_000_000  # 2018-08-01 00:00:00 UTC, first scene start
SCENE_SPACING_US = 1_000_000_000  # scenes start on 1000 s boundaries and never overlap in time
JPEG_QUALITY = 95
NATIVE_MAP_RESOLUTION_M = 0.1  # the devkit's MapMask assumes the PNG has 0.1 m/px
MAP_MARGIN_M = 10.0  # empty border around the mapped roads [m]
ROUTE_RADIUS_M = 60.0  # road further than this from every ego pose is left off the map and the route [m]
FALLBACK_HALF_WIDTH_M = 3.5  # drivable corridor around the ego path of a clip without a road [m]
GRAVITY_MPS2 = 9.81  # CAN pose accel carries gravity on z, as the real pose messages do
BRAKE_BAR_PER_MPS2 = 126.0 / 8.0  # proxy brake pressure: full (126 bar) at 8 m/s^2 deceleration
THROTTLE_PER_MPS2 = 1000.0 / 3.0  # proxy pedal position: full (1000) at 3 m/s^2 acceleration
GEAR_DRIVE = 7
DEFAULT_GEOMETRY = VehicleGeometry()  # frozen, so safe as a default argument

CATEGORIES = (
    ("human.pedestrian.adult", "Adult pedestrian moving around the cityscape."),
    ("human.pedestrian.child", "Child pedestrian moving around the cityscape."),
    ("human.pedestrian.wheelchair", "Wheelchair user."),
    ("human.pedestrian.stroller", "Stroller, with or without a child in it."),
    ("human.pedestrian.personal_mobility", "Small electric or self-propelled vehicle ridden by a person."),
    ("human.pedestrian.police_officer", "Police officer."),
    ("human.pedestrian.construction_worker", "Construction worker."),
    ("animal", "Any animal."),
    ("vehicle.car", "Vehicle designed primarily for personal use, e.g. sedans, hatch-backs, SUVs, vans."),
    ("vehicle.motorcycle", "Gasoline or electric powered 2-wheeled vehicle."),
    ("vehicle.bicycle", "Human or electric powered 2-wheeled vehicle designed to travel at lower speeds."),
    ("vehicle.bus.bendy", "Bendy bus subcategory."),
    ("vehicle.bus.rigid", "Rigid bus subcategory."),
    ("vehicle.truck", "Vehicle primarily designed to haul cargo."),
    ("vehicle.construction", "Vehicle designed for construction work."),
    ("vehicle.emergency.ambulance", "Ambulance."),
    ("vehicle.emergency.police", "Police vehicle."),
    ("vehicle.trailer", "Trailer, hauled by a vehicle."),
    ("movable_object.barrier", "Temporary road barrier placed in the scene to redirect traffic."),
    ("movable_object.trafficcone", "Temporary cone placed to redirect traffic."),
    ("movable_object.pushable_pullable", "Object that a pedestrian may push or pull, e.g. a trolley."),
    ("movable_object.debris", "Debris or movable object left on the road."),
    ("static_object.bicycle_rack", "Area or device intended to park or secure bicycles."),
)
ATTRIBUTES = (
    ("vehicle.moving", "Vehicle is moving."),
    ("vehicle.stopped", "Vehicle, with a driver in it, is stationary but intends to move."),
    ("vehicle.parked", "Vehicle is stationary, usually for longer, with no immediate intent to move."),
    ("cycle.with_rider", "There is someone on the bicycle or motorcycle."),
    ("cycle.without_rider", "There is nobody on the bicycle or motorcycle."),
    ("pedestrian.sitting_lying_down", "The human is sitting or lying down."),
    ("pedestrian.standing", "The human is standing."),
    ("pedestrian.moving", "The human is moving."),
)
VISIBILITIES = (
    ("1", "v0-40", "visibility of whole object is between 0 and 40%"),
    ("2", "v40-60", "visibility of whole object is between 40 and 60%"),
    ("3", "v60-80", "visibility of whole object is between 60 and 80%"),
    ("4", "v80-100", "visibility of whole object is between 80 and 100%"),
)


class NuScenesExportError(ValueError):
    """The clips cannot be exported, or the output directory holds something else."""


@dataclasses.dataclass
class _Episode:
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


@dataclasses.dataclass
class _MapPlan:
    offset_m: np.ndarray  # (2,) added to world x, y to get nuScenes global coordinates
    resolution_m: float  # [m/px]
    size_px: tuple[int, int]  # (width, height)


def _jsonable(obj: Any) -> Any:
    """Plain JSON data from meta values that may hold numpy scalars/arrays or dataclasses."""

    def default(o: Any) -> Any:
        if isinstance(o, (np.generic, np.ndarray)):
            return o.tolist()
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        return str(o)

    return json.loads(json.dumps(obj, default=default))


def make_token(kind: str, *parts: object) -> str:
    """Deterministic 32-hex token of a record kind and its identifying parts."""
    key = "/".join(["drivedreamer-nuscenes", kind, *map(str, parts)])
    return hashlib.md5(key.encode()).hexdigest()


def camera_to_ego_rotation_wxyz(pitch_rad: float) -> np.ndarray:
    """Rotation ``[w, x, y, z]`` taking camera-frame vectors (x right, y down, z forward) into the ego frame.

    Args:
        pitch_rad: downward pitch of the optical axis [rad], positive looking down.

    Returns:
        (4,) unit quaternion, the nuScenes ``calibrated_sensor.rotation`` of a front camera.
    """
    # q = q_pitch * q_level, q_pitch = rotation by +pitch about ego y (tips x toward -z),
    # q_level = [0.5, -0.5, 0.5, -0.5] maps camera z -> ego x, camera x -> ego -y, camera y -> ego -z.
    c, s = np.cos(pitch_rad / 2.0), np.sin(pitch_rad / 2.0)
    return 0.5 * np.array([c - s, -(c + s), c + s, -(c - s)])


def scene_names(n_scenes: int, version: str) -> list[str]:
    """nuScenes scene names for ``n_scenes`` exported episodes.

    The official mini names (so that the devkit's ``mini_train`` / ``mini_val`` splits work) for a ``*mini``
    version with at most 10 scenes, else ``scene-0001``, ``scene-0002``, ... skipping the numbers for which
    ``NuScenesCanBus`` refuses or warns.
    """
    if version.endswith("mini") and n_scenes <= len(NUSCENES_MINI_SCENES):
        return list(NUSCENES_MINI_SCENES[:n_scenes])
    names = list(islice(_sequential_names(), n_scenes))
    if len(names) < n_scenes:
        raise NuScenesExportError(f"scene-NNNN names allow at most {len(names)} scenes, got {n_scenes}")
    return names


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


def export_nuscenes(
    clips: Iterable[Clip],
    out_dir: str | Path,
    version: str = "v1.0-mini",
    keyframe_interval_s: float = 0.5,
    geometry: VehicleGeometry = DEFAULT_GEOMETRY,
    location: str = "procdrive-town",
    *,
    overwrite: bool = False,
    max_map_px: int = 4000,
) -> Path:
    """Write simulator episodes (one clip = one scene) as a nuScenes dataset with CAN bus files.

    Args:
        clips: episodes (one scene each). Each ``meta`` needs ``poses`` (T, 3) x [m], y [m], yaw [rad] of
            the rear-axle reference point in a shared world frame, ``intrinsics`` 3x3 [px] and ``camera``
            {``x_m``, ``y_m``, ``height_m`` [m], ``pitch_rad`` [rad, + looking down]}. Optional:
            ``labels.steer_rad`` (T,) road-wheel angle [rad, + left] (else derived from the actions),
            ``labels.left_signal`` / ``right_signal`` (T,) 0/1, ``road`` {``centerline`` (N, 2) [m],
            ``half_width_m`` [m]} (else a corridor around the ego path), ``source``, ``scene``, ``seed``,
            ``style`` (provenance only). Lists (a JSON round trip) and arrays are both accepted.
        out_dir: the dataroot to create; replaced atomically when the export is complete.
        version: table folder name, e.g. ``v1.0-mini`` or ``v1.0-trainval``.
        keyframe_interval_s: spacing of the keyframes (samples) [s].
        geometry: vehicle geometry; ``steering_ratio`` converts to the CAN steering-wheel angle.
        location: the log location and map name shared by all scenes.
        overwrite: replace ``out_dir`` even when it holds other files or a different export.
        max_map_px: largest map side [px]; past it the raster is coarsened from 0.1 m/px (with a warning,
            because the devkit's ``MapMask`` assumes 0.1 m/px).

    Returns:
        The dataroot (``out_dir``), loadable with ``NuScenes(version, dataroot)`` and ``NuScenesCanBus``.
    """
    out_dir = Path(out_dir)
    if keyframe_interval_s <= 0:
        raise NuScenesExportError(f"keyframe_interval_s must be positive, got {keyframe_interval_s}")
    if not version or Path(version).name != version:
        raise NuScenesExportError(f"version must be a plain folder name such as 'v1.0-mini', got {version!r}")
    previous = _existing_fingerprint(out_dir, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.staging.", dir=out_dir.parent))
    try:
        episodes = _write_frames_all(_named(clips, version), staging, keyframe_interval_s, geometry)
        plan = _plan_map(episodes, max_map_px)
        marker = _write_dataset(staging, episodes, plan, version, location, geometry, keyframe_interval_s)
        marker["fingerprint"] = _fingerprint(staging, marker)
        write_json(staging / MARKER_FILE, marker)
        _apply_umask_mode(staging)
        if previous is not None and previous != marker["fingerprint"]:
            raise NuScenesExportError(
                f"refusing to overwrite {out_dir}: it holds a different nuScenes export; pass overwrite=True"
            )
        if previous == marker["fingerprint"]:
            return out_dir  # identical dataset already there
        _install(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


# --------------------------------------------------------------------------------------------- reading clips


def _sequential_names() -> Iterator[str]:
    """scene-0001, scene-0002, ... without the numbers for which ``NuScenesCanBus`` refuses or warns."""
    for i in range(1, 10_000):
        if i not in CAN_BLACKLIST and i not in CAN_WARNING_SCENES:
            yield f"scene-{i:04d}"


def _named(clips: Iterable[Clip], version: str) -> Iterator[tuple[str, Clip]]:
    """Pair clips with scene names; only the first 11 clips are buffered to decide the naming scheme."""
    it = iter(clips)
    head = list(islice(it, len(NUSCENES_MINI_SCENES) + 1))
    if not head:
        raise NuScenesExportError("no clips to export")
    if version.endswith("mini") and len(head) <= len(NUSCENES_MINI_SCENES):
        yield from zip(NUSCENES_MINI_SCENES, head, strict=False)
        return
    names = _sequential_names()
    for clip in chain(head, it):
        name = next(names, None)
        if name is None:
            raise NuScenesExportError("too many clips: scene-NNNN names run out at scene-9999")
        yield name, clip


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


def _parse(name: str, clip: Clip, index: int, start_us: int, interval_s: float, geometry: VehicleGeometry) -> _Episode:
    """Validate one clip's meta and build its :class:`_Episode` (without writing anything)."""
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
    return _Episode(
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


def _write_frames_all(
    named: Iterator[tuple[str, Clip]], root: Path, interval_s: float, geometry: VehicleGeometry
) -> list[_Episode]:
    """Write every clip's JPEGs as they arrive (so only one clip's frames are held at a time)."""
    episodes = []
    start_us = BASE_UTIME_US
    for index, (name, clip) in enumerate(named):
        ep = _parse(name, clip, index, start_us, interval_s, geometry)
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


# ---------------------------------------------------------------------------------------------------- the map


def _plan_map(episodes: list[_Episode], max_map_px: int) -> _MapPlan:
    """Global offset and raster size so that every road and pose lies on the map with a margin."""
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
    return _MapPlan(offset, resolution, (width, height))


def _rasterize_map(episodes: list[_Episode], plan: _MapPlan) -> np.ndarray:
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


# ----------------------------------------------------------------------------------------------------- tables


def _static_tables(sensor_token: str) -> dict[str, list[dict[str, Any]]]:
    return {
        "category": [{"token": make_token("category", n), "name": n, "description": d} for n, d in CATEGORIES],
        "attribute": [{"token": make_token("attribute", n), "name": n, "description": d} for n, d in ATTRIBUTES],
        "visibility": [{"token": t, "level": lv, "description": d} for t, lv, d in VISIBILITIES],
        "sensor": [{"token": sensor_token, "channel": CHANNEL, "modality": "camera"}],
        "instance": [],
        "sample_annotation": [],
    }


def _link(tokens: list[str], i: int) -> str:
    """``tokens[i]``, or "" past either end of a prev/next chain."""
    return tokens[i] if 0 <= i < len(tokens) else ""


def _scene_tables(ep: _Episode, plan: _MapPlan, sensor_token: str, location: str) -> dict[str, list[dict]]:
    """log, calibrated_sensor, scene, sample, sample_data and ego_pose records of one episode."""
    name, n = ep.name, len(ep.utimes)
    log_token, scene_token, cs_token = (make_token(k, name) for k in ("log", "scene", "calibrated_sensor"))
    date = dt.datetime.fromtimestamp(int(ep.utimes[0]) // 1_000_000, tz=dt.timezone.utc).strftime("%Y-%m-%d")
    sample_tokens = [make_token("sample", name, k) for k in range(len(ep.keyframes))]
    sd_tokens = [make_token("sample_data", name, i) for i in range(n)]
    pose_tokens = [make_token("ego_pose", name, i) for i in range(n)]
    # a sweep belongs to the next keyframe's sample (nuScenes), the last sample after the last keyframe
    owner = np.minimum(np.searchsorted(ep.keyframes, np.arange(n)), len(ep.keyframes) - 1)
    is_key = np.isin(np.arange(n), ep.keyframes)
    xy = ep.poses[:, :2] + plan.offset_m
    quats = yaw_to_quaternion(ep.poses[:, 2])
    return {
        "log": [
            {
                "token": log_token,
                "logfile": f"procdrive-{date}-{name}",
                "vehicle": "procdrive-ego",
                "date_captured": date,
                "location": location,
            }
        ],
        "calibrated_sensor": [
            {
                "token": cs_token,
                "sensor_token": sensor_token,
                "translation": ep.camera_xyz_m.tolist(),
                "rotation": camera_to_ego_rotation_wxyz(ep.camera_pitch_rad).tolist(),
                "camera_intrinsic": ep.intrinsics.tolist(),
            }
        ],
        "scene": [
            {
                "token": scene_token,
                "log_token": log_token,
                "nbr_samples": len(sample_tokens),
                "first_sample_token": sample_tokens[0],
                "last_sample_token": sample_tokens[-1],
                "name": name,
                "description": ep.text,
            }
        ],
        "sample": [
            {
                "token": tok,
                "timestamp": int(ep.utimes[ep.keyframes[k]]),
                "prev": _link(sample_tokens, k - 1),
                "next": _link(sample_tokens, k + 1),
                "scene_token": scene_token,
            }
            for k, tok in enumerate(sample_tokens)
        ],
        "sample_data": [
            {
                "token": sd_tokens[i],
                "sample_token": sample_tokens[owner[i]],
                "ego_pose_token": pose_tokens[i],
                "calibrated_sensor_token": cs_token,
                "timestamp": int(ep.utimes[i]),
                "fileformat": "jpg",
                "is_key_frame": bool(is_key[i]),
                "height": ep.height,
                "width": ep.width,
                "filename": ep.filenames[i],
                "prev": _link(sd_tokens, i - 1),
                "next": _link(sd_tokens, i + 1),
            }
            for i in range(n)
        ],
        "ego_pose": [
            {
                "token": pose_tokens[i],
                "timestamp": int(ep.utimes[i]),
                "rotation": quats[i].tolist(),
                "translation": [float(xy[i, 0]), float(xy[i, 1]), 0.0],
            }
            for i in range(n)
        ],
    }


# ---------------------------------------------------------------------------------------------------- CAN bus


def _lane_route(runs: list[np.ndarray], poses_xy: np.ndarray) -> np.ndarray:
    """(M, 2) route [m]: the centreline pieces shifted sideways by the ego's median lateral offset.

    nuScenes routes follow the driven lane; on a multi-lane road the centreline can be a lane or more away.
    """
    tangents = [np.gradient(run, axis=0) if len(run) > 1 else np.array([[1.0, 0.0]]) for run in runs]
    line, tangent = np.concatenate(runs), np.concatenate(tangents)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=-1)  # + left
    nearest = np.array([np.argmin(np.sum((line - p) ** 2, axis=1)) for p in poses_xy])
    lateral = np.sum((poses_xy - line[nearest]) * normal[nearest], axis=1)
    return line + float(np.median(lateral)) * normal


def _can_files(ep: _Episode, plan: _MapPlan, geometry: VehicleGeometry) -> dict[str, Any]:
    """CAN bus expansion files of one scene: pose, vehicle_monitor, route and meta (one message per frame)."""
    n, t = len(ep.utimes), ep.t_s
    accel = np.gradient(ep.speed_mps, t) if n > 1 else np.zeros(n)  # longitudinal [m/s^2]
    lateral = ep.speed_mps * ep.yaw_rate_rps  # centripetal [m/s^2], + left
    steering_deg = road_wheel_rad_to_steering_wheel_deg(ep.steer_rad, geometry.steering_ratio)
    steering_speed = np.gradient(steering_deg, t) if n > 1 else np.zeros(n)  # [deg/s]
    brake = np.clip(np.round(-accel * BRAKE_BAR_PER_MPS2), 0, 126).astype(int)
    throttle = np.clip(np.round(accel * THROTTLE_PER_MPS2), 0, 1000).astype(int)
    xy = ep.poses[:, :2] + plan.offset_m
    quats = yaw_to_quaternion(ep.poses[:, 2])
    speed_kmh = mps_to_kmh(ep.speed_mps)
    yaw_rate_dps = rad_to_deg(ep.yaw_rate_rps)
    pose = [
        {
            "utime": int(ep.utimes[i]),
            "pos": [float(xy[i, 0]), float(xy[i, 1]), 0.0],
            "orientation": quats[i].tolist(),
            "vel": [float(ep.speed_mps[i]), 0.0, 0.0],
            "accel": [float(accel[i]), float(lateral[i]), GRAVITY_MPS2],
            "rotation_rate": [0.0, 0.0, float(ep.yaw_rate_rps[i])],
        }
        for i in range(n)
    ]
    monitor = [
        {
            "utime": int(ep.utimes[i]),
            "vehicle_speed": float(speed_kmh[i]),
            "steering": float(steering_deg[i]),
            "steering_speed": float(steering_speed[i]),
            "yaw_rate": float(yaw_rate_dps[i]),
            "left_signal": int(ep.signals["left_signal"][i]),
            "right_signal": int(ep.signals["right_signal"][i]),
            "brake": int(brake[i]),
            "brake_switch": 2 if brake[i] > 0 else 1,
            "throttle": int(throttle[i]),
            "gear_position": GEAR_DRIVE,
        }
        for i in range(n)
    ]
    route = (_lane_route(ep.road_runs, ep.poses[:, :2]) + plan.offset_m).tolist()
    timespan = float(t[-1] - t[0])
    stats = {
        "message_count": n,
        "message_freq": (n - 1) / timespan if timespan > 0 else 0.0,
        "timespan": timespan,
    }
    return {
        "pose": pose,
        "vehicle_monitor": monitor,
        "route": route,
        "meta": {"pose": stats, "vehicle_monitor": stats},
    }


# ---------------------------------------------------------------------------------------------------- writing


def _write_dataset(
    root: Path,
    episodes: list[_Episode],
    plan: _MapPlan,
    version: str,
    location: str,
    geometry: VehicleGeometry,
    interval_s: float,
) -> dict[str, Any]:
    """Write tables, map and CAN files under ``root``; return the provenance record (without fingerprint)."""
    sensor_token = make_token("sensor", CHANNEL)
    tables = _static_tables(sensor_token)
    for ep in episodes:
        for table, records in _scene_tables(ep, plan, sensor_token, location).items():
            tables.setdefault(table, []).extend(records)
        for message, content in _can_files(ep, plan, geometry).items():
            write_json(root / "can_bus" / f"{ep.name}_{message}.json", content)
    map_token = make_token("map", location)
    map_file = f"maps/{map_token}.png"
    ok, png = cv2.imencode(".png", _rasterize_map(episodes, plan))
    if not ok:
        raise NuScenesExportError("PNG encoding of the map failed")
    write_bytes(root / map_file, png.tobytes())
    log_tokens = [log["token"] for log in tables["log"]]
    tables["map"] = [{"token": map_token, "log_tokens": log_tokens, "category": "semantic_prior", "filename": map_file}]
    for table in TABLES:
        write_json(root / version / f"{table}.json", tables[table])
    return {
        "generator": "drivedreamer_env.sim.nuscenes_export",
        "version": version,
        "location": location,
        "keyframe_interval_s": interval_s,
        "global_offset_m": plan.offset_m.tolist(),
        "map": {"filename": map_file, "resolution_m": plan.resolution_m, "size_px": list(plan.size_px)},
        "scenes": [{"name": ep.name, "caption": ep.text, "frames": len(ep.utimes), **ep.source} for ep in episodes],
    }


def _fingerprint(root: Path, marker: dict[str, Any]) -> str:
    """SHA-256 over every written file (path and bytes) and the provenance record."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MARKER_FILE):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    digest.update(json.dumps(marker, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _existing_fingerprint(out_dir: Path, overwrite: bool) -> str | None:
    """Fingerprint of the export in ``out_dir`` (None: empty or to be overwritten); refuse other content."""
    if out_dir.exists() and not out_dir.is_dir():
        raise NuScenesExportError(f"{out_dir} exists and is not a directory")
    if overwrite or not out_dir.exists() or not any(out_dir.iterdir()):
        return None
    try:
        return str(json.loads((out_dir / MARKER_FILE).read_text())["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError):
        raise NuScenesExportError(
            f"refusing to write into non-empty {out_dir}: it does not hold a nuScenes export from this "
            f"module (no readable {MARKER_FILE}); pass overwrite=True to replace its contents"
        ) from None


def _apply_umask_mode(directory: Path) -> None:
    """mkdtemp creates the staging directory 0700; the dataset root gets the ordinary umask mode."""
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(directory, 0o777 & ~umask)


def _install(staging: Path, out_dir: Path) -> None:
    """Move the finished dataset onto ``out_dir``, replacing what was there."""
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
    try:
        os.replace(out_dir, trash / "old")
        try:
            os.replace(staging, out_dir)
        except OSError:
            os.replace(trash / "old", out_dir)  # put the previous dataset back
            raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)
