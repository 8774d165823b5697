"""nuScenes through the official devkit: front-camera sweeps -> ``Clip`` s of frames, ego-motion actions and captions.

The only module that imports the devkit (``pip install 'drivedreamer-env[nuscenes]'``), and only when a
:class:`NuScenesSource` is built, so ``import drivedreamer_env`` stays fast.

How the visual-text-action triplets are made:

- **Walk.** Every sample_data of the camera channel of a scene, keyframes and sweeps, in time order through
  ``prev`` / ``next`` (about 12 Hz for CAM_FRONT, unevenly spaced). Times are the real ``timestamp`` s.
- **Actions** ``[speed m/s, yaw_rate rad/s]`` of each step between consecutive frames, estimated at the step's
  midpoint (:mod:`drivedreamer_env.data.ego_motion`):

  - ``ego_pose``: the ego pose of each sample_data (global frame; quaternion ``[w, x, y, z]`` -> yaw); speed from
    position differences over real time, yaw rate from the unwrapped yaw, both central differences about the
    midpoint. A left turn is a positive yaw rate (z up).
  - ``can_bus``: ``vehicle_monitor.vehicle_speed`` [km/h] and ``pose.rotation_rate[2]`` [rad/s] of the CAN bus
    expansion, linearly interpolated on ``utime`` at the step midpoints.
  - ``can_steering``: the same speed; yaw rate from the steering-wheel angle (``steeranglefeedback`` [rad] when
    present, else ``vehicle_monitor.steering`` [deg]; positive left, per the CAN bus README) through the
    kinematic bicycle model of ``geometry`` (wheelbase, steering ratio).
  - A scene without usable CAN data (no ``can_bus`` folder, no files, blacklisted, not covering the sweep) falls
    back to ``ego_pose`` with a :class:`NuScenesWarning`; the fallback is recorded in :attr:`NuScenesSource.report`.
- **Captions** from the scene description, optionally with time-of-day and weather words normalised into the
  simulator's caption vocabulary (:mod:`drivedreamer_env.data.captions`).
- **Images** resized and centre-cropped to ``resolution`` as they are read (intrinsics adjusted alike); then the
  clip is resampled to ``fps`` (nearest frames, exactly time-averaged actions) and, with ``frames``, cut into
  windows. A missing image file is skipped, counted and reported; its step is merged with the next.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from drivedreamer_env.data.captions import normalize_caption
from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.ego_motion import (
    SignalCoverageError,
    frame_actions,
    signal_at_step_midpoints,
    step_actions_from_poses,
)
from drivedreamer_env.data.windowing import Crop, adjust_intrinsics, resample, resize_crop
from drivedreamer_env.units import (
    VehicleGeometry,
    kmh_to_mps,
    quaternion_to_yaw,
    rad_to_deg,
    steering_to_yaw_rate,
    steering_wheel_deg_to_road_wheel_rad,
)

INSTALL_HINT = "the nuScenes adapter needs the official devkit: pip install 'drivedreamer-env[nuscenes]'"
ACTION_SOURCES = ("ego_pose", "can_bus", "can_steering")
TABLES = (
    "attribute", "calibrated_sensor", "category", "ego_pose", "instance", "log", "map", "sample",
    "sample_annotation", "sample_data", "scene", "sensor", "visibility",
)  # fmt: skip
# which version a devkit split belongs to (by the version's suffix)
SPLIT_VERSIONS = {"mini_train": "mini", "mini_val": "mini", "test": "test"}


class NuScenesError(ValueError):
    """A nuScenes dataroot, version, table, split or channel is missing or unusable (the message names it)."""


class NuScenesWarning(UserWarning):
    """Something was skipped or replaced while reading nuScenes (missing images, CAN-bus fallback)."""


@dataclass
class NuScenesReport:
    """What one pass over a :class:`NuScenesSource` read, skipped and replaced."""

    scenes: int = 0  # scenes that gave at least one clip
    clips: int = 0
    frames: int = 0  # frames in the yielded clips (after resampling)
    missing_images: list[str] = field(default_factory=list)  # image paths skipped (missing or unreadable)
    can_fallbacks: dict[str, str] = field(default_factory=dict)  # scene name -> why ego_pose was used instead
    skipped_scenes: dict[str, str] = field(default_factory=dict)  # scene name -> why it gave no clip


@dataclass
class _Sweep:
    """One scene's camera sweep, from the tables only (no image read)."""

    name: str
    description: str
    token: str
    t_s: np.ndarray  # (T,) seconds since the first frame
    first_utime: int  # [us]
    xy_m: np.ndarray  # (T, 2) ego position, global frame
    yaw_rad: np.ndarray  # (T,)
    paths: list[Path]  # (T,) image files
    intrinsics: np.ndarray  # (3, 3) [px]


def _devkit() -> tuple[Any, Any, Any]:
    try:
        from nuscenes.can_bus.can_bus_api import NuScenesCanBus
        from nuscenes.nuscenes import NuScenes
        from nuscenes.utils.splits import create_splits_scenes
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return NuScenes, NuScenesCanBus, create_splits_scenes


def table_versions(dataroot: str | Path) -> list[str]:
    """Folders of ``dataroot`` that hold a nuScenes ``scene.json`` (e.g. ``["v1.0-mini"]``)."""
    root = Path(dataroot)
    return (
        sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "scene.json").is_file()) if root.is_dir() else []
    )


def check_dataroot(dataroot: str | Path, version: str) -> Path:
    """Fail early, naming the path, on a missing dataroot, an unknown version or a missing table.

    Returns:
        The version's table folder.
    """
    root = Path(dataroot)
    if not root.is_dir():
        raise NuScenesError(f"nuScenes dataroot not found: {root}")
    tables = root / version
    if not version or Path(version).name != version or not tables.is_dir():
        found = table_versions(root)
        raise NuScenesError(
            f"unknown nuScenes version {version!r}: no table folder {tables}; {root} has "
            + (f"version(s) {found}" if found else "no version folder (expected e.g. v1.0-mini/scene.json)")
        )
    missing = [t for t in TABLES if not (tables / f"{t}.json").is_file()]
    if missing:
        raise NuScenesError(f"{tables}: missing table(s) {missing} (e.g. {tables / (missing[0] + '.json')})")
    return tables


class NuScenesSource:
    """Clips of one camera channel of a nuScenes dataset, read through the official devkit.

    Args:
        dataroot: the folder holding ``<version>/``, ``samples/``, ``sweeps/`` (and ``can_bus/``).
        version: table folder, e.g. ``v1.0-mini`` or ``v1.0-trainval``.
        split: a devkit split (``create_splits_scenes``: ``mini_train``, ``mini_val``, ``train``, ``val``, ...)
            or None / ``"all"`` for every scene of the version.
        channel: camera channel.
        fps: frame rate of the clips [Hz] (the sweeps' real, uneven times are resampled).
        frames: frames per clip (non-overlapping windows, or every ``stride`` frames); None: one clip per scene.
        resolution: ``(H, W)`` of the clips [px]: resized to cover, then centre-cropped.
        actions: ``"ego_pose"``, ``"can_bus"`` or ``"can_steering"`` (see the module docstring).
        crop: fractions ``(top, bottom, left, right)`` removed before resizing (e.g. a car hood), or None.
        geometry: wheelbase and steering ratio for ``can_steering``.
        normalize_captions: restate time of day and weather in the simulator's caption words.
        stride: frames between window starts (with ``frames``); None means ``frames``.

    Raises:
        NuScenesError: missing dataroot, unknown version, missing table, unknown split or channel.
        ImportError: the devkit is not installed.
    """

    def __init__(
        self,
        dataroot: str | Path,
        version: str = "v1.0-mini",
        split: str | None = None,
        channel: str = "CAM_FRONT",
        fps: float = 10.0,
        frames: int | None = None,
        resolution: tuple[int, int] = (64, 128),
        actions: str = "ego_pose",
        crop: Crop | None = None,
        geometry: VehicleGeometry | None = None,
        normalize_captions: bool = True,
        stride: int | None = None,
    ) -> None:
        if actions not in ACTION_SOURCES:
            raise NuScenesError(f"actions={actions!r}; expected one of {ACTION_SOURCES}")
        if not fps > 0:
            raise NuScenesError(f"fps must be positive, got {fps}")
        if (frames is not None and frames < 1) or (stride is not None and stride < 1):
            raise NuScenesError(f"frames and stride must be >= 1, got frames={frames}, stride={stride}")
        self.dataroot, self.version, self.split, self.channel = Path(dataroot), version, split, channel
        self.fps, self.frames, self.stride = float(fps), frames, stride or frames
        self.resolution = (int(resolution[0]), int(resolution[1]))
        self.actions, self.crop, self.normalize_captions = actions, crop, normalize_captions
        self.geometry = geometry or VehicleGeometry()
        tables = check_dataroot(self.dataroot, version)
        NuScenes, self._can_cls, self._splits = _devkit()
        try:
            self.nusc = NuScenes(version=version, dataroot=str(self.dataroot), verbose=False)
        except json.JSONDecodeError as err:
            raise NuScenesError(f"corrupt table in {tables}: {err}") from err
        except (KeyError, AssertionError, OSError) as err:
            raise NuScenesError(f"the devkit could not load {tables}: {type(err).__name__}: {err}") from err
        channels = sorted({s["channel"] for s in self.nusc.sensor})
        if channel not in channels:
            raise NuScenesError(f"{tables / 'sensor.json'} has no channel {channel!r}; it has {channels}")
        self.scenes = self._select_scenes()
        self._can: Any = None
        self._can_error: str | None = None
        self.report = NuScenesReport()

    # ------------------------------------------------------------------ tables
    def _select_scenes(self) -> list[dict[str, Any]]:
        scenes = list(self.nusc.scene)
        if self.split in (None, "all"):
            return scenes
        splits = self._splits()
        if self.split not in splits:
            raise NuScenesError(f"unknown split {self.split!r}; the devkit's splits are {sorted(splits)} (or 'all')")
        suffix = SPLIT_VERSIONS.get(self.split, "trainval")
        if not self.version.endswith(suffix):
            raise NuScenesError(f"split {self.split!r} belongs to a *{suffix} version, not {self.version!r}")
        wanted = set(splits[self.split])
        chosen = [s for s in scenes if s["name"] in wanted]
        if not chosen:
            raise NuScenesError(f"no scene of {self.dataroot / self.version} is in split {self.split!r}")
        return chosen

    def _sweep(self, scene: dict[str, Any]) -> _Sweep:
        """The scene's camera sample_data in time order, with their ego poses and image paths."""
        nusc = self.nusc
        sample = nusc.get("sample", scene["first_sample_token"])
        if self.channel not in sample["data"]:
            raise NuScenesError(f"scene {scene['name']}: its first sample has no {self.channel} data")
        sd = nusc.get("sample_data", sample["data"][self.channel])
        while sd["prev"]:  # sweeps before the first keyframe
            sd = nusc.get("sample_data", sd["prev"])
        records = [sd]
        while sd["next"]:
            sd = nusc.get("sample_data", sd["next"])
            if nusc.get("sample", sd["sample_token"])["scene_token"] != scene["token"]:
                break
            records.append(sd)
        utimes = np.array([r["timestamp"] for r in records], dtype=np.int64)
        unique = np.concatenate([[True], np.diff(utimes) > 0])  # drop repeated timestamps
        records = [r for r, u in zip(records, unique, strict=True) if u]
        poses = [nusc.get("ego_pose", r["ego_pose_token"]) for r in records]
        first = int(records[0]["timestamp"])
        cs = nusc.get("calibrated_sensor", records[0]["calibrated_sensor_token"])
        return _Sweep(
            name=scene["name"],
            description=scene.get("description", ""),
            token=scene["token"],
            t_s=np.array([(r["timestamp"] - first) / 1e6 for r in records], dtype=np.float64),
            first_utime=first,
            xy_m=np.array([p["translation"][:2] for p in poses], dtype=np.float64),
            yaw_rad=quaternion_to_yaw(np.array([p["rotation"] for p in poses], dtype=np.float64)),
            paths=[self.dataroot / r["filename"] for r in records],
            intrinsics=np.array(cs.get("camera_intrinsic") or np.eye(3), dtype=np.float64),
        )

    def _clip_count(self, t_s: np.ndarray) -> int:
        """Clips that frames at times ``t_s`` give (the resampling rule of ``windowing.resample``)."""
        if len(t_s) < 2:
            return 0
        n = int(np.floor((t_s[-1] - t_s[0]) * self.fps + 1e-6)) + 1
        if self.frames is None:
            return 1
        return 0 if n < self.frames else (n - self.frames) // self.stride + 1

    def __len__(self) -> int:
        """Clips one pass yields, from the tables and the image files present (unreadable files aside)."""
        total = 0
        for scene in self.scenes:
            sweep = self._sweep(scene)
            total += self._clip_count(sweep.t_s[[p.is_file() for p in sweep.paths]])
        return total

    # ------------------------------------------------------------------ actions
    def _can_bus(self) -> Any:
        if self._can is None and self._can_error is None:
            try:
                self._can = self._can_cls(dataroot=str(self.dataroot))
            except Exception as err:  # the devkit raises a bare Exception for a missing can_bus folder
                self._can_error = str(err)
        if self._can is None:
            raise SignalCoverageError(self._can_error or "no CAN bus")
        return self._can

    def _signal(self, sweep: _Sweep, message: str, value: Any, name: str) -> np.ndarray:
        """One CAN signal of the sweep's scene at its step midpoints; ``value(msg)`` picks the number."""
        try:
            msgs = self._can_bus().get_messages(sweep.name, message, print_warnings=False)
        except SignalCoverageError:
            raise
        except Exception as err:  # blacklisted scene (bare Exception), missing file, malformed scene name
            raise SignalCoverageError(f"{message}: {type(err).__name__}: {err}") from err
        try:
            msg_t = np.array([(m["utime"] - sweep.first_utime) / 1e6 for m in msgs], dtype=np.float64)
            values = np.array([value(m) for m in msgs], dtype=np.float64)
        except (KeyError, IndexError, TypeError) as err:
            raise SignalCoverageError(f"{message}: malformed message ({err!r})") from err
        return signal_at_step_midpoints(sweep.t_s, msg_t, values, name)

    def _can_steps(self, sweep: _Sweep) -> np.ndarray:
        speed = kmh_to_mps(self._signal(sweep, "vehicle_monitor", lambda m: m["vehicle_speed"], "vehicle_speed"))
        if self.actions == "can_bus":
            yaw_rate = self._signal(sweep, "pose", lambda m: m["rotation_rate"][2], "pose.rotation_rate")
        else:
            try:  # 100 Hz steering-wheel angle [rad] where it exists, else the 2 Hz vehicle_monitor one [deg]
                wheel_rad = self._signal(sweep, "steeranglefeedback", lambda m: m["value"], "steeranglefeedback")
                wheel_deg = rad_to_deg(wheel_rad)
            except SignalCoverageError:
                wheel_deg = self._signal(sweep, "vehicle_monitor", lambda m: m["steering"], "steering")
            road_wheel = steering_wheel_deg_to_road_wheel_rad(wheel_deg, self.geometry.steering_ratio)
            yaw_rate = steering_to_yaw_rate(road_wheel, speed, self.geometry.wheelbase_m)
        return np.stack([speed, yaw_rate], axis=-1)

    def _step_actions(self, sweep: _Sweep) -> tuple[np.ndarray, str]:
        """(T-1, 2) step actions of the sweep and the source they came from."""
        if self.actions != "ego_pose":
            try:
                return self._can_steps(sweep), self.actions
            except SignalCoverageError as err:
                self.report.can_fallbacks[sweep.name] = str(err)
                warnings.warn(
                    f"{sweep.name}: no usable CAN bus data ({err}); actions from ego_pose instead",
                    NuScenesWarning,
                    stacklevel=4,
                )
        return step_actions_from_poses(sweep.t_s, sweep.xy_m, sweep.yaw_rad), "ego_pose"

    # ------------------------------------------------------------------ clips
    def _read_frames(self, sweep: _Sweep) -> tuple[list[int], list[np.ndarray], tuple[int, int] | None]:
        keep, frames, image_hw = [], [], None
        for i, path in enumerate(sweep.paths):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
            if bgr is None:
                self.report.missing_images.append(str(path))
                continue
            image_hw = image_hw or bgr.shape[:2]
            frames.append(resize_crop(np.ascontiguousarray(bgr[..., ::-1]), self.resolution, self.crop))
            keep.append(i)
        return keep, frames, image_hw

    def scene_clip(self, scene: dict[str, Any]) -> Clip | None:
        """The whole scene as one clip at ``fps`` and ``resolution`` (None when fewer than 2 images remain)."""
        sweep = self._sweep(scene)
        missing_before = len(self.report.missing_images)
        keep, frames, image_hw = self._read_frames(sweep)
        missing = len(self.report.missing_images) - missing_before
        if missing:
            warnings.warn(
                f"{sweep.name}: skipped {missing} missing or unreadable image(s), "
                f"e.g. {self.report.missing_images[missing_before]}",
                NuScenesWarning,
                stacklevel=3,
            )
        if len(keep) < 2:
            self.report.skipped_scenes[sweep.name] = f"{len(keep)} readable image(s)"
            return None
        steps, used = self._step_actions(sweep)
        intrinsics = adjust_intrinsics(sweep.intrinsics, image_hw, self.resolution, self.crop)
        meta = {
            "source": "nuscenes",
            "scene": sweep.name,
            "scene_token": sweep.token,
            "version": self.version,
            "split": self.split or "all",
            "channel": self.channel,
            "actions_from": used,
            "description": sweep.description,
            "first_utime": sweep.first_utime,
            "missing_images": missing,
            "intrinsics": intrinsics.tolist(),
            "poses": np.concatenate([sweep.xy_m[keep], sweep.yaw_rad[keep, None]], axis=-1),
        }
        text = normalize_caption(sweep.description) if self.normalize_captions else sweep.description
        # frames: the nearest readable image; actions: exact time averages of every step, including the steps
        # around a missing image (its ego pose is still in the tables)
        lo, hi = keep[0], keep[-1] + 1
        t = sweep.t_s[lo:hi]
        motion = Clip(np.zeros((hi - lo, 1, 1, 3), np.uint8), t, frame_actions(t, steps[lo : hi - 1]))
        clip = resample(Clip(np.stack(frames), sweep.t_s[keep], np.zeros((len(keep), 2)), text, meta), self.fps)
        return Clip(clip.frames, clip.timestamps, resample(motion, self.fps).actions, text, clip.meta)

    def __iter__(self) -> Iterator[Clip]:
        self.report = NuScenesReport()
        for scene in self.scenes:
            clip = self.scene_clip(scene)
            if clip is None:
                continue
            if self.frames is None:
                pieces = [clip]
            else:
                starts = range(0, len(clip) - self.frames + 1, self.stride)
                pieces = [clip.slice(s, s + self.frames) for s in starts]
                if not pieces:
                    self.report.skipped_scenes[scene["name"]] = f"{len(clip)} frames < {self.frames} at {self.fps} Hz"
            self.report.scenes += bool(pieces)
            self.report.clips += len(pieces)
            self.report.frames += sum(len(p) for p in pieces)
            yield from pieces
