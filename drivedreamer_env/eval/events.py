"""Do the event heads see what the simulator knows? Off-road and collision AUROC, frame by frame.

Held-out episodes are driven by the data-generation policy until they end; the last ``context + horizon`` frames
of every episode that ended in an event (the last frame is the positive one) and of as many that did not are
scored against the simulator's labels:

* ``event_auroc_<name>``: on the *dreamt* frames (``context`` real frames given, the rest dreamt under the true
  actions): what an agent in the dream would be told;
* ``event_auroc_real_<name>``: on the real frames, teacher-forced (every frame given).

AUROC is the probability that a positive frame scores above a negative one (Mann-Whitney U); None where the
episodes hold no positive of that event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import mannwhitneyu

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.eval.open_loop import dream
from drivedreamer_env.models.sampler import SamplerConfig
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.sim.record import record_episode
from drivedreamer_env.sim.simulator import Simulator

EPISODE_STEPS = 200  # frames an episode may run before it counts as event-free
MAX_SEEDS = 400  # seeds tried at most while collecting event episodes


def auroc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve of ``scores`` for binary ``labels``; None without both classes."""
    pos, neg = scores[labels > 0.5], scores[labels <= 0.5]
    if len(pos) == 0 or len(neg) == 0:
        return None
    return float(mannwhitneyu(pos, neg, alternative="two-sided").statistic / (len(pos) * len(neg)))


def event_windows(sim: Simulator, seed0: int, frames: int, per_kind: int) -> list[Clip]:
    """Windows of ``frames`` frames ending each held-out episode: up to ``per_kind`` ending in each event, and
    as many event-free ones (the window before the episode's end)."""
    names = ("off_road", "collision")
    found: dict[str, list[Clip]] = {n: [] for n in names}
    free: list[Clip] = []
    for seed in range(seed0, seed0 + MAX_SEEDS):
        clip = record_episode(sim, seed, EPISODE_STEPS)
        if len(clip) < frames:
            continue
        window = _tail(clip, frames)
        ended = [n for n in names if window.meta["labels"][n][-1] > 0.5]
        for n in ended:
            if len(found[n]) < per_kind:
                found[n].append(window)
        if not ended and len(free) < per_kind:
            free.append(window)
        if all(len(v) >= per_kind for v in found.values()) and len(free) >= per_kind:
            break
    unique = {id(c): c for c in [*found["off_road"], *found["collision"], *free]}
    return list(unique.values())


def _tail(clip: Clip, frames: int) -> Clip:
    """The last ``frames`` frames of ``clip``, with its per-frame labels."""
    s = slice(len(clip) - frames, len(clip))
    labels = {k: np.asarray(v)[s] for k, v in clip.meta["labels"].items()}
    return Clip(clip.frames[s], clip.timestamps[s], clip.actions[s], clip.text, {**clip.meta, "labels": labels})


@dataclass
class EventScores:
    """AUROC per event name on dreamt and on real frames, and how many positive frames each had."""

    dreamt: dict[str, float | None]
    real: dict[str, float | None]
    positives: dict[str, int]

    def to_json(self) -> dict:
        out = {f"event_auroc_{k}": v for k, v in self.dreamt.items()}
        out.update({f"event_auroc_real_{k}": v for k, v in self.real.items()})
        out["event_positive_frames"] = self.positives
        return out


@torch.no_grad()
def evaluate_events(
    wm: WorldModel, sim: Simulator, seed0: int, context: int, horizon: int, sampler: SamplerConfig, per_kind: int
) -> EventScores:
    """Event-head AUROC on held-out episode ends (see the module docstring)."""
    names = wm.stpt.cfg.event_names
    clips = event_windows(sim, seed0, context + horizon, per_kind)
    gt = np.stack([c.frames for c in clips])
    actions = np.stack([c.actions for c in clips]).astype(np.float32)
    labels = np.stack([np.stack([np.asarray(c.meta["labels"][n], np.float32) for n in names], -1) for c in clips])
    tokens = torch.stack([wm.encode(f) for f in gt])
    stpt = wm.stpt
    text = stpt.encode_text(wm.text_ids([c.text for c in clips]))
    real = torch.sigmoid(stpt(tokens.to(wm.device), actions=torch.from_numpy(actions).to(wm.device), text=text,
                              head=False).events.float()).cpu().numpy()  # fmt: skip
    dreamt = dream(wm, tokens, actions, [c.text for c in clips], context, horizon, sampler, 5, sim.cfg.dt_s).events
    future = labels[:, context:]
    return EventScores(
        {n: auroc(dreamt[..., i].ravel(), future[..., i].ravel()) for i, n in enumerate(names)},
        {n: auroc(real[..., i].ravel(), labels[..., i].ravel()) for i, n in enumerate(names)},
        {n: int(future[..., i].sum()) for i, n in enumerate(names)},
    )
