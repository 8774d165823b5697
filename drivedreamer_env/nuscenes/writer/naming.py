"""The export error, deterministic record tokens, and the scene names the devkit's splits and CAN API accept."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from itertools import chain, islice

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.nuscenes.schema import CAN_BLACKLIST, CAN_WARNING_SCENES, NUSCENES_MINI_SCENES


class NuScenesExportError(ValueError):
    """The clips cannot be exported, or the output directory holds something else."""


def make_token(kind: str, *parts: object) -> str:
    """Deterministic 32-hex token of a record kind and its identifying parts."""
    key = "/".join(["drivedreamer-nuscenes", kind, *map(str, parts)])
    return hashlib.md5(key.encode()).hexdigest()


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


def named_clips(clips: Iterable[Clip], version: str) -> Iterator[tuple[str, Clip]]:
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


def _sequential_names() -> Iterator[str]:
    """scene-0001, scene-0002, ... without the numbers for which ``NuScenesCanBus`` refuses or warns."""
    for i in range(1, 10_000):
        if i not in CAN_BLACKLIST and i not in CAN_WARNING_SCENES:
            yield f"scene-{i:04d}"
