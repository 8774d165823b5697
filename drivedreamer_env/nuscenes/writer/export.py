"""``export_nuscenes``: write a complete dataset into a staging directory, fingerprint it, then install it atomically.

See :mod:`drivedreamer_env.nuscenes.writer` for the on-disk layout and the frame conventions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.io_utils import write_bytes, write_json
from drivedreamer_env.nuscenes.schema import CHANNEL, TABLES
from drivedreamer_env.nuscenes.writer.can_bus import can_files
from drivedreamer_env.nuscenes.writer.constants import DEFAULT_GEOMETRY, MARKER_FILE
from drivedreamer_env.nuscenes.writer.episode import Episode, write_frames
from drivedreamer_env.nuscenes.writer.map_raster import MapPlan, plan_map, rasterize_map
from drivedreamer_env.nuscenes.writer.naming import NuScenesExportError, make_token, named_clips
from drivedreamer_env.nuscenes.writer.tables import scene_tables, static_tables
from drivedreamer_env.units import VehicleGeometry

# Recorded in the provenance file and hashed into the fingerprint: kept as the writer's first module path so that
# re-exporting the same clips still matches datasets written before it moved (to sim/nuscenes/, then here).
GENERATOR = "drivedreamer_env.sim.nuscenes_export"


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
        episodes = write_frames(named_clips(clips, version), staging, keyframe_interval_s, geometry)
        plan = plan_map(episodes, max_map_px)  # called directly here: its warning's stacklevel relies on it
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


def _write_dataset(
    root: Path,
    episodes: list[Episode],
    plan: MapPlan,
    version: str,
    location: str,
    geometry: VehicleGeometry,
    interval_s: float,
) -> dict[str, Any]:
    """Write tables, map and CAN files under ``root``; return the provenance record (without fingerprint)."""
    sensor_token = make_token("sensor", CHANNEL)
    tables = static_tables(sensor_token)
    for ep in episodes:
        for table, records in scene_tables(ep, plan, sensor_token, location).items():
            tables.setdefault(table, []).extend(records)
        for message, content in can_files(ep, plan, geometry).items():
            write_json(root / "can_bus" / f"{ep.name}_{message}.json", content)
    map_token = make_token("map", location)
    map_file = f"maps/{map_token}.png"
    ok, png = cv2.imencode(".png", rasterize_map(episodes, plan))
    if not ok:
        raise NuScenesExportError("PNG encoding of the map failed")
    write_bytes(root / map_file, png.tobytes())
    log_tokens = [log["token"] for log in tables["log"]]
    tables["map"] = [{"token": map_token, "log_tokens": log_tokens, "category": "semantic_prior", "filename": map_file}]
    for table in TABLES:
        write_json(root / version / f"{table}.json", tables[table])
    return {
        "generator": GENERATOR,
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
