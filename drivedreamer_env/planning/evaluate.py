"""Closed-loop planner evaluation in the dream, checked against the ground-truth simulator.

Every planner drives from the same starts (held-out simulator scenes,
:func:`~drivedreamer_env.planning.starts.make_starts`) in each world; the same metric code scores both
(:mod:`~drivedreamer_env.planning.metrics`); the two rankings of the planners' aggregate scores are compared
with Spearman's rho and Kendall's tau.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import kendalltau, spearmanr

from drivedreamer_env.planning.baselines import CRUISE_SPEED_MPS
from drivedreamer_env.planning.metrics import EpisodeMetrics, episode_metrics, summarize
from drivedreamer_env.planning.registry import PlannerSpec, load_planner
from drivedreamer_env.planning.rollout import EpisodeSpec, run_episodes
from drivedreamer_env.planning.starts import make_starts
from drivedreamer_env.planning.worlds import WORLDS, make_world

DEFAULT_BATCH = 64  # dream rows stepped as one batch
DT_S = 0.1
NOT_RANKED = ("episodes",)


@dataclass
class Evaluation:
    """Per planner and world, the summary metrics and every episode's; the agreement of the two worlds."""

    names: list[str]
    worlds: tuple[str, ...]
    summaries: dict[str, dict[str, dict[str, Any]]]  # world -> planner -> metric -> value
    episodes: dict[str, dict[str, list[EpisodeMetrics]]]  # world -> planner -> episodes
    spearman_rho: float | None = None
    kendall_tau: float | None = None
    per_metric_spearman: dict[str, float | None] = field(default_factory=dict)
    score_mae: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The result file's content: exactly ``planners``, ``spearman_rho``, ``kendall_tau``,
        ``per_metric_spearman`` and ``score_mae``."""
        planners = [{"name": n, **{w: self.summaries[w][n] for w in self.worlds}} for n in self.names]
        return {"planners": planners, "spearman_rho": self.spearman_rho, "kendall_tau": self.kendall_tau,
                "per_metric_spearman": self.per_metric_spearman, "score_mae": self.score_mae}  # fmt: skip


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def rank_agreement(dream: Sequence[float], sim: Sequence[float]) -> tuple[float | None, float | None]:
    """(Spearman's rho, Kendall's tau) of two score lists; None when either is constant or too short."""
    d, s = np.asarray(dream, np.float64), np.asarray(sim, np.float64)
    if len(d) < 2 or np.ptp(d) == 0 or np.ptp(s) == 0:
        return None, None
    return _finite(spearmanr(d, s).statistic), _finite(kendalltau(d, s).statistic)


def _check_worlds(worlds: Sequence[str]) -> tuple[str, ...]:
    worlds = tuple(worlds)
    bad = [w for w in worlds if w not in WORLDS]
    if bad or not worlds or len(set(worlds)) != len(worlds):
        raise ValueError(f"worlds must be distinct names among {list(WORLDS)}, got {list(worlds)}")
    return worlds


def evaluate_planners(
    planners: Sequence[Any],
    starts: int = 16,
    steps: int = 100,
    worlds: Sequence[str] = WORLDS,
    seed: int = 0,
    dream: dict[str, Any] | None = None,
    batch: int = DEFAULT_BATCH,
    progress: bool = True,
) -> Evaluation:
    """Run every planner from the same ``starts`` held-out scenes for ``steps`` steps in each world.

    Args:
        planners: :func:`~drivedreamer_env.planning.registry.load_planner` specs (names, ``module:Class``,
            checkpoints, callables, planner objects).
        starts: held-out simulator scenes, the same for every planner and world.
        steps: the horizon (10 steps = 1 s); the route to complete is what 8 m/s covers in it.
        worlds: ``"dream"`` and / or ``"sim"``.
        seed: seeds every planner's randomness (per start) and the dream's sampler (per start).
        dream: the dream's model and sampler settings (``checkpoint``, ``sampling_steps``, ``decoding``, ...).
        batch: dream rows stepped as one batch.
        progress: show a progress bar.
    """
    from tqdm.auto import tqdm

    if steps < 1 or batch < 1:
        raise ValueError(f"steps and batch must be >= 1, got steps={steps}, batch={batch}")
    worlds = _check_worlds(worlds)
    specs: list[PlannerSpec] = [load_planner(p) for p in planners]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"planner names must be unique, got {names}")
    scenes = make_starts(starts, dream)
    route_length = CRUISE_SPEED_MPS * steps * DT_S
    rows = [(p, k) for p in range(len(specs)) for k in range(starts)]
    chunks = {w: ([rows[i : i + batch] for i in range(0, len(rows), batch)] if w == "dream" else [rows])
              for w in worlds}  # fmt: skip
    bar = tqdm(total=sum(len(c) for c in chunks.values()) * steps, desc="planners", disable=not progress)
    episodes: dict[str, dict[str, list[EpisodeMetrics]]] = {}
    for w in worlds:
        world = make_world(w, dream)
        per_planner: dict[str, list[EpisodeMetrics]] = {n: [] for n in names}
        for chunk in chunks[w]:
            bar.set_description(f"planners ({w})")
            eps = [EpisodeSpec(specs[p].factory, scenes[k], seed + k, route_length) for p, k in chunk]
            done = bar.n
            traces = run_episodes(world, eps, steps, [seed + k for _, k in chunk], on_step=bar.update)
            bar.update(done + steps - bar.n)  # the steps left when every episode of the chunk ended early
            for (p, _), trace in zip(chunk, traces, strict=True):
                per_planner[names[p]].append(episode_metrics(trace))
        episodes[w] = per_planner
    bar.close()
    summaries = {w: {n: summarize(episodes[w][n]) for n in names} for w in worlds}
    result = Evaluation(names, worlds, summaries, episodes)
    if set(worlds) == {"dream", "sim"}:
        _compare(result)
    return result


def _compare(result: Evaluation) -> None:
    """Fill in the agreement of the dream's and the simulator's rankings."""
    dream, sim = result.summaries["dream"], result.summaries["sim"]
    names = result.names
    d = [dream[n]["score"] for n in names]
    s = [sim[n]["score"] for n in names]
    result.spearman_rho, result.kendall_tau = rank_agreement(d, s)
    result.score_mae = float(np.mean(np.abs(np.subtract(d, s))))
    for metric in dream[names[0]]:
        if metric in NOT_RANKED:
            continue
        pairs = [(dream[n][metric], sim[n][metric]) for n in names]
        if any(a is None or b is None for a, b in pairs):
            result.per_metric_spearman[metric] = None
            continue
        result.per_metric_spearman[metric] = rank_agreement(*zip(*pairs, strict=True))[0]


def evaluate_planner(
    planner: Any, starts: int = 8, steps: int = 100, worlds: Sequence[str] = WORLDS, name: str | None = None,
    **kwargs: Any,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Evaluate one planner of your own: world -> summary metrics (see :func:`evaluate_planners` for ``kwargs``).

    ``planner``: an object with ``plan(obs)``, a class, a callable ``obs -> Action | Trajectory``, or any
    :func:`~drivedreamer_env.planning.registry.load_planner` spec.
    """
    spec = load_planner(planner, name=name)
    result = evaluate_planners([spec], starts=starts, steps=steps, worlds=worlds, **kwargs)
    return {w: result.summaries[w][spec.name] for w in result.worlds}
