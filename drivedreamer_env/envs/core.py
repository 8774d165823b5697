"""The batched dream: B rows of (context cache, ego kinematics, route, RNG) stepped together.

Both the single environment (B = 1) and the native vector environment drive a :class:`DreamCore`. Every row
has its own ``torch.Generator``, its own ego and route, and a row of the world model's KV cache; rows can be
restarted on their own (:meth:`DreamCore.start_rows`) and copied (:meth:`DreamCore.select`, the basis of
``fork()`` and counterfactual branches).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from drivedreamer_env.envs.route import Route
from drivedreamer_env.envs.starts import Start
from drivedreamer_env.models.sampler import Rollout, SamplerConfig
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.sim.config import EgoLimits
from drivedreamer_env.sim.ego import EgoState, integrate_pose, step_ego
from drivedreamer_env.units import VehicleGeometry, normalized_to_physical


@dataclass
class RewardConfig:
    """Reward per step and termination rules.

    ``reward = progress * d_s - deviation * |d| - heading * |heading error| - comfort * (a_lon^2 + a_lat^2)
    - event * sum(p_event)``, and ``- terminal`` on termination. The episode terminates when ``|d|`` exceeds
    ``max_deviation_m`` or an event probability exceeds ``event_threshold``.
    """

    progress: float = 0.1  # per metre along the route
    deviation: float = 0.05  # per metre of lateral offset
    heading: float = 0.1  # per radian of heading error
    comfort: float = 0.002  # per (m/s^2)^2
    event: float = 1.0  # per unit of event probability
    terminal: float = 5.0
    max_deviation_m: float = 4.0
    event_threshold: float = 0.5

    @classmethod
    def from_kwargs(cls, weights: dict | None) -> RewardConfig:
        weights = dict(weights or {})
        unknown = set(weights) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown reward weight(s) {sorted(unknown)}; known: {list(cls.__dataclass_fields__)}")
        return cls(**{k: float(v) for k, v in weights.items()})


@dataclass
class Row:
    """The non-tensor state of one row."""

    ego: EgoState
    route: Route
    s0: float  # route arc length at the start
    s: float
    d: float
    heading_error: float
    text: str
    steps: int = 0
    action: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # last normalised action
    start_info: dict = field(default_factory=dict)

    def copy(self) -> Row:
        return Row(self.ego.copy(), self.route, self.s0, self.s, self.d, self.heading_error, self.text, self.steps,
                   self.action.copy(), dict(self.start_info))  # fmt: skip


def validate_actions(actions: object, batch: int) -> np.ndarray:
    """(B, 2) float64 normalised actions clipped to [-1, 1]; NaN / inf and wrong shapes are errors."""
    a = np.asarray(actions, dtype=np.float64)
    if a.shape == (2,) and batch == 1:
        a = a[None]
    if a.shape != (batch, 2):
        expected = "(2,)" if batch == 1 else f"({batch}, 2)"
        raise ValueError(
            f"action must have shape {expected} = [steering, speed] in [-1, 1] (steering +1 = full left), "
            f"got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"action must be finite [steering, speed] in [-1, 1], got {a.tolist()}")
    return np.clip(a, -1.0, 1.0)


def clone_generator(g: torch.Generator) -> torch.Generator:
    new = torch.Generator(device=g.device)
    new.set_state(g.get_state())
    return new


class DreamCore:
    """B dream rows on one world model.

    Args:
        wm: the loaded world model (shared, read-only).
        sampler: MaskGIT settings.
        batch: number of rows.
        context_frames: frames every row's cache holds (>= the model's action window + 1).
        reward: reward and termination settings.
        geometry, limits, dt_s: ego kinematics (the simulator's by default).
    """

    def __init__(
        self,
        wm: WorldModel,
        sampler: SamplerConfig,
        batch: int,
        context_frames: int,
        reward: RewardConfig,
        geometry: VehicleGeometry | None = None,
        limits: EgoLimits | None = None,
        dt_s: float = 0.1,
    ) -> None:
        k = wm.stpt.cfg.action_window
        if context_frames < k + 1:
            raise ValueError(f"context_frames must be >= {k + 1} (the model's action window + 1), got {context_frames}")
        self.wm, self.sampler, self.batch = wm, sampler, batch
        self.context_frames, self.reward = context_frames, reward
        self.geometry, self.limits, self.dt_s = geometry or VehicleGeometry(), limits or EgoLimits(), dt_s
        self.rollout = Rollout(wm.stpt, sampler, batch, keep_frames=context_frames)
        self.rows: list[Row | None] = [None] * batch
        self.generators: list[torch.Generator] = [torch.Generator() for _ in range(batch)]
        self.frames = np.zeros((batch, *wm.resolution, 3), np.uint8)
        self.events = np.zeros((batch, len(wm.stpt.cfg.event_names)), np.float64)

    @property
    def event_names(self) -> tuple[str, ...]:
        return self.wm.stpt.cfg.event_names

    # ------------------------------------------------------------------ starting
    def _fill_context(self, start: Start, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, EgoState]:
        """Context tokens (C, h, w) and actions (C - 1, 2) for ``start``; missing frames are dreamt with its
        held action (image-to-video), and the ego is moved along with them."""
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
        r = Rollout(wm.stpt, self.sampler, 1, wm.text_ids([start.text]), keep_frames=c)
        r.observe(tokens[None], actions[None] if len(actions) else None)
        new_tokens, new_actions = [tokens], [actions]
        for _ in range(missing):
            r.act(hold[None])
            new_tokens.append(r.sample([gen]))
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
            err = float(np.angle(np.exp(1j * (ego.yaw - heading))))
            self.rows[i] = Row(ego, start.route, s, s, d, err, start.text, start_info=dict(start.info))
        text_ids = self.wm.text_ids([st.text for st in starts])
        self.rollout.reset_rows(list(rows), torch.stack(toks), torch.stack(acts), text_ids)
        idx = list(rows)
        last = torch.stack([t[-1] for t in toks])
        self.frames[idx] = self.wm.decode(last[:, None])[:, 0]
        self.events[idx] = torch.sigmoid(self.rollout.last_events[idx]).cpu().numpy()

    # ------------------------------------------------------------------ stepping
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance every row by one frame under normalised ``actions`` (B, 2) (already validated).

        Returns (frames (B, H, W, 3) uint8, rewards (B,), terminated (B,)).
        """
        if any(r is None for r in self.rows):
            raise RuntimeError("call reset() before step()")
        steer, speed = normalized_to_physical(actions, self.geometry)
        canonical = np.zeros((self.batch, 2), np.float32)
        before = []
        for i, row in enumerate(self.rows):
            before.append((row.ego.speed, row.s))
            row.ego = step_ego(row.ego, float(steer[i]), float(speed[i]), self.dt_s, self.geometry, self.limits)
            row.action = actions[i].astype(np.float32)
            canonical[i] = (row.ego.speed, row.ego.yaw_rate)
        self.rollout.act(torch.from_numpy(canonical))
        tokens = self.rollout.sample(self.generators)
        self.frames = self.wm.decode(tokens[:, None])[:, 0]
        self.events = torch.sigmoid(self.rollout.last_events).cpu().numpy().astype(np.float64)
        rewards = np.zeros(self.batch)
        terminated = np.zeros(self.batch, bool)
        rc = self.reward
        for i, row in enumerate(self.rows):
            speed0, s0 = before[i]
            e = row.ego
            row.s, row.d, heading = row.route.project(np.array([e.x, e.y]), row.s)
            row.heading_error = float(np.angle(np.exp(1j * (e.yaw - heading))))
            row.steps += 1
            a_lon = (e.speed - speed0) / self.dt_s
            a_lat = e.speed * e.yaw_rate
            ev = self.events[i]
            terminated[i] = abs(row.d) > rc.max_deviation_m or bool(np.any(ev > rc.event_threshold))
            rewards[i] = (
                rc.progress * (row.s - s0) - rc.deviation * abs(row.d) - rc.heading * abs(row.heading_error)
                - rc.comfort * (a_lon**2 + a_lat**2) - rc.event * float(ev.sum())
                - (rc.terminal if terminated[i] else 0.0)
            )  # fmt: skip
        return self.frames.copy(), rewards, terminated

    def info(self, i: int) -> dict:
        """The documented ``info`` of row ``i``."""
        row = self.rows[i]
        e = row.ego
        info = {
            "pose": np.array([e.x, e.y, e.yaw]),
            "speed": e.speed,
            "yaw_rate": e.yaw_rate,
            "steer": e.steer,
            "progress": row.s - row.s0,  # metres along the route since the start
            "deviation": row.d,
            "heading_error": row.heading_error,
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
        new.events = self.events[list(rows)].copy()
        return new
