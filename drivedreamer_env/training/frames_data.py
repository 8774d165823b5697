"""DataModule of single frames from any Clip source (for the tokenizer, which encodes frames independently)."""

from __future__ import annotations

from collections.abc import Iterable

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.frames import image_folder_source, load_frames
from drivedreamer_env.sources import open_source


class FrameDataset(Dataset):
    def __init__(self, frames: torch.Tensor) -> None:
        self.frames = frames  # (N, H, W, 3) uint8

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.frames[i]


def _open_frames(spec: str) -> Iterable[Clip]:
    """The clips of ``spec`` for frame-level use (a bare image folder needs no frame rate here)."""
    folder = image_folder_source(spec)
    return folder if folder is not None else open_source(spec)


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
        frames, counts = load_frames(
            _open_frames(self.spec), self.height, self.width, name=f"data source {self.spec!r}"
        )
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
