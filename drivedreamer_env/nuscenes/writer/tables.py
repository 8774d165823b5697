"""Records of the nuScenes v1.0 tables: the shared vocabularies and each episode's log, scene and frame chain."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np

from drivedreamer_env.nuscenes.schema import ATTRIBUTES, CATEGORIES, CHANNEL, VISIBILITIES
from drivedreamer_env.nuscenes.writer.episode import Episode
from drivedreamer_env.nuscenes.writer.map_raster import MapPlan
from drivedreamer_env.nuscenes.writer.naming import make_token
from drivedreamer_env.units import yaw_to_quaternion


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


def static_tables(sensor_token: str) -> dict[str, list[dict[str, Any]]]:
    """category, attribute, visibility, sensor and the (empty) instance and sample_annotation tables."""
    return {
        "category": [{"token": make_token("category", n), "name": n, "description": d} for n, d in CATEGORIES],
        "attribute": [{"token": make_token("attribute", n), "name": n, "description": d} for n, d in ATTRIBUTES],
        "visibility": [{"token": t, "level": lv, "description": d} for t, lv, d in VISIBILITIES],
        "sensor": [{"token": sensor_token, "channel": CHANNEL, "modality": "camera"}],
        "instance": [],
        "sample_annotation": [],
    }


@dataclasses.dataclass(frozen=True)
class _SceneTokens:
    """The deterministic tokens of one episode's records."""

    log: str
    scene: str
    calibrated_sensor: str
    samples: list[str]  # (K,) one per keyframe
    sample_data: list[str]  # (T,) one per frame
    ego_poses: list[str]  # (T,) one per frame


def _scene_tokens(ep: Episode) -> _SceneTokens:
    name, n = ep.name, len(ep.utimes)
    log_token, scene_token, cs_token = (make_token(k, name) for k in ("log", "scene", "calibrated_sensor"))
    return _SceneTokens(
        log=log_token,
        scene=scene_token,
        calibrated_sensor=cs_token,
        samples=[make_token("sample", name, k) for k in range(len(ep.keyframes))],
        sample_data=[make_token("sample_data", name, i) for i in range(n)],
        ego_poses=[make_token("ego_pose", name, i) for i in range(n)],
    )


def scene_tables(ep: Episode, plan: MapPlan, sensor_token: str, location: str) -> dict[str, list[dict]]:
    """log, calibrated_sensor, scene, sample, sample_data and ego_pose records of one episode."""
    tok = _scene_tokens(ep)
    date = dt.datetime.fromtimestamp(int(ep.utimes[0]) // 1_000_000, tz=dt.timezone.utc).strftime("%Y-%m-%d")
    log = {
        "token": tok.log,
        "logfile": f"procdrive-{date}-{ep.name}",
        "vehicle": "procdrive-ego",
        "date_captured": date,
        "location": location,
    }
    calibrated_sensor = {
        "token": tok.calibrated_sensor,
        "sensor_token": sensor_token,
        "translation": ep.camera_xyz_m.tolist(),
        "rotation": camera_to_ego_rotation_wxyz(ep.camera_pitch_rad).tolist(),
        "camera_intrinsic": ep.intrinsics.tolist(),
    }
    scene = {
        "token": tok.scene,
        "log_token": tok.log,
        "nbr_samples": len(tok.samples),
        "first_sample_token": tok.samples[0],
        "last_sample_token": tok.samples[-1],
        "name": ep.name,
        "description": ep.text,
    }
    return {
        "log": [log],
        "calibrated_sensor": [calibrated_sensor],
        "scene": [scene],
        "sample": _sample_records(ep, tok),
        "sample_data": _sample_data_records(ep, tok),
        "ego_pose": _ego_pose_records(ep, plan, tok),
    }


def _sample_records(ep: Episode, tok: _SceneTokens) -> list[dict[str, Any]]:
    """One sample per keyframe, chained by prev / next."""
    return [
        {
            "token": token,
            "timestamp": int(ep.utimes[ep.keyframes[k]]),
            "prev": _link(tok.samples, k - 1),
            "next": _link(tok.samples, k + 1),
            "scene_token": tok.scene,
        }
        for k, token in enumerate(tok.samples)
    ]


def _sample_data_records(ep: Episode, tok: _SceneTokens) -> list[dict[str, Any]]:
    """One sample_data per frame (keyframes and sweeps), chained by prev / next."""
    n = len(ep.utimes)
    # a sweep belongs to the next keyframe's sample (nuScenes), the last sample after the last keyframe
    owner = np.minimum(np.searchsorted(ep.keyframes, np.arange(n)), len(ep.keyframes) - 1)
    is_key = np.isin(np.arange(n), ep.keyframes)
    return [
        {
            "token": tok.sample_data[i],
            "sample_token": tok.samples[owner[i]],
            "ego_pose_token": tok.ego_poses[i],
            "calibrated_sensor_token": tok.calibrated_sensor,
            "timestamp": int(ep.utimes[i]),
            "fileformat": "jpg",
            "is_key_frame": bool(is_key[i]),
            "height": ep.height,
            "width": ep.width,
            "filename": ep.filenames[i],
            "prev": _link(tok.sample_data, i - 1),
            "next": _link(tok.sample_data, i + 1),
        }
        for i in range(n)
    ]


def _ego_pose_records(ep: Episode, plan: MapPlan, tok: _SceneTokens) -> list[dict[str, Any]]:
    """One ego pose per frame, in the global frame (the episodes' world frame shifted by the map offset)."""
    xy = ep.poses[:, :2] + plan.offset_m
    quats = yaw_to_quaternion(ep.poses[:, 2])
    return [
        {
            "token": tok.ego_poses[i],
            "timestamp": int(ep.utimes[i]),
            "rotation": quats[i].tolist(),
            "translation": [float(xy[i, 0]), float(xy[i, 1]), 0.0],
        }
        for i in range(len(ep.utimes))
    ]


def _link(tokens: list[str], i: int) -> str:
    """``tokens[i]``, or "" past either end of a prev/next chain."""
    return tokens[i] if 0 <= i < len(tokens) else ""
