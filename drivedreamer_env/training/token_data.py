"""Training windows of token clips: tokens, actions, caption ids, event labels and, where stored, warp proposals
and the paired twin in another style."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from drivedreamer_env.data.split import split_windows
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
        clip_weights: a factor per clip on its windows' sampling weight (e.g. a source's share over its
            windows); None: every window equally likely.
        paired: also return each window's twin in another style (``paired_tokens``, ``paired_words``,
            ``edge_energy``, ``has_paired``); a clip without one returns its own tokens and words as the twin
            and ``has_paired`` False (the restyle masks then never pick it).
    """

    def __init__(
        self,
        clips: list[TokenClip],
        frames: int,
        cfg: STPTConfig,
        samples: int,
        proposals: bool = False,
        event_boost: float = 1.0,
        clip_weights: Sequence[float] | None = None,
        paired: bool = False,
    ) -> None:
        factors = [1.0] * len(clips) if clip_weights is None else list(clip_weights)
        factors = [f for c, f in zip(clips, factors, strict=True) if len(c.tokens) >= frames]
        self.clips = [c for c in clips if len(c.tokens) >= frames]
        if not self.clips:
            raise ValueError(f"no token clip has {frames} frames")
        if proposals and any(c.proposal is None for c in self.clips):
            raise ValueError("warp training needs token shards with warp proposals: `data tokenize --proposals`")
        self.frames, self.cfg, self.samples, self.proposals = frames, cfg, samples, proposals
        self.words = text_inputs(cfg.text, [c.text for c in self.clips])  # computed once per clip
        self.paired = paired
        if paired:
            self.paired_words = text_inputs(cfg.text, [c.paired_text or c.text for c in self.clips])
        # one weight per window start of every clip: every window equally likely, except boosted event windows
        self.starts = [np.full(len(c.tokens) - frames + 1, 1.0) for c in self.clips]
        if event_boost != 1.0:
            for c, w in zip(self.clips, self.starts, strict=True):
                if c.events is not None and c.events.any():
                    hit = np.convolve(c.events.any(1).astype(float), np.ones(frames), "valid") > 0
                    w[hit] = event_boost
        totals = np.array([w.sum() * f for w, f in zip(self.starts, factors, strict=True)])
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
            # a clip without recorded actions (vision-only video) trains with the null action, as WorldDreamer
            # trains on vision-only data: its zero rows are not "stopped, driving straight"
            "has_actions": torch.tensor(bool(clip.meta.get("has_actions", True))),
        }
        if self.proposals:
            item["proposal"] = torch.from_numpy(clip.proposal[window])
            item["proposal_trusted"] = torch.from_numpy(clip.proposal_trusted[window])
        if self.paired:
            has = clip.paired_tokens is not None
            item["has_paired"] = torch.tensor(has)
            item["paired_tokens"] = torch.from_numpy((clip.paired_tokens if has else clip.tokens)[window])
            item["paired_words"] = self.paired_words[k] if has else self.words[k]
            energy = clip.edge_energy[window] if clip.edge_energy is not None else np.zeros(item["tokens"].shape)
            item["edge_energy"] = torch.from_numpy(np.asarray(energy, np.float32))
        return item


def slice_token_clip(clip: TokenClip, start: int, stop: int) -> TokenClip:
    """Frames ``[start, stop)`` of a token clip, every per-frame array cut alike."""
    cut = {k: None if getattr(clip, k) is None else getattr(clip, k)[start:stop]
           for k in ("tokens", "actions", "timestamps", "events", "proposal", "proposal_trusted", "paired_tokens",
                     "edge_energy")}  # fmt: skip
    return dataclasses.replace(clip, **cut)


def stride_token_clip(clip: TokenClip, k: int) -> list[TokenClip]:
    """Every ``k``-th frame of ``clip``, one clip per phase (offsets 0 .. k-1, shorter than 2 frames dropped).

    Frame t's action drives t -> t+k: the mean of the k one-step actions (speed and yaw rate: the mean rates over
    the interval). Frame t's event labels are the maximum over the k frames up to it (an event between two kept
    frames is not lost). Warp proposals are one-step and not kept; a paired twin is cut alike.
    """
    if k == 1:
        return [clip]
    out = []
    n = len(clip.tokens)
    for phase in range(k):
        idx = np.arange(phase, n, k)
        if len(idx) < 2:
            continue
        acts = np.stack([clip.actions[i : i + k].mean(0) for i in idx]).astype(clip.actions.dtype)
        events = None
        if clip.events is not None:
            events = np.stack([clip.events[max(0, i - k + 1) : i + 1].max(0) for i in idx])
        meta = {**clip.meta, "frame_stride": k, "phase": phase}
        twin = {
            n: None if getattr(clip, n) is None else getattr(clip, n)[idx] for n in ("paired_tokens", "edge_energy")
        }
        out.append(dataclasses.replace(clip, tokens=clip.tokens[idx], actions=acts, timestamps=clip.timestamps[idx],
                                       events=events, meta=meta, proposal=None, proposal_trusted=None,
                                       **twin))  # fmt: skip
    return out


def frame_period(clips: Sequence[TokenClip]) -> float | None:
    """The median frame period [s] of the clips' timestamps (None without two frames anywhere)."""
    steps = [np.diff(c.timestamps) for c in clips if len(c.timestamps) > 1]
    return float(np.median(np.concatenate(steps))) if steps else None


class TokenDataModule(L.LightningDataModule):
    """Windows of one or more token-shard directories; the tail of every clip (``cfg.val_fraction`` of the
    windows, :func:`~drivedreamer_env.data.split.split_windows`) is validation.

    Args:
        directories: token-shard directories (one per ``--data`` source).
        cfg: the run's config (window length, batch size, validation fraction).
        seed: seeds the batch order.
        shares: each directory's share of the training windows; None: in proportion to its windows.
    """

    def __init__(
        self,
        directories: str | Sequence[str],
        cfg: WorldModelTrainConfig,
        seed: int,
        shares: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.directories = [directories] if isinstance(directories, str) else list(directories)
        self.cfg, self.seed, self.shares = cfg, seed, shares
        self.train: TokenWindows | None = None
        self.val: TokenWindows | None = None
        self.split_line = ""

    def setup(self, stage: str | None = None) -> None:
        if self.train is not None:
            return
        c = self.cfg
        per_source = [list(TokenShardSource(d)) for d in self.directories]
        if c.frame_stride > 1:
            per_source = [
                [s for clip in source for s in stride_token_clip(clip, c.frame_stride)] for source in per_source
            ]
        clips = [clip for source in per_source for clip in source]
        owner = [k for k, source in enumerate(per_source) for _ in source]
        split = split_windows([len(clip.tokens) for clip in clips], c.frames, c.val_fraction)
        train = [slice_token_clip(clip, 0, n) for clip, n in zip(clips, split.train_frames, strict=True)]
        val = [slice_token_clip(clip, n, len(clip.tokens)) for clip, n in zip(clips, split.train_frames, strict=True)]
        val = [v for v in val if len(v.tokens) >= c.frames] or train
        weights = None
        if self.shares is not None:  # a source's share spread over its training windows
            starts = [max(len(t.tokens) - c.frames + 1, 0) for t in train]
            per = [sum(s for s, o in zip(starts, owner, strict=True) if o == k) for k in range(len(per_source))]
            weights = [self.shares[o] / max(per[o], 1) for o in owner]
        warp, paired = c.masking.warp > 0, c.masking.restyles
        self.train = TokenWindows(
            train, c.frames, c.model, c.max_steps * c.batch_size, warp, c.event_window_boost, weights, paired
        )
        self.val = TokenWindows(val, c.frames, c.model, 8 * c.batch_size, warp, paired=paired)
        self.split_line = split.describe(f"{c.frames}-frame windows")
        if self.trainer is None or self.trainer.is_global_zero:
            print(self.split_line, flush=True)

    def train_dataloader(self) -> DataLoader:
        g = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.train, batch_size=self.cfg.batch_size, shuffle=True, generator=g, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=self.cfg.batch_size)
