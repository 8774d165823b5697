"""Single frames out of clips, for what encodes frames independently (tokenizer training and evaluation).

Pure data: no Lightning, no model. The caller opens the source; :func:`image_folder_source` covers the one case
where a frames-only consumer is more lenient than a clip consumer (a bare folder of images needs no frame rate).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import torch

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.shards import MANIFEST
from drivedreamer_env.data.video import VideoSource
from drivedreamer_env.data.windowing import resize_crop

NOMINAL_FPS = 10.0  # frames alone carry no timing; the tokenizer does not use it


def image_folder_source(spec: str) -> VideoSource | None:
    """A bare folder of frame images (no shard manifest, no ``?options``) at :data:`NOMINAL_FPS`, else None.

    ``open_source`` asks such a folder for its frame rate; frames-only consumers do not need one.
    """
    path = Path(spec.removeprefix("video:"))
    if "?" not in spec and path.is_dir() and not (path / MANIFEST).exists():
        return VideoSource(path, fps=NOMINAL_FPS)
    return None


def load_frames(
    clips: Iterable[Clip], height: int, width: int, max_frames: int | None = None, name: str = "data source"
) -> tuple[torch.Tensor, list[int]]:
    """All frames of ``clips`` resized / centre-cropped to (height, width) [px].

    Args:
        clips: the source's clips, in order (read lazily: reading stops once ``max_frames`` are in).
        height, width: output frame size [px].
        max_frames: keep at most this many frames (None: all).
        name: what ``clips`` is, for the error message (e.g. the ``--data`` spec).

    Returns:
        frames (N, height, width, 3) uint8, and each clip's frame count (before the ``max_frames`` cut).

    Raises:
        ValueError: the clips hold no frame.
    """
    chunks, counts, total = [], [], 0
    for clip in clips:
        frames = clip.frames
        if frames.shape[1:3] != (height, width):
            frames = resize_crop(frames, (height, width))
        chunks.append(frames)
        counts.append(len(frames))
        total += len(frames)
        if max_frames is not None and total >= max_frames:
            break
    if not chunks:
        raise ValueError(f"{name} yielded no frames")
    frames = np.concatenate(chunks)[:max_frames]
    return torch.from_numpy(frames), counts


def edge_token_energy(frames: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, h, w) mean Sobel gradient magnitude of the grey image over each token's pixels."""
    t, h, w = frames.shape[:3]
    gh, gw = grid
    out = np.empty((t, gh, gw), np.float32)
    for i, f in enumerate(frames):
        g = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
        out[i] = mag.reshape(gh, h // gh, gw, w // gw).mean(axis=(1, 3))
    return out
