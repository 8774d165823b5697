"""Encode any clip source once with a tokenizer into token shards (the format of :mod:`drivedreamer_env.data.tokens`).

``drivedreamer data tokenize`` calls this directly; :mod:`drivedreamer_env.sources.token_cache` calls it to fill
its cache. Each clip is optionally resampled to ``fps``, resized and centre-cropped to the tokenizer's
resolution, encoded in batches of frames, and written as one shard; the manifest is rewritten after every clip so
an interrupted run leaves a readable directory. With ``proposals`` each shard also gets its frames' warp proposals
(:func:`~drivedreamer_env.models.proposal.clip_proposals`), computed with the clip's camera (``Clip.meta``
``intrinsics`` and ``camera``; scaled to the tokenizer's resolution) or, for sources without one, the ``camera``
given (an assumption the caller states).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.tokens import EVENT_NAMES, write_token_clip, write_token_manifest
from drivedreamer_env.data.windowing import adjust_intrinsics, resample, resize_crop
from drivedreamer_env.models.proposal import clip_proposals
from drivedreamer_env.models.reprojection import CameraModel
from drivedreamer_env.sources.multi import describe, parse_data_specs
from drivedreamer_env.sources.spec import DataSpecError, open_source

if TYPE_CHECKING:
    from drivedreamer_env.models.tokenizer import VisualTokenizer

META_KEYS = ("source", "scene", "seed", "has_actions")  # clip meta kept in each token shard's header


@torch.no_grad()
def tokenize_source(
    tokenizer: VisualTokenizer,
    spec: str | Sequence[str],
    out_dir: str | Path,
    tokenizer_checkpoint: str,
    fps: float | None = None,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
    proposals: bool = False,
    camera: CameraModel | None = None,
) -> list[dict[str, Any]]:
    """Encode every clip of ``spec`` and write token shards plus a manifest to ``out_dir``.

    Args:
        tokenizer: the tokenizer that encodes the frames (its ``cfg`` gives the resolution).
        spec: a ``--data`` spec (see :func:`~drivedreamer_env.sources.spec.open_source`), or several (a list or
            a comma list, :mod:`drivedreamer_env.sources.multi`; weights do not apply here), written in order.
        out_dir: the token-shard directory to write (created if missing).
        tokenizer_checkpoint: the checkpoint path recorded in the manifest.
        fps: resample every clip to this frame rate [Hz] first (below its own rate only: upsampling is refused
            rather than repeating frames); None keeps the source's frames.
        batch_size: frames encoded per forward pass.
        progress: called with 1 per clip written.
        proposals: also compute and store every frame's warp proposal.
        camera: the camera for clips whose meta has none (at the tokenizer's resolution).

    Returns:
        The manifest's episode entries, one per clip: ``file``, ``frames``, ``caption``, ``events``.

    Raises:
        ValueError: the source yielded no clip, proposals were asked for a clip without a camera, a weight was
            given, or ``fps`` is above a clip's own frame rate.
    """
    specs = parse_data_specs(spec)
    if any(s.weight is not None for s in specs):
        raise DataSpecError(
            f"--data {describe(specs)}: weights (@W) apply to training; tokenize writes every clip of every source"
        )
    spec = describe(specs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = tokenizer.cfg
    episodes: list[dict[str, Any]] = []
    clips = (clip for s in specs for clip in open_source(s.spec))
    for i, clip in enumerate(clips):
        if fps is not None:
            clip = resample(clip, fps)
        frames = (
            clip.frames
            if clip.resolution == (cfg.height, cfg.width)
            else resize_crop(clip.frames, (cfg.height, cfg.width))
        )
        events = _event_labels(clip)
        name = f"clip_{i:06d}.safetensors"
        meta = {k: clip.meta[k] for k in META_KEYS if k in clip.meta}
        tokens = encode_frames(tokenizer, frames, batch_size)
        proposal = None
        if proposals:
            cam = clip_camera(clip, (cfg.height, cfg.width), camera)
            proposal = clip_proposals(tokenizer, torch.from_numpy(tokens), clip.actions, clip.timestamps, cam)
            meta["camera"] = cam.to_dict()
        write_token_clip(out / name, tokens, clip.actions, clip.timestamps, clip.text, meta, events, proposal)
        episodes.append({"file": name, "frames": len(frames), "caption": clip.text, "events": events is not None})
        cam_dict = meta.get("camera") if proposals else None
        write_token_manifest(out, episodes, spec, fps, tokenizer_checkpoint, dataclasses.asdict(cfg), cam_dict)
        if progress:
            progress(1)
    if not episodes:
        raise ValueError(f"data source {spec!r} yielded no clips to tokenize")
    return episodes


def clip_camera(clip: Clip, resolution: tuple[int, int], fallback: CameraModel | None = None) -> CameraModel:
    """The camera of ``clip`` at ``resolution`` (H, W) after resize / centre crop, from its meta or ``fallback``."""
    meta = clip.meta
    if "intrinsics" in meta and "camera" in meta:
        k = adjust_intrinsics(meta["intrinsics"], clip.resolution, resolution)
        return CameraModel.from_meta({"intrinsics": k.tolist(), "camera": meta["camera"]}, resolution)
    if fallback is None:
        raise ValueError(
            f"clip {meta.get('scene', meta.get('source', '?'))!r} has no camera in its meta (intrinsics + camera); "
            "give one for warp proposals (e.g. `data tokenize --proposals --hfov DEG`)"
        )
    if (fallback.height, fallback.width) != resolution:
        raise ValueError(f"camera is {fallback.height}x{fallback.width}, the tokenizer takes {resolution}")
    return fallback


def encode_frames(tokenizer: VisualTokenizer, frames: np.ndarray, batch_size: int) -> np.ndarray:
    """(T, h, w) int64 token ids of uint8 frames ``(T, H, W, 3)`` at the tokenizer's resolution, in batches."""
    chunks = [
        tokenizer.encode(torch.from_numpy(frames[j : j + batch_size])[None]).tokens[0]
        for j in range(0, len(frames), batch_size)
    ]
    return torch.cat(chunks).numpy()


def _event_labels(clip: Clip) -> np.ndarray | None:
    """(T, E) float32 event labels in ``EVENT_NAMES`` order, or None unless the clip has every one of them."""
    labels = clip.meta.get("labels", {})
    if not all(name in labels for name in EVENT_NAMES):
        return None
    return np.stack([np.asarray(labels[n], np.float32) for n in EVENT_NAMES], axis=-1)
