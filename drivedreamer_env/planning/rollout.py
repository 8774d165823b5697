"""Closed-loop episodes: planners drive rows of a world, batched, until the horizon, an off-road or collision
step, or a planner failure; every step is recorded into an :class:`~drivedreamer_env.planning.metrics.EpisodeTrace`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from drivedreamer_env.envs.starts import Start
from drivedreamer_env.planning.controller import Tracker
from drivedreamer_env.planning.metrics import EpisodeTrace
from drivedreamer_env.planning.protocol import Planner, PlannerInput, as_output
from drivedreamer_env.planning.route_view import off_road, route_ahead_ego, route_command
from drivedreamer_env.planning.worlds import RowState, World
from drivedreamer_env.sim.actions import validate_actions

STOP_ACTION = np.array([0.0, -1.0])  # what a finished row is stepped with while the others go on


@dataclass
class EpisodeSpec:
    """One row: a planner (built fresh by ``factory``) from ``start``, its randomness seeded by ``seed``."""

    factory: Callable[[], Planner]
    start: Start
    seed: int
    route_length_m: float


class _Row:
    """The bookkeeping of one running episode."""

    def __init__(self, spec: EpisodeSpec, state: RowState, dt_s: float) -> None:
        self.spec, self.dt_s = spec, dt_s
        self.planner = spec.factory()
        if hasattr(self.planner, "reset"):
            self.planner.reset(spec.seed)
        self.tracker = Tracker(dt_s=dt_s)
        self.route = spec.start.route
        self.road = spec.start.sim.world.road if spec.start.sim is not None else None
        self.route_s = self.route.project(state.pose[:2], 0.0, window_m=1e9)[0]
        self.road_s = float(spec.start.sim.state.s) if spec.start.sim is not None else 0.0
        self.alive, self.failed, self.error, self.step = True, False, "", 0
        self.log: dict[str, list] = {k: [] for k in ("poses", "speeds", "route_s", "lateral", "off_road", "collision")}
        self.record(state)

    def record(self, state: RowState) -> None:
        s, d, _ = self.route.project(state.pose[:2], self.route_s)
        self.route_s = s
        out = False
        if self.road is not None:
            out, self.road_s = off_road(self.road, state.pose, self.road_s)
        for key, value in zip(self.log, (state.pose, state.speed_mps, s, d, out, state.collision), strict=True):
            self.log[key].append(value)
        if out or state.collision:
            self.alive = False

    def action(self, state: RowState) -> np.ndarray:
        """The planner's action for ``state``; a planner that raises or returns garbage fails the episode."""
        obs = PlannerInput(
            frame=state.frame, speed_mps=state.speed_mps, yaw_rate_rps=state.yaw_rate_rps,
            command=route_command(self.route, self.route_s), step=self.step, dt_s=self.dt_s, pose=state.pose.copy(),
            route_ego=route_ahead_ego(self.route, self.route_s, state.pose),
        )  # fmt: skip
        try:
            action = validate_actions(self.tracker.action(as_output(self.planner.plan(obs)), state.speed_mps))
        except Exception as err:  # any planner error ends this episode only, reported as failed
            self.alive, self.failed, self.error = False, True, f"{type(err).__name__}: {err}"
            return STOP_ACTION
        self.step += 1
        return action

    def trace(self) -> EpisodeTrace:
        collisions = self.log["collision"]
        return EpisodeTrace(
            dt_s=self.dt_s, poses=np.array(self.log["poses"]), speeds=np.array(self.log["speeds"]),
            route_s=np.array(self.log["route_s"]), lateral_m=np.array(self.log["lateral"]),
            off_road=np.array(self.log["off_road"], bool),
            collision=None if any(c is None for c in collisions) else np.array(collisions, bool),
            route_length_m=self.spec.route_length_m, failed=self.failed, error=self.error,
        )  # fmt: skip


def run_episodes(
    world: World, specs: Sequence[EpisodeSpec], steps: int, world_seeds: Sequence[int],
    on_step: Callable[[], object] | None = None,
) -> list[EpisodeTrace]:  # fmt: skip
    """Drive every spec's episode in ``world`` as one batch for up to ``steps`` steps.

    Args:
        world: the world (its rows are the specs, in order).
        specs: one episode per row.
        steps: the horizon.
        world_seeds: per row, the seed of the world's own randomness (the dream's sampler).
        on_step: called after every batched step (progress bars).
    """
    states = world.reset([s.start for s in specs], world_seeds)
    rows = [_Row(spec, state, world.dt_s) for spec, state in zip(specs, states, strict=True)]
    for _ in range(steps):
        if not any(r.alive for r in rows):
            break
        actions = np.stack([r.action(st) if r.alive else STOP_ACTION for r, st in zip(rows, states, strict=True)])
        states = world.step(actions)
        for r, st in zip(rows, states, strict=True):
            if r.alive:
                r.record(st)
        if on_step is not None:
            on_step()
    return [r.trace() for r in rows]
