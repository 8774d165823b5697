"""DataModule of single frames from any Clip source (for the tokenizer, which encodes frames independently)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from drivedreamer_env.data.windowing import resize_crop
from drivedreamer_env.sources import open_source


class FrameDataset(Dataset):
    def __init__(self, frames: torch.Tensor) -> None:
        self.frames = frames  # (N, H, W, 3) uint8

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.frames[i]


NOMINAL_FPS = 10.0  # frames alone carry no timing; the tokenizer does not use it


def _frames_source(spec: str):
    """Like ``open_source``, but a bare folder of images needs no frame rate: timing is irrelevant here."""
    from drivedreamer_env.data.shards import MANIFEST
    from drivedreamer_env.data.video import VideoSource

    path = Path(spec.removeprefix("video:"))
    if "?" not in spec and path.is_dir() and not (path / MANIFEST).exists():
        return VideoSource(path, fps=NOMINAL_FPS)
    return open_source(spec)


def load_frames(spec: str, height: int, width: int, max_frames: int | None = None) -> tuple[torch.Tensor, list[int]]:
    """All frames of a source resized / centre-cropped to (height, width); also each clip's frame count."""
    chunks, counts, total = [], [], 0
    for clip in _frames_source(spec):
        frames = clip.frames
        if frames.shape[1:3] != (height, width):
            frames = resize_crop(frames, (height, width))
        chunks.append(frames)
        counts.append(len(frames))
        total += len(frames)
        if max_frames is not None and total >= max_frames:
            break
    if not chunks:
        raise ValueError(f"data source {spec!r} yielded no frames")
    frames = np.concatenate(chunks)[:max_frames]
    return torch.from_numpy(frames), counts


class FramesDataModule(L.LightningDataModule):
    """Frames of a Clip source; the last ``val_fraction`` of clips (whole clips, no leakage) is validation."""

    def __init__(self, spec: str, height: int, width: int, batch_size: int, val_fraction: float = 0.05, seed: int = 0):
        super().__init__()
        self.spec, self.height, self.width = spec, height, width
        self.batch_size, self.val_fraction, self.seed = batch_size, val_fraction, seed
        self.train: FrameDataset | None = None
        self.val: FrameDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train is not None:
            return
        frames, counts = load_frames(self.spec, self.height, self.width)
        n_val_clips = round(len(counts) * self.val_fraction) if len(counts) > 1 else 0
        split = sum(counts[: len(counts) - n_val_clips]) if n_val_clips else len(frames)
        if split == len(frames) and len(frames) > 1:  # one clip: hold out its tail
            split = max(1, int(len(frames) * (1 - self.val_fraction)))
        self.train, self.val = FrameDataset(frames[:split]), FrameDataset(frames[split:])

    def train_dataloader(self) -> DataLoader:
        g = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True, drop_last=True, generator=g)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=self.batch_size, shuffle=False)
