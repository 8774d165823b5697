"""Records of the nuScenes v1.0 tables: the shared vocabularies and each episode's log, scene and frame chain."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from drivedreamer_env.sim.nuscenes.constants import ATTRIBUTES, CATEGORIES, CHANNEL, VISIBILITIES
from drivedreamer_env.sim.nuscenes.episode import Episode
from drivedreamer_env.sim.nuscenes.map_raster import MapPlan
from drivedreamer_env.sim.nuscenes.naming import make_token
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


def scene_tables(ep: Episode, plan: MapPlan, sensor_token: str, location: str) -> dict[str, list[dict]]:
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


def _link(tokens: list[str], i: int) -> str:
    """``tokens[i]``, or "" past either end of a prev/next chain."""
    return tokens[i] if 0 <= i < len(tokens) else ""
