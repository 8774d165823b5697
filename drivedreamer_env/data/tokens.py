"""The token-shard format: each clip's frames encoded once by the tokenizer, so world-model epochs are cheap.

Layout: ``DIR/manifest.json`` (format ``drivedreamer-tokens``, the tokenizer's config and checkpoint path) and one
``<name>.safetensors`` per clip with ``tokens`` (T, h, w) int16, ``actions`` (T, 2), ``timestamps`` (T,) and, when
the source has them, ``events`` (T, E) float32 labels named in the manifest. Text and meta live in the header.
Tokenized with ``--proposals``, a shard also holds each frame's warp proposal (``proposal`` (T, h, w) int16 and
``proposal_trusted`` (T, h, w) bool, frame 0 all untrusted; :mod:`drivedreamer_env.models.proposal`) and the
manifest the camera they were computed with.
Written by ``drivedreamer data paired``, a shard also holds the same drive rendered in a second style
(:func:`~drivedreamer_env.sim.paired.render_paired`: same poses, same traffic): ``paired_tokens`` (T, h, w) int16,
that style's caption (``paired_text`` in the header) and ``edge_energy`` (T, h, w) float16, the mean Sobel
magnitude of the clip's own frames over each token (:func:`~drivedreamer_env.tasks.style_sampling.edge_token_energy`),
which the ``restyle`` training masks use to prefer the flat tokens. Shards without them read as before.
Encoding a clip source into this format is :func:`drivedreamer_env.sources.tokenize.tokenize_source`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
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
    proposal: np.ndarray | None = None  # (T, h, w) int64 warp-proposal tokens, None when not tokenized with them
    proposal_trusted: np.ndarray | None = None  # (T, h, w) bool
    paired_tokens: np.ndarray | None = None  # (T, h, w) int64: the same drive in a second style, None if unpaired
    paired_text: str | None = None  # the caption of that second style
    edge_energy: np.ndarray | None = None  # (T, h, w) float32 per-token edge magnitude of the clip's own frames


def write_token_clip(
    path: str | Path,
    tokens: np.ndarray,
    actions: np.ndarray,
    timestamps: np.ndarray,
    text: str,
    meta: dict[str, Any],
    events: np.ndarray | None = None,
    proposal: tuple[np.ndarray, np.ndarray] | None = None,
    paired: tuple[np.ndarray, str] | None = None,
    edge_energy: np.ndarray | None = None,
) -> None:
    """Write one token shard atomically.

    Args:
        path: the ``.safetensors`` file to write.
        tokens: (T, h, w) integer token ids (stored as int16).
        actions: (T, 2) ``[speed m/s, yaw_rate rad/s]`` (stored as float32).
        timestamps: (T,) [s].
        text: the caption.
        meta: JSON-serialisable clip meta (stored in the header).
        events: (T, E) float32 labels in ``EVENT_NAMES`` order, or None when the source has none.
        proposal: (tokens (T, h, w), trusted (T, h, w) bool) warp proposals, or None.
        paired: (tokens (T, h, w), caption) of the same drive in a second style, or None.
        edge_energy: (T, h, w) per-token edge magnitude of this clip's frames (stored as float16), or None.
    """
    tensors = {
        "tokens": np.asarray(tokens).astype(np.int16),
        "actions": np.asarray(actions).astype(np.float32),
        "timestamps": timestamps,
    }
    if events is not None:
        tensors["events"] = events
    if proposal is not None:
        tensors["proposal"] = np.asarray(proposal[0]).astype(np.int16)
        tensors["proposal_trusted"] = np.asarray(proposal[1]).astype(np.uint8)
    header = {"format": FORMAT, "text": text, "meta": json.dumps(meta)}
    if paired is not None:
        if np.shape(paired[0]) != np.shape(tokens):
            raise ValueError(f"paired tokens {np.shape(paired[0])} must match the tokens {np.shape(tokens)}")
        tensors["paired_tokens"] = np.asarray(paired[0]).astype(np.int16)
        header["paired_text"] = paired[1]
    if edge_energy is not None:
        tensors["edge_energy"] = np.asarray(edge_energy).astype(np.float16)
    with atomic_path(Path(path)) as tmp:
        save_file(tensors, str(tmp), metadata=header)


def write_token_manifest(
    directory: str | Path,
    episodes: list[dict[str, Any]],
    source: str,
    fps: float | None,
    tokenizer_checkpoint: str,
    tokenizer_config: dict[str, Any],
    camera: dict[str, Any] | None = None,
) -> None:
    """Write ``directory/manifest.json`` of a token-shard directory.

    Args:
        directory: the token-shard directory.
        episodes: one entry per shard: ``file``, ``frames``, ``caption``, ``events`` (has event labels).
        source: the ``--data`` spec the clips came from.
        fps: the frame rate the clips were resampled to [Hz], or None when kept as they were.
        tokenizer_checkpoint: the checkpoint whose tokenizer encoded them.
        tokenizer_config: that tokenizer's config as a dict.
        camera: the camera the warp proposals were computed with (``CameraModel.to_dict()``), or None.
    """
    write_json(
        Path(directory) / "manifest.json",
        {
            "format": FORMAT,
            "version": 1,
            "source": source,
            "fps": fps,
            "tokenizer_checkpoint": tokenizer_checkpoint,
            "tokenizer": tokenizer_config,
            "event_names": list(EVENT_NAMES),
            "episodes": episodes,
            **({"proposals": True, "camera": camera} if camera is not None else {}),
        },
    )


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
    has_proposal = "proposal" in t and "proposal_trusted" in t
    return TokenClip(
        t["tokens"].astype(np.int64), t["actions"], t["timestamps"], header.get("text", ""), t.get("events"),
        json.loads(header.get("meta", "{}")),
        t["proposal"].astype(np.int64) if has_proposal else None,
        t["proposal_trusted"].astype(bool) if has_proposal else None,
        t["paired_tokens"].astype(np.int64) if "paired_tokens" in t else None,
        header.get("paired_text") if "paired_tokens" in t else None,
        t["edge_energy"].astype(np.float32) if "edge_energy" in t else None,
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
