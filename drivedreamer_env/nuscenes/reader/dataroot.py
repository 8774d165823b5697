"""A nuScenes dataroot before the devkit sees it: errors, version folders, table checks and the lazy devkit import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drivedreamer_env.nuscenes.schema import TABLES

INSTALL_HINT = "the nuScenes adapter needs the official devkit: pip install 'drivedreamer-env[nuscenes]'"


class NuScenesError(ValueError):
    """A nuScenes dataroot, version, table, split or channel is missing or unusable (the message names it)."""


class NuScenesWarning(UserWarning):
    """Something was skipped or replaced while reading nuScenes (missing images, CAN-bus fallback)."""


def load_devkit() -> tuple[Any, Any, Any]:
    """``(NuScenes, NuScenesCanBus, create_splits_scenes)`` of the devkit, imported only now.

    Raises:
        ImportError: the devkit is not installed (the message says how to install it).
    """
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
