"""DataModule of single frames from any Clip source (for the tokenizer, which encodes frames independently)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.frames import image_folder_source, load_frames
from drivedreamer_env.data.split import split_windows
from drivedreamer_env.sources import open_source
from drivedreamer_env.sources.multi import DataSpec, parse_data_specs, source_shares


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
    """Frames of one or more Clip sources; the tail of every clip (``val_fraction`` of the frames, see
    :func:`~drivedreamer_env.data.split.split_windows` with 1-frame windows) is validation.

    With weighted sources (``SPEC@W``) training frames are drawn with replacement so that each source makes
    up its share of the batches; without weights they are shuffled, each frame once per epoch.
    """

    def __init__(
        self,
        spec: str | Sequence[str],
        height: int,
        width: int,
        batch_size: int,
        val_fraction: float = 0.05,
        seed: int = 0,
    ):
        super().__init__()
        self.specs: list[DataSpec] = parse_data_specs(spec)
        self.height, self.width = height, width
        self.batch_size, self.val_fraction, self.seed = batch_size, val_fraction, seed
        self.train: FrameDataset | None = None
        self.val: FrameDataset | None = None
        self.train_source: torch.Tensor | None = None  # (N,) index of each training frame's source
        self.split_line = ""

    def setup(self, stage: str | None = None) -> None:
        if self.train is not None:
            return
        loaded = [
            load_frames(_open_frames(s.spec), self.height, self.width, name=f"data source {s.spec!r}")
            for s in self.specs
        ]
        counts = [n for _, source_counts in loaded for n in source_counts]
        split = split_windows(counts, 1, self.val_fraction)
        train, val, owner, clip = [], [], [], 0
        for k, (frames, source_counts) in enumerate(loaded):
            offset = 0
            for n in source_counts:
                head = split.train_frames[clip]
                train.append(frames[offset : offset + head])
                val.append(frames[offset + head : offset + n])
                owner += [k] * head
                offset, clip = offset + n, clip + 1
        train_frames, val_frames = torch.cat(train), torch.cat(val)
        self.train = FrameDataset(train_frames)
        self.val = FrameDataset(val_frames if len(val_frames) else train_frames)
        self.train_source = torch.tensor(owner)
        self.split_line = split.describe("frames")
        if self.trainer is None or self.trainer.is_global_zero:
            print(self.split_line, flush=True)

    def train_dataloader(self) -> DataLoader:
        g = torch.Generator().manual_seed(self.seed)
        if self.specs[0].weight is None:
            return DataLoader(self.train, batch_size=self.batch_size, shuffle=True, drop_last=True, generator=g)
        sizes = torch.bincount(self.train_source, minlength=len(self.specs))
        shares = torch.tensor(source_shares(self.specs, sizes.tolist()))
        weights = (shares / sizes.clamp(min=1))[self.train_source]
        sampler = WeightedRandomSampler(weights.double(), len(self.train), replacement=True, generator=g)
        return DataLoader(self.train, batch_size=self.batch_size, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=self.batch_size, shuffle=False)
