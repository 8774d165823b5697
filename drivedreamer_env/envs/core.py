"""The batched dream: B rows of (context cache, ego kinematics, route, RNG) stepped together.

Both the single environment (B = 1) and the native vector environment drive a :class:`DreamCore`. Every row
has its own ``torch.Generator``, its own ego and route, and a row of the world model's KV cache; rows can be
restarted on their own (:meth:`DreamCore.start_rows`) and copied (:meth:`DreamCore.select`, the basis of
``fork()`` and counterfactual branches).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from drivedreamer_env.envs.route import Route
from drivedreamer_env.envs.starts import Start
from drivedreamer_env.models.dream import WarpAnchor, dream_step
from drivedreamer_env.models.sampler import Rollout, SamplerConfig
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.sim.config import EgoLimits
from drivedreamer_env.sim.ego import EgoState, integrate_pose, step_ego
from drivedreamer_env.sim.rewards import DrivingTask, RewardConfig, StepMeasures
from drivedreamer_env.units import VehicleGeometry, normalized_to_physical, wrap_angle


@dataclass
class Row:
    """The non-tensor state of one dream row: its ego, its reference route and where it is along it.

    Attributes:
        ego: kinematic state of the ego (pose in the route's world frame).
        route: the reference route the row is scored against.
        start_s_m: arc length along the route at the episode start [m].
        route_s_m: arc length along the route now [m] (``route_s_m - start_s_m`` is the progress).
        lateral_m: signed offset from the route now [m], + left.
        heading_error_rad: ego yaw minus route heading, wrapped to [-pi, pi) [rad].
        text: the caption the row is conditioned on.
        steps: steps since the start.
        action: the last normalised action ``[steering, speed]``.
        start_info: provenance of the start (kind, seed, ...).
    """

    ego: EgoState
    route: Route
    start_s_m: float
    route_s_m: float
    lateral_m: float
    heading_error_rad: float
    text: str
    steps: int = 0
    action: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    start_info: dict = field(default_factory=dict)

    def copy(self) -> Row:
        return dataclasses.replace(
            self, ego=self.ego.copy(), action=self.action.copy(), start_info=dict(self.start_info)
        )


def clone_generator(g: torch.Generator) -> torch.Generator:
    new = torch.Generator(device=g.device)
    new.set_state(g.get_state())
    return new


class DreamCore(DrivingTask):
    """B dream rows on one world model; reward and termination of :mod:`drivedreamer_env.sim.rewards`.

    Args:
        wm: the loaded world model (shared, read-only).
        sampler: MaskGIT settings.
        batch: number of rows.
        context_frames: frames every row's cache holds (>= the model's action window + 1).
        reward_config: reward and termination weights.
        geometry, limits, dt_s: ego kinematics (the simulator's by default).
    """

    def __init__(
        self,
        wm: WorldModel,
        sampler: SamplerConfig,
        batch: int,
        context_frames: int,
        reward_config: RewardConfig,
        geometry: VehicleGeometry | None = None,
        limits: EgoLimits | None = None,
        dt_s: float = 0.1,
    ) -> None:
        k = wm.stpt.cfg.action_window
        if context_frames < k + 1:
            raise ValueError(f"context_frames must be >= {k + 1} (the model's action window + 1), got {context_frames}")
        self.wm, self.sampler, self.batch = wm, sampler, batch
        self.context_frames, self.reward_config = context_frames, reward_config
        self.geometry, self.limits, self.dt_s = geometry or VehicleGeometry(), limits or EgoLimits(), dt_s
        self.rollout = Rollout(wm.stpt, sampler, batch, keep_frames=context_frames)
        self.rows: list[Row | None] = [None] * batch
        self.generators: list[torch.Generator] = [torch.Generator() for _ in range(batch)]
        self.frames = np.zeros((batch, *wm.resolution, 3), np.uint8)
        self.anchor = WarpAnchor.at(self.frames)  # what warp decoding reprojects from
        self.events = np.zeros((batch, len(wm.stpt.cfg.event_names)), np.float64)

    @property
    def event_names(self) -> tuple[str, ...]:
        return self.wm.stpt.cfg.event_names

    # ------------------------------------------------------------------ starting
    def _fill_context(self, start: Start, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, EgoState]:
        """Context tokens (C, h, w) and actions (C - 1, 2) for ``start``, missing frames filled as
        ``start.context_fill`` says: ``"repeat"`` repeats the last frame's tokens under the held action (the ego
        stays put, nothing is dreamt); ``"dream"`` dreams them with the held action (image-to-video), moving
        the ego along."""
        wm, c = self.wm, self.context_frames
        frames = start.frames[-c:]
        tokens = wm.encode(frames)
        actions = torch.from_numpy(np.asarray(start.actions[-(len(frames) - 1) :] if len(frames) > 1 else
                                              np.zeros((0, 2)), np.float32))  # fmt: skip
        ego = start.ego.copy()
        missing = c - len(frames)
        if missing <= 0:
            return tokens, actions, ego
        hold = torch.from_numpy(np.asarray(start.hold_action, np.float32))
        if start.context_fill == "repeat":  # the same tokens, so the last context frame is the reconstruction
            tokens = torch.cat([tokens, tokens[-1:].expand(missing, -1, -1)])
            return tokens, torch.cat([actions, hold[None].expand(missing, -1)]), ego
        r = Rollout(wm.stpt, self.sampler, 1, wm.text_ids([start.text]), keep_frames=c)
        r.observe(tokens[None], actions[None] if len(actions) else None)
        new_tokens, new_actions = [tokens], [actions]
        anchor = WarpAnchor.at(wm.decode(tokens[-1:][None])[:, 0])  # what warp decoding reprojects from
        for _ in range(missing):
            step = dream_step(r, wm, anchor, hold[None], self.dt_s, [gen])
            new_tokens.append(step.tokens)
            anchor = step.anchor
            new_actions.append(hold[None])
            x, y, yaw = integrate_pose(ego.x, ego.y, ego.yaw, float(hold[0]), float(hold[1]), self.dt_s)
            ego = EgoState(x, y, yaw, float(hold[0]), ego.steer, float(hold[1]))
        return torch.cat(new_tokens), torch.cat(new_actions), ego

    def start_rows(self, rows: Sequence[int], starts: Sequence[Start], seeds: Sequence[int]) -> None:
        """(Re)start ``rows`` from ``starts``, seeding their samplers with ``seeds``."""
        toks, acts = [], []
        for i, start, seed in zip(rows, starts, seeds, strict=True):
            self.generators[i] = torch.Generator().manual_seed(int(seed))
            tokens, actions, ego = self._fill_context(start, self.generators[i])
            toks.append(tokens)
            acts.append(actions)
            s, d, heading = start.route.project(np.array([ego.x, ego.y]), 0.0, window_m=1e9)
            err = float(wrap_angle(ego.yaw - heading))
            self.rows[i] = Row(ego, start.route, start_s_m=s, route_s_m=s, lateral_m=d, heading_error_rad=err,
                               text=start.text, start_info=dict(start.info))  # fmt: skip
        text_ids = self.wm.text_ids([st.text for st in starts])
        self.rollout.reset_rows(list(rows), torch.stack(toks), torch.stack(acts), text_ids)
        idx = list(rows)
        last = torch.stack([t[-1] for t in toks])
        self.frames[idx] = self.wm.decode(last[:, None])[:, 0]
        self.anchor.restart(idx, self.frames[idx])
        self.events[idx] = torch.sigmoid(self.rollout.last_events[idx]).cpu().numpy()

    # ------------------------------------------------------------------ stepping
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance every row by one frame under normalised ``actions`` (B, 2) (already validated).

        Returns (frames (B, H, W, 3) uint8, rewards (B,), terminated (B,)).
        """
        if any(r is None for r in self.rows):
            raise RuntimeError("call reset() before step()")
        before = [(row.ego.speed, row.route_s_m) for row in self.rows]
        canonical = torch.from_numpy(self._move_egos(actions))
        step = dream_step(self.rollout, self.wm, self.anchor, canonical, self.dt_s, self.generators)
        self.frames, self.anchor = step.frames, step.anchor
        self.events = torch.sigmoid(self.rollout.last_events).cpu().numpy().astype(np.float64)
        rewards = np.zeros(self.batch)
        terminated = np.zeros(self.batch, bool)
        for i, (speed_before, s_before) in enumerate(before):
            rewards[i], terminated[i] = self._score(self._measure(i, speed_before, s_before))
        return self.frames.copy(), rewards, terminated

    def _move_egos(self, actions: np.ndarray) -> np.ndarray:
        """Step every row's ego under ``actions`` (B, 2); returns the canonical actions (B, 2) ``[m/s, rad/s]``."""
        steer, speed = normalized_to_physical(actions, self.geometry)
        canonical = np.zeros((self.batch, 2), np.float32)
        for i, row in enumerate(self.rows):
            row.ego = step_ego(row.ego, float(steer[i]), float(speed[i]), self.dt_s, self.geometry, self.limits)
            row.action = actions[i].astype(np.float32)
            canonical[i] = (row.ego.speed, row.ego.yaw_rate)
        return canonical

    def _measure(self, i: int, speed_before: float, s_before: float) -> StepMeasures:
        """Project row ``i``'s moved ego onto its route (updating the row) and measure the step."""
        row = self.rows[i]
        e = row.ego
        row.route_s_m, row.lateral_m, heading = row.route.project(np.array([e.x, e.y]), row.route_s_m)
        row.heading_error_rad = float(wrap_angle(e.yaw - heading))
        row.steps += 1
        return StepMeasures(
            progress_m=row.route_s_m - s_before,
            deviation_m=row.lateral_m,
            heading_error_rad=row.heading_error_rad,
            accel_lon_mps2=(e.speed - speed_before) / self.dt_s,
            accel_lat_mps2=e.speed * e.yaw_rate,
            events=self.events[i],
        )

    def info(self, i: int) -> dict:
        """The documented ``info`` of row ``i``."""
        row = self.rows[i]
        e = row.ego
        info = {
            "pose": np.array([e.x, e.y, e.yaw]),
            "speed": e.speed,
            "yaw_rate": e.yaw_rate,
            "steer": e.steer,
            "progress": row.route_s_m - row.start_s_m,  # metres along the route since the start
            "deviation": row.lateral_m,
            "heading_error": row.heading_error_rad,
            "step": row.steps,
            "events": {name: float(p) for name, p in zip(self.event_names, self.events[i], strict=True)},
            "text": row.text,
        }
        return info

    # ------------------------------------------------------------------ copying
    def select(self, rows: Sequence[int]) -> DreamCore:
        """A new core whose rows are copies of ``rows`` (repeats allowed), with cloned RNG states."""
        new = copy.copy(self)
        new.batch = len(rows)
        new.rollout = self.rollout.select(rows)
        new.rows = [None if self.rows[i] is None else self.rows[i].copy() for i in rows]
        new.generators = [clone_generator(self.generators[i]) for i in rows]
        new.frames = self.frames[list(rows)].copy()
        new.anchor = self.anchor.select(list(rows))
        new.events = self.events[list(rows)].copy()
        return new
