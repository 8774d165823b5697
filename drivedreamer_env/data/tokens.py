"""Pre-tokenized shards: each clip's frames encoded once by the tokenizer, so world-model epochs are cheap.

Layout: ``DIR/manifest.json`` (format ``drivedreamer-tokens``, the tokenizer's config and checkpoint path) and one
``<name>.safetensors`` per clip with ``tokens`` (T, h, w) int16, ``actions`` (T, 2), ``timestamps`` (T,) and, when
the source has them, ``events`` (T, E) float32 labels named in the manifest. Text and meta live in the header.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from drivedreamer_env.data.shards import ShardError
from drivedreamer_env.io_utils import atomic_path, write_json

FORMAT = "drivedreamer-tokens"
EVENT_NAMES = ("off_road", "collision")


@dataclass
class TokenClip:
    tokens: np.ndarray  # (T, h, w) int64
    actions: np.ndarray  # (T, 2) float32 [speed m/s, yaw_rate rad/s]
    timestamps: np.ndarray  # (T,) float64
    text: str
    events: np.ndarray | None  # (T, E) float32, None when the source has no labels
    meta: dict[str, Any] = field(default_factory=dict)


@torch.no_grad()
def tokenize_source(
    tokenizer: Any,
    spec: str,
    out_dir: str | Path,
    tokenizer_checkpoint: str,
    fps: float | None = None,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Encode every clip of ``spec`` and write token shards plus a manifest to ``out_dir``."""
    import dataclasses

    from drivedreamer_env.data.sources import open_source
    from drivedreamer_env.data.windowing import resample, resize_crop

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = tokenizer.cfg
    episodes: list[dict[str, Any]] = []
    for i, clip in enumerate(open_source(spec)):
        if fps is not None:
            clip = resample(clip, fps)
        frames = (
            clip.frames
            if clip.resolution == (cfg.height, cfg.width)
            else resize_crop(clip.frames, (cfg.height, cfg.width))
        )
        chunks = [
            tokenizer.encode(torch.from_numpy(frames[j : j + batch_size])[None]).tokens[0]
            for j in range(0, len(frames), batch_size)
        ]
        tensors = {
            "tokens": torch.cat(chunks).numpy().astype(np.int16),
            "actions": clip.actions.astype(np.float32),
            "timestamps": clip.timestamps,
        }
        labels = clip.meta.get("labels", {})
        has_events = all(name in labels for name in EVENT_NAMES)
        if has_events:
            tensors["events"] = np.stack([np.asarray(labels[n], np.float32) for n in EVENT_NAMES], axis=-1)
        name = f"clip_{i:06d}.safetensors"
        meta = {k: clip.meta[k] for k in ("source", "scene", "seed", "has_actions") if k in clip.meta}
        with atomic_path(out / name) as tmp:
            save_file(tensors, str(tmp), metadata={"format": FORMAT, "text": clip.text, "meta": json.dumps(meta)})
        episodes.append({"file": name, "frames": len(frames), "caption": clip.text, "events": has_events})
        write_json(
            out / "manifest.json",
            {
                "format": FORMAT,
                "version": 1,
                "source": spec,
                "fps": fps,
                "tokenizer_checkpoint": tokenizer_checkpoint,
                "tokenizer": dataclasses.asdict(cfg),
                "event_names": list(EVENT_NAMES),
                "episodes": episodes,
            },
        )
        if progress:
            progress(1)
    if not episodes:
        raise ValueError(f"data source {spec!r} yielded no clips to tokenize")
    return episodes


def read_token_manifest(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / "manifest.json"
    if not path.is_file():
        raise ShardError(
            f"{directory} has no manifest.json; expected a directory written by `drivedreamer data tokenize`"
        )
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise ShardError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest


def read_token_clip(path: str | Path) -> TokenClip:
    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
        t = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise ShardError(f"corrupt token shard {path}: {err}") from err
    return TokenClip(
        t["tokens"].astype(np.int64), t["actions"], t["timestamps"], header.get("text", ""), t.get("events"),
        json.loads(header.get("meta", "{}")),
    )  # fmt: skip


class TokenShardSource:
    """Iterates the token clips of a ``drivedreamer data tokenize`` directory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.manifest = read_token_manifest(self.directory)

    def __len__(self) -> int:
        return len(self.manifest["episodes"])

    def __iter__(self) -> Iterator[TokenClip]:
        for ep in self.manifest["episodes"]:
            yield read_token_clip(self.directory / ep["file"])
