"""Training windows of token clips: tokens, actions, caption ids, event labels and, where stored, warp proposals."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from drivedreamer_env.data.tokens import TokenClip, TokenShardSource
from drivedreamer_env.models.stpt import STPTConfig
from drivedreamer_env.models.text import text_inputs
from drivedreamer_env.training.world_model_config import WorldModelTrainConfig


class TokenWindows(Dataset):
    """Random ``frames``-long windows of token clips, with their actions, caption word ids and event labels.

    Args:
        clips: the token clips (shorter ones are skipped).
        frames: window length.
        cfg: the model config (text encoder, event names).
        samples: the dataset's length (windows are drawn at random per index).
        proposals: also return each window's warp proposals (every clip must have them).
        event_boost: sampling weight of a window holding a positive event label relative to one without.
    """

    def __init__(
        self,
        clips: list[TokenClip],
        frames: int,
        cfg: STPTConfig,
        samples: int,
        proposals: bool = False,
        event_boost: float = 1.0,
    ) -> None:
        self.clips = [c for c in clips if len(c.tokens) >= frames]
        if not self.clips:
            raise ValueError(f"no token clip has {frames} frames")
        if proposals and any(c.proposal is None for c in self.clips):
            raise ValueError("warp training needs token shards with warp proposals: `data tokenize --proposals`")
        self.frames, self.cfg, self.samples, self.proposals = frames, cfg, samples, proposals
        self.words = text_inputs(cfg.text, [c.text for c in self.clips])  # computed once per clip
        # one weight per window start of every clip: every window equally likely, except boosted event windows
        self.starts = [np.full(len(c.tokens) - frames + 1, 1.0) for c in self.clips]
        if event_boost != 1.0:
            for c, w in zip(self.clips, self.starts, strict=True):
                if c.events is not None and c.events.any():
                    hit = np.convolve(c.events.any(1).astype(float), np.ones(frames), "valid") > 0
                    w[hit] = event_boost
        totals = np.array([w.sum() for w in self.starts])
        self.weights = totals / totals.sum()

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng(i)  # the sampler's index seeds the window: reproducible, no shared state
        k = int(rng.choice(len(self.clips), p=self.weights))
        clip, w = self.clips[k], self.starts[k]
        s = int(rng.choice(len(w), p=w / w.sum())) if (w != 1.0).any() else int(rng.integers(0, len(w)))
        window = slice(s, s + self.frames)
        n_events = len(self.cfg.event_names)
        events = np.zeros((self.frames, n_events), np.float32)
        valid = clip.events is not None and clip.events.shape[1] == n_events
        if valid:
            events = clip.events[window]
        item = {
            "tokens": torch.from_numpy(clip.tokens[window]),
            "actions": torch.from_numpy(clip.actions[window].astype(np.float32)),
            "words": self.words[k],
            "events": torch.from_numpy(np.asarray(events, np.float32)),
            "events_valid": torch.tensor(valid),
        }
        if self.proposals:
            item["proposal"] = torch.from_numpy(clip.proposal[window])
            item["proposal_trusted"] = torch.from_numpy(clip.proposal_trusted[window])
        return item


class TokenDataModule(L.LightningDataModule):
    def __init__(self, directory: str, cfg: WorldModelTrainConfig, seed: int) -> None:
        super().__init__()
        self.directory, self.cfg, self.seed = directory, cfg, seed
        self.train: TokenWindows | None = None
        self.val: TokenWindows | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train is not None:
            return
        clips = list(TokenShardSource(self.directory))
        n_val = max(1, round(len(clips) * self.cfg.val_fraction)) if len(clips) > 1 else 0
        train, val = clips[: len(clips) - n_val], clips[len(clips) - n_val :] or clips
        c = self.cfg
        warp = c.masking.warp > 0
        self.train = TokenWindows(train, c.frames, c.model, c.max_steps * c.batch_size, warp, c.event_window_boost)
        self.val = TokenWindows(val, c.frames, c.model, 8 * c.batch_size, warp)

    def train_dataloader(self) -> DataLoader:
        g = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.train, batch_size=self.cfg.batch_size, shuffle=True, generator=g, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=self.cfg.batch_size)
