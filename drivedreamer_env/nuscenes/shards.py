"""``drivedreamer data nuscenes``: a nuScenes source written as clip shards with per-scene action statistics.

The output is an ordinary shard directory (:mod:`drivedreamer_env.data.shards`), so ``sim:DIR``, ``shards:DIR``
and ``nuscenes:DIR`` all read it, ``drivedreamer data tokenize`` encodes it, and
``drivedreamer train world-model --data nuscenes:DIR`` fine-tunes on it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.shards import write_clip, write_manifest
from drivedreamer_env.nuscenes.reader.source import NuScenesSource

SOURCE = "nuscenes"
MAX_LISTED_MISSING = 50  # missing image paths listed in the manifest (all are counted)


def action_stats(clip: Clip) -> dict[str, Any]:
    """Summary of a clip's actions: speed [m/s] and yaw rate [rad/s] min/mean/max/std, distance [m], turn [rad]."""
    a = clip.actions.astype(np.float64)
    dt = np.diff(clip.timestamps)
    stats: dict[str, Any] = {}
    for k, name in enumerate(("speed_mps", "yaw_rate_rps")):
        v = a[:, k]
        stats[name] = {"min": float(v.min()), "mean": float(v.mean()), "max": float(v.max()), "std": float(v.std())}
    stats["distance_m"] = float(np.sum(a[:-1, 0] * dt))
    stats["heading_change_rad"] = float(np.sum(a[:-1, 1] * dt))  # + left
    return stats


def write_nuscenes_shards(
    source: NuScenesSource, out_dir: str | Path, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Write every clip of ``source`` as a shard plus a manifest; returns the manifest.

    Shard names are ``<scene>.safetensors`` (``<scene>_<k>.safetensors`` for windows). The manifest records the
    dataset, split, action source, frame rate and resolution, one entry per clip with its action statistics and
    the actions' actual source (a CAN-bus fallback shows as ``ego_pose``), and the source's report (missing
    images, CAN fallbacks, scenes that gave no clip). It is rewritten after every clip, so an interrupted run
    leaves a readable directory.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    episodes: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for clip in source:
        scene = clip.meta["scene"]
        k = counts[scene] = counts.get(scene, -1) + 1
        name = f"{scene}.safetensors" if source.frames is None else f"{scene}_{k:03d}.safetensors"
        write_clip(out / name, clip)
        episodes.append(
            {
                "file": name,
                "scene": scene,
                "frames": len(clip),
                "duration_s": float(clip.timestamps[-1] - clip.timestamps[0]),
                "caption": clip.text,
                "description": clip.meta["description"],
                "actions_from": clip.meta["actions_from"],
                "missing_images": clip.meta["missing_images"],
                **action_stats(clip),
            }
        )
        _write(out, source, episodes)
        if progress:
            progress(1)
    return _write(out, source, episodes)  # the final report (scenes skipped after the last clip)


def _write(out: Path, source: NuScenesSource, episodes: list[dict[str, Any]]) -> dict[str, Any]:
    r = source.report
    extra = {
        "source": SOURCE,
        "dataroot": str(source.dataroot),
        "version": source.version,
        "split": source.split or "all",
        "channel": source.channel,
        "actions": source.actions,
        "fps": source.fps,
        "resolution": list(source.resolution),
        "crop": list(source.crop) if source.crop else None,
        "report": {
            "scenes": r.scenes,
            "clips": r.clips,
            "frames": r.frames,
            "missing_images": len(r.missing_images),
            "missing_image_paths": r.missing_images[:MAX_LISTED_MISSING],
            "can_fallbacks": dict(r.can_fallbacks),
            "skipped_scenes": dict(r.skipped_scenes),
        },
    }
    write_manifest(out, episodes, **extra)
    return {"format": "drivedreamer-clips", **extra, "episodes": episodes}
