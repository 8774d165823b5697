"""``NuScenesSource``: the clips of one camera channel of a nuScenes dataset, read through the official devkit.

See :mod:`drivedreamer_env.nuscenes.reader` for how frames, actions and captions are made.
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
from drivedreamer_env.data.ego_motion import SignalCoverageError, frame_actions, step_actions_from_poses
from drivedreamer_env.data.windowing import Crop, adjust_intrinsics, resample, resize_crop
from drivedreamer_env.nuscenes.reader.can import CanBusActions
from drivedreamer_env.nuscenes.reader.dataroot import NuScenesError, NuScenesWarning, check_dataroot, load_devkit
from drivedreamer_env.nuscenes.reader.sweep import Sweep, read_sweep
from drivedreamer_env.nuscenes.schema import CHANNEL, SPLIT_VERSIONS
from drivedreamer_env.units import VehicleGeometry

ACTION_SOURCES = ("ego_pose", "can_bus", "can_steering")


@dataclass
class NuScenesReport:
    """What one pass over a :class:`NuScenesSource` read, skipped and replaced."""

    scenes: int = 0  # scenes that gave at least one clip
    clips: int = 0
    frames: int = 0  # frames in the yielded clips (after resampling)
    missing_images: list[str] = field(default_factory=list)  # image paths skipped (missing or unreadable)
    can_fallbacks: dict[str, str] = field(default_factory=dict)  # scene name -> why ego_pose was used instead
    skipped_scenes: dict[str, str] = field(default_factory=dict)  # scene name -> why it gave no clip


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
        actions: ``"ego_pose"``, ``"can_bus"`` or ``"can_steering"`` (see :mod:`drivedreamer_env.nuscenes.reader`).
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
        channel: str = CHANNEL,
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
        NuScenes, can_bus_cls, self._splits = load_devkit()
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
        self._can = CanBusActions(can_bus_cls, self.dataroot)
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
            sweep = read_sweep(self.nusc, scene, self.channel, self.dataroot)
            total += self._clip_count(sweep.t_s[[p.is_file() for p in sweep.paths]])
        return total

    # ------------------------------------------------------------------ actions
    def _step_actions(self, sweep: Sweep) -> tuple[np.ndarray, str]:
        """(T-1, 2) step actions of the sweep and the source they came from."""
        if self.actions != "ego_pose":
            try:
                return self._can.step_actions(sweep, self.actions, self.geometry), self.actions
            except SignalCoverageError as err:
                self.report.can_fallbacks[sweep.name] = str(err)
                warnings.warn(
                    f"{sweep.name}: no usable CAN bus data ({err}); actions from ego_pose instead",
                    NuScenesWarning,
                    stacklevel=4,
                )
        return step_actions_from_poses(sweep.t_s, sweep.xy_m, sweep.yaw_rad), "ego_pose"

    # ------------------------------------------------------------------ clips
    def _read_frames(self, sweep: Sweep) -> tuple[list[int], list[np.ndarray], tuple[int, int] | None]:
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
        sweep = read_sweep(self.nusc, scene, self.channel, self.dataroot)
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
            "camera": sweep.camera,  # with the intrinsics: what warp proposals reproject with
            "poses": np.concatenate([sweep.xy_m[keep], sweep.yaw_rad[keep, None]], axis=-1),
        }
        text = normalize_caption(sweep.description) if self.normalize_captions else sweep.description
        # frames: the nearest readable image; actions: exact time averages of every step, including the steps
        # around a missing image (its ego pose is still in the tables)
        lo, hi = keep[0], keep[-1] + 1
        t = sweep.t_s[lo:hi]
        motion = Clip(np.zeros((hi - lo, 1, 1, 3), np.uint8), t, frame_actions(t, steps[lo : hi - 1]))
        clip = resample(Clip(np.stack(frames), sweep.t_s[keep], np.zeros((len(keep), 2)), text, meta), self.fps, True)
        return Clip(clip.frames, clip.timestamps, resample(motion, self.fps, True).actions, text, clip.meta)

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
