"""Fidelity of a world model on held-out simulator episodes: the shared open-loop metrics and the action NLL gap.

Part of ``drivedreamer eval world-model`` (:mod:`drivedreamer_env.eval.world_model_eval`): ground truth is the
simulator driven by the data-generation policy on seeds held out from training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.eval.open_loop import OpenLoopMetrics, open_loop_metrics, other_actions
from drivedreamer_env.eval.warp_baseline import WarpBaseline, evaluate_warp_baseline
from drivedreamer_env.models.reprojection import CameraModel
from drivedreamer_env.models.sampler import SamplerConfig
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.sim.record import record_episode
from drivedreamer_env.sim.simulator import Simulator


@dataclass
class Fidelity:
    """Open-loop fidelity on held-out episodes (simulator ground truth under the same actions).

    Attributes:
        open_loop: the shared open-loop metrics (``tokenizer_psnr``, ``psnr@k``, ``copy_last_psnr@H``,
            ``delta_psnr_actions@H``).
        action_nll_gap: per frame ahead, NLL [nats] of the real tokens under another episode's actions minus
            under the true ones (:func:`action_nll_gap`).
        warp: the warp-of-last-frame baseline on the same episodes.
        gt: (N, context + horizon, H, W, 3) uint8 ground-truth frames (for the contact sheet).
    """

    open_loop: OpenLoopMetrics
    action_nll_gap: list[float]
    warp: WarpBaseline
    gt: np.ndarray = field(repr=False)

    def to_json(self) -> dict[str, float]:
        gaps = {f"action_nll_gap@{k + 1}": v for k, v in enumerate(self.action_nll_gap)}
        return {**self.open_loop.to_json(), **gaps, **self.warp.to_json()}


@torch.no_grad()
def action_nll_gap(
    wm: WorldModel, tokens: torch.Tensor, actions: np.ndarray, other: np.ndarray, texts: list[str], context: int,
    ahead: int,
) -> list[float]:  # fmt: skip
    """How much the model leans on the actions, without sampling noise: with ``context`` real frames given and
    the next ``ahead`` frames wholly masked, the mean NLL [nats] of the real tokens under ``other`` actions minus
    under the true ones, per frame ahead (0 = actions ignored)."""
    stpt = wm.stpt
    tok = tokens[:, : context + ahead].to(wm.device)
    inp = tok.clone()
    inp[:, context:] = stpt.cfg.mask_id
    text = stpt.encode_text(wm.text_ids(texts))

    def nll(acts: np.ndarray) -> torch.Tensor:
        a = torch.from_numpy(acts[:, : context + ahead].astype(np.float32)).to(wm.device)
        logits = stpt(inp, actions=a, text=text).logits[:, context:].float()  # (B, ahead, h, w, V)
        return F.cross_entropy(logits.permute(0, 4, 1, 2, 3), tok[:, context:], reduction="none").mean(dim=(0, 2, 3))

    return (nll(other) - nll(actions)).tolist()


def held_out_episodes(sim: Simulator, episodes: int, frames: int, seed0: int) -> tuple[list[Clip], int]:
    """``episodes`` full-length (``frames``) episodes under the data-generation policy, from seed ``seed0`` on
    (shorter ones are skipped). Returns the clips and the last seed tried."""
    clips, seed = [], seed0
    while len(clips) < episodes:
        clip = record_episode(sim, seed, frames)
        seed += 1
        if len(clip) == frames:
            clips.append(clip)
    return clips, seed - 1


def evaluate_fidelity(
    wm: WorldModel, clips: list[Clip], context: int, horizon: int, sampler: SamplerConfig, dt_s: float,
    cam: CameraModel,
) -> Fidelity:  # fmt: skip
    """Open-loop metrics, the action NLL gap and the warp baseline on ``clips`` of ``context + horizon`` frames
    taken every ``dt_s`` [s] by camera ``cam``."""
    gt = np.stack([c.frames for c in clips])  # (N, C+H, H, W, 3)
    actions = np.stack([c.actions for c in clips])
    texts = [c.text for c in clips]
    tokens = torch.stack([wm.encode(f) for f in gt])  # (N, C+H, h, w)
    other = other_actions(actions, context)  # another episode's future actions
    metrics = open_loop_metrics(wm, gt, tokens, actions, texts, context, horizon, sampler, other=other, dt_s=dt_s)
    gap = action_nll_gap(wm, tokens, actions, other, texts, context, min(4, horizon))
    warp = evaluate_warp_baseline(gt, actions, other, context, horizon, dt_s, cam)
    return Fidelity(metrics, gap, warp, gt)
