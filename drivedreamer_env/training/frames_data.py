"""DataModule of single frames from any Clip source (for the tokenizer, which encodes frames independently)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.frames import image_folder_source, load_frames
from drivedreamer_env.data.split import split_windows
from drivedreamer_env.sources import DataSpecError, open_source
from drivedreamer_env.sources.multi import DataSpec, describe, parse_data_specs, source_shares


class FrameDataset(Dataset):
    def __init__(self, frames: torch.Tensor) -> None:
        self.frames = frames  # (N, H, W, 3) uint8

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.frames[i]


def replay_share_of(replay: Sequence[DataSpec], default: float) -> float:
    """The share of training frames the replay sources make up: their ``@W`` weights summed, else ``default``.

    Raises:
        DataSpecError: the share is not in (0, 1).
    """
    share = default if replay[0].weight is None else sum(s.weight for s in replay)
    if not 0.0 < share < 1.0:
        raise DataSpecError(
            f"--replay {describe(replay)}: the replay share {share:g} must be in (0, 1), e.g. sim:DIR@0.3 "
            f"(30 % of the training frames from the replay source, 70 % from --data)"
        )
    return share


def _open_frames(spec: str) -> Iterable[Clip]:
    """The clips of ``spec`` for frame-level use (a bare image folder needs no frame rate here)."""
    folder = image_folder_source(spec)
    return folder if folder is not None else open_source(spec)


class FramesDataModule(L.LightningDataModule):
    """Frames of one or more Clip sources; the tail of every clip (``val_fraction`` of the frames, see
    :func:`~drivedreamer_env.data.split.split_windows` with 1-frame windows) is validation.

    With weighted sources (``SPEC@W``) training frames are drawn with replacement so that each source makes
    up its share of the batches; without weights they are shuffled, each frame once per epoch.

    ``replay`` sources (fine-tuning: frames of the data the model was trained on, so that it does not forget
    them) make up ``replay_share`` of the training frames, drawn with replacement; the ``spec`` sources share the
    rest by their weights or, without weights, their sizes. ``SPEC@W`` weights on replay sources are their
    shares of all training frames and replace ``replay_share``.
    """

    def __init__(
        self,
        spec: str | Sequence[str],
        height: int,
        width: int,
        batch_size: int,
        val_fraction: float = 0.05,
        seed: int = 0,
        replay: str | Sequence[str] | None = None,
        replay_share: float = 0.3,
    ):
        super().__init__()
        self.specs: list[DataSpec] = parse_data_specs(spec)
        self.replay: list[DataSpec] = parse_data_specs(replay) if replay else []
        self.replay_share = replay_share_of(self.replay, replay_share) if self.replay else 0.0
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
            for s in [*self.specs, *self.replay]
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
        if self.replay:
            n = int((self.train_source >= len(self.specs)).sum())
            self.split_line += (
                f"; replay: {100 * self.replay_share:.0f} % of the training frames from "
                f"{describe(self.replay)} ({n} frames)"
            )
        if self.trainer is None or self.trainer.is_global_zero:
            print(self.split_line, flush=True)

    def source_shares(self) -> list[float] | None:
        """Each source's share of the training frames (``spec`` sources, then replay), or None: uniform frames."""
        if self.specs[0].weight is None and not self.replay:
            return None
        sizes = torch.bincount(self.train_source, minlength=len(self.specs) + len(self.replay)).tolist()
        k = len(self.specs)
        own = [(1.0 - self.replay_share) * s for s in source_shares(self.specs, sizes[:k])]
        if not self.replay:
            return own
        return own + [self.replay_share * s for s in source_shares(self.replay, sizes[k:])]

    def train_dataloader(self) -> DataLoader:
        g = torch.Generator().manual_seed(self.seed)
        per_source = self.source_shares()
        if per_source is None:
            return DataLoader(self.train, batch_size=self.batch_size, shuffle=True, drop_last=True, generator=g)
        sizes = torch.bincount(self.train_source, minlength=len(per_source))
        shares = torch.tensor(per_source)
        weights = (shares / sizes.clamp(min=1))[self.train_source]
        sampler = WeightedRandomSampler(weights.double(), len(self.train), replacement=True, generator=g)
        return DataLoader(self.train, batch_size=self.batch_size, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=self.batch_size, shuffle=False)
