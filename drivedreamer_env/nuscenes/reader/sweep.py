"""One scene's camera sweep from the devkit's tables: frame times, ego poses and image paths (no image read)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from drivedreamer_env.nuscenes.reader.dataroot import NuScenesError
from drivedreamer_env.units import camera_pitch_from_rotation, quaternion_to_yaw


@dataclass
class Sweep:
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
    camera: dict[str, float]  # height_m, x_m (ahead of the ego origin, the rear axle), pitch_rad (down)


def _channel_records(nusc: Any, scene: dict[str, Any], channel: str) -> list[dict[str, Any]]:
    """The scene's sample_data of ``channel``, keyframes and sweeps, in time order through prev / next."""
    sample = nusc.get("sample", scene["first_sample_token"])
    if channel not in sample["data"]:
        raise NuScenesError(f"scene {scene['name']}: its first sample has no {channel} data")
    sd = nusc.get("sample_data", sample["data"][channel])
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
    return [r for r, u in zip(records, unique, strict=True) if u]


def read_sweep(nusc: Any, scene: dict[str, Any], channel: str, dataroot: Path) -> Sweep:
    """The scene's camera sample_data in time order, with their ego poses and image paths.

    Args:
        nusc: a loaded devkit ``NuScenes``.
        scene: a record of its ``scene`` table.
        channel: camera channel, e.g. ``CAM_FRONT``.
        dataroot: the folder the sample_data filenames are relative to.
    """
    records = _channel_records(nusc, scene, channel)
    poses = [nusc.get("ego_pose", r["ego_pose_token"]) for r in records]
    first = int(records[0]["timestamp"])
    cs = nusc.get("calibrated_sensor", records[0]["calibrated_sensor_token"])
    return Sweep(
        name=scene["name"],
        description=scene.get("description", ""),
        token=scene["token"],
        t_s=np.array([(r["timestamp"] - first) / 1e6 for r in records], dtype=np.float64),
        first_utime=first,
        xy_m=np.array([p["translation"][:2] for p in poses], dtype=np.float64),
        yaw_rad=quaternion_to_yaw(np.array([p["rotation"] for p in poses], dtype=np.float64)),
        paths=[dataroot / r["filename"] for r in records],
        intrinsics=np.array(cs.get("camera_intrinsic") or np.eye(3), dtype=np.float64),
        camera=_camera_mount(cs),
    )


def _camera_mount(cs: dict[str, Any]) -> dict[str, float]:
    """Mounting height, forward offset and downward pitch of the camera (``calibrated_sensor``, ego frame)."""
    xyz = cs.get("translation") or [0.0, 0.0, 1.5]
    rotation = cs.get("rotation")
    pitch = camera_pitch_from_rotation(rotation) if rotation else 0.0
    return {"height_m": float(xyz[2]), "x_m": float(xyz[0]), "pitch_rad": pitch}
