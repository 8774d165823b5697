"""Counterfactual rollouts: one start, several steering branches, each dream scored against the ground truth.

:func:`run_counterfactual` resets the environment once and dreams every branch from that state as one batch
(:meth:`WorldDreamerDriveEnv.dream_branches`). For a simulator start the simulator is forked at the same moment
and driven by the same actions, which gives the ground truth each dream is scored against (PSNR per step, and
the heading change read off the frames by the same yaw estimator the world-model evaluation validates). It
writes nothing: ``drivedreamer counterfactual`` / ``demo`` (:mod:`drivedreamer_env.cli.counterfactual`) turn
the returned :class:`CounterfactualReport` into videos, PNGs and ``metrics.json``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from drivedreamer_env.envs.world_dreamer import WorldDreamerDriveEnv
from drivedreamer_env.eval.frame_probes import estimate_yaw
from drivedreamer_env.metrics import psnr
from drivedreamer_env.sim.simulator import Simulator

DEFAULT_HFOV_DEG = 80.0  # the yaw estimator's field of view when the start is not a simulator scene
TURN_MIN_RAD = 0.05  # a branch whose true heading change is smaller counts as straight
STRAIGHT_TOLERANCE_RAD = 0.1  # a straight branch agrees when the estimate is this close to the truth
TURN_SIZE_TOLERANCE = 0.5  # a turning branch agrees when its dreamt heading change is within 50 % of the truth


@dataclass
class BranchReport:
    """One branch: its frames, its path and its scores.

    Attributes:
        steering: normalised steering held for every step (+ = left).
        dream: (steps + 1, H, W, 3) uint8 dreamt frames (the first is the start frame).
        poses: (steps + 1, 3) ``[x m, y m, heading rad]`` of the ego kinematics (= the simulator's).
        truth: (steps + 1, H, W, 3) uint8 simulator frames under the same actions, or None.
        scores: the branch's entry of ``metrics.json`` (heading changes [rad], distance [m], PSNR [dB], ...).
    """

    steering: float
    dream: np.ndarray
    poses: np.ndarray
    truth: np.ndarray | None
    scores: dict[str, Any]


@dataclass
class CounterfactualReport:
    """Everything one counterfactual run produced; :meth:`metrics` is the ``metrics.json`` content."""

    start: dict[str, Any]
    text: str
    steps: int
    speed_command: float
    seed: int
    sampler: dict[str, float | str]
    dream_seconds: float
    branches: dict[str, BranchReport]
    route_xy: np.ndarray  # (N, 2) [m] the reference route
    road_edges_xy: list[np.ndarray] = field(default_factory=list)  # (N, 2) [m] paved edges (simulator starts)

    @property
    def heading_reference(self) -> str:
        """What the dream's turns are compared with: ``"truth"`` (the simulator's frames, on a simulator start)
        or ``"commanded"`` (the bicycle model's heading change, on an image or clip start: no ground truth)."""
        return "truth" if all(b.truth is not None for b in self.branches.values()) else "commanded"

    def metrics(self) -> dict[str, Any]:
        """The JSON summary (no frames): start, text, settings, timing, the heading reference, per-branch scores."""
        return {
            "start": self.start, "text": self.text, "steps": self.steps, "speed_command": self.speed_command,
            "seed": self.seed, "sampler": self.sampler, "dream_seconds": self.dream_seconds,
            "heading_reference": self.heading_reference,
            "branches": {name: b.scores for name, b in self.branches.items()},
        }  # fmt: skip


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    import torch

    return float(psnr(torch.from_numpy(a), torch.from_numpy(b)).mean())


def _ground_truth(sim: Simulator, actions: np.ndarray, steps: int, progress: bool) -> list[np.ndarray]:
    """Each branch's (steps + 1, H, W, 3) simulator frames, every branch from the same fork of ``sim``."""
    fork = sim.get_state()
    truth = []
    for b in tqdm(range(len(actions)), desc="ground truth", unit="branch", disable=not progress):
        sim.set_state(fork)
        frames = [sim.render()]
        for _ in range(steps):
            frames.append(sim.step(actions[b]).frame)
        truth.append(np.stack(frames))
    return truth


@dataclass(frozen=True)
class TurnAgreement:
    """Does a heading change read off a dream match its reference?

    Attributes:
        agrees: a turn: the reference's sign and within ``TURN_SIZE_TOLERANCE`` of its size; straight: within
            ``STRAIGHT_TOLERANCE_RAD`` of it.
        gain: dreamt over reference heading change for a turning branch (1 = the reference's size), else None.
    """

    agrees: bool
    gain: float | None


def turn_agreement(dream_rad: float, reference_rad: float, commanded_rad: float) -> TurnAgreement:
    """Compare the dream's heading change with the reference, the size of the turn as well as its sign.

    The one rule of every counterfactual table (``counterfactual``, ``demo``) and the image-start benchmark.

    Args:
        dream_rad: heading change read off the dreamt frames [rad] (+ = left).
        reference_rad: what it should be [rad]: read off the true frames by the same estimator where they
            exist, else the commanded heading change of the ego kinematics.
        commanded_rad: the ego kinematics' heading change [rad]; below ``TURN_MIN_RAD`` the branch is straight.
    """
    turned = abs(commanded_rad) >= TURN_MIN_RAD and abs(reference_rad) > 1e-6
    if not turned:
        return TurnAgreement(bool(abs(dream_rad - reference_rad) < STRAIGHT_TOLERANCE_RAD), None)
    gain = float(dream_rad / reference_rad)
    return TurnAgreement(bool(abs(gain - 1.0) <= TURN_SIZE_TOLERANCE), gain)


def score_branch(
    steering: float, dream: np.ndarray, poses: np.ndarray, truth: np.ndarray | None, hfov_deg: float
) -> dict[str, Any]:
    """The branch's scores: commanded (= true, on a simulator start) and estimated heading change, distance,
    PSNR against ``truth``, and the :func:`turn_agreement` of the dream with the truth (or the command)."""
    m: dict[str, Any] = {
        "steering": steering,
        "heading_change_rad": float(poses[-1, 2] - poses[0, 2]),  # of the ego kinematics (= simulator's)
        "dream_heading_change_est_rad": float(estimate_yaw(dream, hfov_deg).sum()),
        "distance_m": float(np.sum(np.linalg.norm(np.diff(poses[:, :2], axis=0), axis=1))),
    }
    if truth is not None:
        m["psnr_db"] = _psnr(dream[1:], truth[1:])
        m["psnr_db_per_step"] = [round(_psnr(dream[t], truth[t]), 2) for t in range(1, len(dream))]
        m["gt_heading_change_est_rad"] = float(estimate_yaw(truth, hfov_deg).sum())
    # the reference: read off the true frames by the same estimator where they exist (like for like), else the
    # commanded heading change of the ego kinematics (an image or clip start has no ground truth)
    reference = m.get("gt_heading_change_est_rad", m["heading_change_rad"])
    agreement = turn_agreement(m["dream_heading_change_est_rad"], reference, m["heading_change_rad"])
    m["turn_gain"] = agreement.gain
    m["yaw_agrees"] = agreement.agrees
    return m


def run_counterfactual(
    start: Any,
    branches: dict[str, float],
    steps: int,
    speed: float = -0.2,
    env_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> CounterfactualReport:
    """Dream ``branches`` (name -> normalised steering, + = left) for ``steps`` steps from one start.

    Args:
        start: a simulator seed or scenario dict, a Clip, or an image (see ``WorldDreamerDrive-v0``).
        branches: name -> normalised steering in [-1, 1], held for every step.
        steps: steps per branch.
        speed: normalised speed command of every branch (-0.2 = 8 m/s).
        env_kwargs: ``WorldDreamerDriveEnv`` keyword arguments (checkpoint, device, sampler settings, text).
        seed: environment seed (sampler RNG).
        progress: show progress bars.
    """
    t_start = time.perf_counter()
    env = WorldDreamerDriveEnv(**(env_kwargs or {}))
    env.reset(seed=seed, options={"start": start})
    st = env.start
    names = list(branches)
    actions = np.array([[branches[n], speed] for n in names], np.float64)
    with tqdm(total=steps, desc="dreaming", unit="step", disable=not progress) as bar:
        dreams, poses = env.dream_branches(actions, steps, on_step=bar.update)
    dt_dream = time.perf_counter() - t_start
    truth = _ground_truth(st.sim, actions, steps, progress) if st.sim is not None else None
    hfov = st.sim.cfg.camera.hfov_deg if st.sim is not None else DEFAULT_HFOV_DEG
    reports = {}
    for b, name in enumerate(names):
        gt = truth[b] if truth is not None else None
        scores = score_branch(branches[name], dreams[b], poses[b], gt, hfov)
        reports[name] = BranchReport(branches[name], dreams[b], poses[b], gt, scores)
    edges = []
    if st.sim is not None:
        road = st.sim.world.road
        edges = [road.pose_at(road.s, side * road.paved_half_width_m)[0] for side in (-1, 1)]
    s = env.sampler
    keys = ("steps", "temperature", "guidance_scale", "decoding", "warp_remask", "warp_anchor_every")
    sampler = {k: getattr(s, k) for k in keys}
    env.close()
    return CounterfactualReport(st.info, st.text, steps, speed, seed, sampler, round(dt_dream, 2), reports,
                                st.route.xy, edges)  # fmt: skip
