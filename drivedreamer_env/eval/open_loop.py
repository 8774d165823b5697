"""Open-loop dreams and their fidelity metrics, shared by the simulator and the recorded-clip evaluations.

An open-loop dream is given ``context`` real frames (as tokens) and the actions, and generates the next
``horizon`` frames without ever seeing the real ones. :func:`open_loop_metrics` scores it against the real
frames; both ``drivedreamer eval world-model`` (simulator seeds) and ``--data SPEC`` (recorded clips) report
exactly these keys, so their numbers compare directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from drivedreamer_env.metrics import psnr
from drivedreamer_env.models.dream import WarpAnchor, dream_step
from drivedreamer_env.models.sampler import Rollout, SamplerConfig
from drivedreamer_env.models.world_model import WorldModel

PSNR_HORIZONS = (1, 4, 8)  # frames ahead at which psnr@k is reported (those <= horizon)
SHEET_HORIZONS = (1, 2, 4, 8)  # frames ahead shown in the contact sheets (those <= horizon)
DREAM_SEED = 1  # seed of the fidelity dreams (with and without the true actions: the same noise)


def resolve_sampler(wm: WorldModel, sampler: SamplerConfig | dict | None) -> SamplerConfig:
    """A full sampler config: as given, or the checkpoint's recommended one with ``sampler`` (a dict) applied."""
    if isinstance(sampler, SamplerConfig):
        return sampler
    return wm.sampler(**(sampler or {}))


def mean_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean PSNR [dB] over the leading axis of two uint8 frame arrays (N, ..., 3)."""
    return float(psnr(torch.from_numpy(a), torch.from_numpy(b)).mean())


@dataclass
class Dream:
    """An open-loop dream: frames (B, horizon, H, W, 3) uint8 and event-head probabilities (B, horizon, E)."""

    frames: np.ndarray
    events: np.ndarray


def dream(
    wm: WorldModel, tokens: torch.Tensor, actions: np.ndarray, texts: list[str], context: int, horizon: int,
    sampler: SamplerConfig, seed: int, dt_s: float = 0.1,
) -> Dream:  # fmt: skip
    """Open-loop dream: ``context`` given frames, then ``horizon`` generated ones, each step through
    :func:`~drivedreamer_env.models.dream.dream_step` (so warp decoding warps with ``dt_s`` [s] steps).

    Args:
        tokens: (B, >= context, h, w) tokens; only the first ``context`` frames are seen.
        actions: (B, >= context + horizon - 1, 2) ``[speed m/s, yaw_rate rad/s]``; the action of frame t drives
            the transition into frame t + 1.
        texts: B captions.
        seed: row i samples with ``torch.Generator().manual_seed(seed + i)`` (reproducible per row).
    """
    b = tokens.shape[0]
    acts = torch.from_numpy(actions.astype(np.float32))
    r = Rollout(wm.stpt, sampler, batch=b, text_ids=wm.text_ids(texts))
    r.observe(tokens[:, :context], acts[:, : context - 1])
    gens = [torch.Generator().manual_seed(seed + i) for i in range(b)]
    anchor = WarpAnchor.at(wm.decode(tokens[:, context - 1 : context])[:, 0])
    frames, events = [], []
    for t in range(context - 1, context - 1 + horizon):
        step = dream_step(r, wm, anchor, acts[:, t], dt_s, gens)
        anchor = step.anchor
        frames.append(step.frames)
        events.append(torch.sigmoid(r.last_events.float()).cpu().numpy())
    return Dream(np.stack(frames, 1), np.stack(events, 1))


def rollout(
    wm: WorldModel, tokens: torch.Tensor, actions: np.ndarray, texts: list[str], context: int, horizon: int,
    sampler: SamplerConfig, seed: int, dt_s: float = 0.1,
) -> np.ndarray:  # fmt: skip
    """The frames (B, horizon, H, W, 3) uint8 of :func:`dream`."""
    return dream(wm, tokens, actions, texts, context, horizon, sampler, seed, dt_s).frames


def other_actions(actions: np.ndarray, context: int) -> np.ndarray:
    """``actions`` (N, T, 2) with each row's actions from frame ``context - 1`` on taken from the previous row
    (another episode's future): the same context, a different drive."""
    other = actions.copy()
    other[:, context - 1 :] = np.roll(actions, 1, axis=0)[:, context - 1 :]
    return other


@dataclass
class OpenLoopMetrics:
    """Fidelity of an open-loop dream against the real future (PSNR in dB, higher is closer).

    Attributes:
        horizon: frames dreamed.
        tokenizer_psnr: the tokenizer's reconstruction of the real future frames: the ceiling.
        psnr_at: frames ahead k -> PSNR of dreamed frame k (for k in ``PSNR_HORIZONS`` up to ``horizon``).
        copy_last_psnr: repeating the last real frame, scored at frame ``horizon``: the floor.
        dream: (N, horizon, H, W, 3) uint8 dream with the true actions (for contact sheets; not in the JSON).
        delta_psnr_actions: psnr at ``horizon`` with the true actions minus with another row's
            (:func:`other_actions`); None when not measured.
    """

    horizon: int
    tokenizer_psnr: float
    psnr_at: dict[int, float]
    copy_last_psnr: float
    dream: np.ndarray = field(repr=False)
    delta_psnr_actions: float | None = None

    def to_json(self) -> dict[str, float]:
        """The result-file keys: ``tokenizer_psnr``, ``psnr@k``, ``copy_last_psnr@H``, ``delta_psnr_actions@H``."""
        out = {"tokenizer_psnr": self.tokenizer_psnr, **{f"psnr@{k}": v for k, v in self.psnr_at.items()}}
        out[f"copy_last_psnr@{self.horizon}"] = self.copy_last_psnr
        if self.delta_psnr_actions is not None:
            out[f"delta_psnr_actions@{self.horizon}"] = self.delta_psnr_actions
        return out


def open_loop_metrics(
    wm: WorldModel, gt: np.ndarray, tokens: torch.Tensor, actions: np.ndarray, texts: list[str], context: int,
    horizon: int, sampler: SamplerConfig, other: np.ndarray | None = None, dt_s: float = 0.1,
) -> OpenLoopMetrics:  # fmt: skip
    """Dream ``horizon`` frames after ``context`` real ones and score them (see :class:`OpenLoopMetrics`).

    Args:
        gt: (N, context + horizon, H, W, 3) uint8 real frames; ``tokens`` their (N, context + horizon, h, w) codes.
        actions: (N, context + horizon, 2) the real actions; ``texts`` the N captions.
        other: actions to dream with for ``delta_psnr_actions`` (e.g. :func:`other_actions`); None: not measured.
        dt_s: the frame step [s] (what warp decoding reprojects over).
    """
    h, w = wm.resolution
    future = slice(context, context + horizon)
    recon = wm.decode(tokens)
    tok_psnr = mean_psnr(recon[:, future].reshape(-1, h, w, 3), gt[:, future].reshape(-1, h, w, 3))
    dreamed = rollout(wm, tokens, actions, texts, context, horizon, sampler, seed=DREAM_SEED, dt_s=dt_s)
    psnr_at = {k: mean_psnr(dreamed[:, k - 1], gt[:, context + k - 1]) for k in PSNR_HORIZONS if k <= horizon}
    copy_last = mean_psnr(gt[:, context - 1], gt[:, context + horizon - 1])
    delta = None
    if other is not None:
        dream_other = rollout(wm, tokens, other, texts, context, horizon, sampler, seed=DREAM_SEED, dt_s=dt_s)
        delta = psnr_at[horizon] - mean_psnr(dream_other[:, -1], gt[:, -1])
    return OpenLoopMetrics(horizon, tok_psnr, psnr_at, copy_last, dreamed, delta)


def sheet_picks(horizon: int) -> list[int]:
    """Indices into a dream (frames ahead - 1) that the contact sheets show."""
    return [k - 1 for k in SHEET_HORIZONS if k <= horizon]


def real_vs_dream_rows(
    gt: np.ndarray, dream: np.ndarray, context: int, names: list[tuple[str, str]]
) -> tuple[list[list[np.ndarray]], list[str]]:
    """Contact-sheet rows for the first ``len(names)`` rows: the last real frame, then the real (first row of
    each pair) or dreamed (second) frames at :func:`sheet_picks`. ``names`` label each pair of rows."""
    picks = sheet_picks(dream.shape[1])
    rows, labels = [], []
    for i, (real_name, dream_name) in enumerate(names):
        rows += [
            [gt[i, context - 1]] + [gt[i, context + k] for k in picks],
            [gt[i, context - 1]] + [dream[i, k] for k in picks],
        ]
        labels += [real_name, dream_name]
    return rows, labels
