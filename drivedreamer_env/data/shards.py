"""Episode shards: one safetensors file per episode (arrays) with JSON metadata in its header.

Layout of a shard directory::

    DIR/manifest.json            # {"format": "drivedreamer-clips", "version": 1, "episodes": [...]}
    DIR/episode_000000.safetensors

Tensors: ``frames`` (T,H,W,3) uint8, ``timestamps`` (T,) float64, ``actions`` (T,2) float32,
``poses`` (T,3) float64 when known, and ``label.<name>`` (T,) per-frame labels. Header metadata holds
``text`` and ``meta`` (JSON). Never pickle.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.io_utils import atomic_path, write_json

FORMAT = "drivedreamer-clips"
VERSION = 1
MANIFEST = "manifest.json"


class ShardError(ValueError):
    """A shard directory or file is missing, corrupt, or of another format."""


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def write_clip(path: str | Path, clip: Clip) -> None:
    """Atomically write one clip (usually a whole episode) as a safetensors shard."""
    tensors = {
        "frames": np.ascontiguousarray(clip.frames),
        "timestamps": clip.timestamps,
        "actions": clip.actions,
    }
    meta = dict(clip.meta)
    for name, values in meta.pop("labels", {}).items():
        tensors[f"label.{name}"] = np.ascontiguousarray(np.asarray(values))
    if "poses" in meta:
        tensors["poses"] = np.asarray(meta.pop("poses"), dtype=np.float64)
    header = {
        "format": FORMAT,
        "version": str(VERSION),
        "text": clip.text,
        "meta": json.dumps(_jsonable(meta)),
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)


def read_clip(path: str | Path) -> Clip:
    """Read a shard written by :func:`write_clip`; a corrupt file raises :class:`ShardError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise ShardError(f"shard not found: {path}")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ShardError(f"corrupt shard {path}: {err}") from err
    if header.get("format") != FORMAT:
        raise ShardError(f"{path} is not a {FORMAT} shard (header format {header.get('format')!r})")
    missing = {"frames", "timestamps", "actions"} - set(tensors)
    if missing:
        raise ShardError(f"shard {path} lacks tensor(s) {sorted(missing)}")
    meta = json.loads(header.get("meta", "{}"))
    labels = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith("label.")}
    if labels:
        meta["labels"] = labels
    if "poses" in tensors:
        meta["poses"] = tensors["poses"]
    meta.setdefault("source", "shards")
    meta["shard"] = str(path)
    return Clip(tensors["frames"], tensors["timestamps"], tensors["actions"], header.get("text", ""), meta)


def write_manifest(directory: str | Path, episodes: list[dict[str, Any]], **extra: Any) -> None:
    """Atomically write ``manifest.json`` listing the shards (file name plus per-episode summary)."""
    write_json(Path(directory) / MANIFEST, {"format": FORMAT, "version": VERSION, **extra, "episodes": episodes})


def read_manifest(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    path = directory / MANIFEST
    if not directory.is_dir():
        raise ShardError(f"shard directory not found: {directory}")
    if not path.is_file():
        raise ShardError(f"{directory} has no {MANIFEST}; expected a directory written by `drivedreamer data sim`")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ShardError(f"corrupt manifest {path}: {err}") from err
    if manifest.get("format") != FORMAT:
        raise ShardError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest


class ShardSource:
    """Clip source over a shard directory: yields one clip per episode, in manifest order."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        self.files = [self.directory / ep["file"] for ep in self.manifest["episodes"]]

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[Clip]:
        for path in self.files:
            yield read_clip(path)
