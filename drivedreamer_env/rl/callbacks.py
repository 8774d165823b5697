"""SB3 callbacks of ``train policy``: a progress bar, the episode log, and checkpoints as the run goes."""

from __future__ import annotations

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
    """A tqdm bar over env steps, showing the mean return of the last :data:`RECENT_EPISODES` episodes."""

    def __init__(self, total: int, initial: int, records: list[EpisodeRecord], enabled: bool = True) -> None:
        super().__init__()
        self.total, self.initial, self.records, self.enabled = total, initial, records, enabled
        self.bar: tqdm | None = None
        self._shown = 0

    def _on_training_start(self) -> None:
        self.bar = tqdm(total=self.total, initial=self.initial, unit="step", disable=not self.enabled,
                        dynamic_ncols=True)  # fmt: skip
        self._shown = self.initial

    def _on_step(self) -> bool:
        self.bar.update(self.num_timesteps - self._shown)
        self._shown = self.num_timesteps
        if self.records:
            recent = [r.ret for r in self.records[-RECENT_EPISODES:]]
            self.bar.set_postfix(episodes=len(self.records), ret=f"{np.mean(recent):.2f}", refresh=False)
        return True

    def _on_training_end(self) -> None:
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
