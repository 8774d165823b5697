"""Compatibility module: the nuScenes-format writer lives in :mod:`drivedreamer_env.sim.nuscenes`.

Existing imports (``from drivedreamer_env.sim.nuscenes_export import export_nuscenes``) keep working.
"""

from __future__ import annotations

from drivedreamer_env.sim.nuscenes.constants import (
    CAN_BLACKLIST,
    CAN_WARNING_SCENES,
    CHANNEL,
    DEFAULT_GEOMETRY,
    MARKER_FILE,
    NUSCENES_MINI_SCENES,
    TABLES,
)
from drivedreamer_env.sim.nuscenes.episode import select_keyframes
from drivedreamer_env.sim.nuscenes.export import export_nuscenes
from drivedreamer_env.sim.nuscenes.naming import NuScenesExportError, make_token, scene_names
from drivedreamer_env.sim.nuscenes.tables import camera_to_ego_rotation_wxyz

__all__ = [
    "CAN_BLACKLIST",
    "CAN_WARNING_SCENES",
    "CHANNEL",
    "DEFAULT_GEOMETRY",
    "MARKER_FILE",
    "NUSCENES_MINI_SCENES",
    "TABLES",
    "NuScenesExportError",
    "camera_to_ego_rotation_wxyz",
    "export_nuscenes",
    "make_token",
    "scene_names",
    "select_keyframes",
]
