"""SB3 callbacks of ``train policy``: a progress bar, the episode log, and checkpoints as the run goes."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from drivedreamer_env.rl.sb3 import BaseCallback

RECENT_EPISODES = 20  # episodes the progress bar's mean return is taken over


@dataclass(frozen=True)
class EpisodeRecord:
    """One finished training episode.

    Attributes:
        step: env steps (all sub-envs) when it ended.
        ret: its undiscounted return.
        length: its steps.
        wall_s: training wall-clock when it ended [s], summed over resumed segments.
    """

    step: int
    ret: float
    length: int
    wall_s: float


class EpisodeLog(BaseCallback):
    """Collects an :class:`EpisodeRecord` from every ``info["episode"]`` (``VecMonitor``) as the run steps.

    Args:
        records: the records so far (a resumed run's), extended in place.
        wall_clock: returns the run's wall-clock [s] so far.
    """

    def __init__(self, records: list[EpisodeRecord], wall_clock: Callable[[], float]) -> None:
        super().__init__()
        self.records, self.wall_clock = records, wall_clock

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            episode = info.get("episode")
            if episode is not None:
                self.records.append(EpisodeRecord(self.num_timesteps, float(episode["r"]), int(episode["l"]),
                                                  round(self.wall_clock(), 3)))  # fmt: skip
        return True


class ProgressBar(BaseCallback):
    """Progress over env steps with the mean return of the last :data:`RECENT_EPISODES` episodes: a tqdm bar on a
    terminal; off one (``> train.log``, a batch job) one plain line per rollout instead of carriage returns."""

    def __init__(self, total: int, initial: int, records: list[EpisodeRecord], enabled: bool = True) -> None:
        super().__init__()
        self.total, self.initial, self.records, self.enabled = total, initial, records, enabled
        self.bar: tqdm | None = None
        self._shown = 0
        self._t0 = 0.0

    def _recent(self) -> str:
        return "n/a" if not self.records else f"{np.mean([r.ret for r in self.records[-RECENT_EPISODES:]]):.2f}"

    def _on_training_start(self) -> None:
        self._shown, self._t0 = self.initial, time.monotonic()
        if self.enabled and sys.stdout.isatty():
            self.bar = tqdm(total=self.total, initial=self.initial, unit="step", dynamic_ncols=True)

    def _on_step(self) -> bool:
        if self.bar is not None:
            self.bar.update(self.num_timesteps - self._shown)
            self._shown = self.num_timesteps
            if self.records:
                self.bar.set_postfix(episodes=len(self.records), ret=self._recent(), refresh=False)
        return True

    def _on_rollout_end(self) -> None:
        if not self.enabled or self.bar is not None:
            return
        elapsed = time.monotonic() - self._t0
        rate = (self.num_timesteps - self.initial) / elapsed if elapsed > 0 else 0.0
        eta = f"{(self.total - self.num_timesteps) / rate / 60:.1f} min" if rate > 0 else "?"
        print(f"step {self.num_timesteps}/{self.total}  episodes {len(self.records)}  return {self._recent()}  "
              f"{rate:.1f} steps/s  ETA {eta}", flush=True)  # fmt: skip

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()


class PeriodicCheckpoint(BaseCallback):
    """Calls ``save()`` at the start of the first rollout after every ``every`` env steps, i.e. after the update
    that crossed the multiple, so a checkpoint never holds a half-collected rollout."""

    def __init__(self, every: int, save: Callable[[], None]) -> None:
        super().__init__()
        self.every, self.save = every, save
        self.next_at: int | None = None

    def _on_training_start(self) -> None:
        self.next_at = (self.num_timesteps // self.every + 1) * self.every

    def _on_rollout_start(self) -> None:
        if self.num_timesteps >= self.next_at:
            self.save()
            self.next_at = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        return True
