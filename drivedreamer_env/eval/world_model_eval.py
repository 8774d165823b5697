"""``drivedreamer eval world-model``: fidelity, controllability and text control against the simulator.

Everything is measured on simulator seeds held out from training (default 100000+); ground truth is the
simulator driven by the same actions. Three parts, each with its own result dataclass:

* :func:`evaluate_fidelity` -> :class:`Fidelity`: the shared open-loop metrics
  (:func:`~drivedreamer_env.eval.open_loop.open_loop_metrics`) and the action NLL gap;
* :func:`evaluate_controllability` -> :class:`Controllability`: left / right branches from one start, the yaw
  read off the frames;
* :func:`evaluate_text_control` -> :class:`TextControl`: text-to-video clips classified back to their style.

:func:`evaluate_world_model` runs all three and writes the result JSON (keys in its docstring).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from drivedreamer_env.eval.events import evaluate_events
from drivedreamer_env.eval.fidelity import Fidelity, evaluate_fidelity, held_out_episodes
from drivedreamer_env.eval.frame_probes import STYLES, StyleClassifier, estimate_yaw
from drivedreamer_env.eval.long_horizon import LONG_HORIZON, evaluate_long_horizon
from drivedreamer_env.eval.open_loop import real_vs_dream_rows, resolve_sampler, rollout, sheet_picks
from drivedreamer_env.eval.warp_baseline import model_camera, warp_last
from drivedreamer_env.io_utils import write_json
from drivedreamer_env.media import contact_sheet, upscale, write_png
from drivedreamer_env.models.sampler import SamplerConfig, generate_joint
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.provenance import environment
from drivedreamer_env.sim.config import CameraConfig, SimConfig
from drivedreamer_env.sim.policies import pure_pursuit
from drivedreamer_env.sim.simulator import Simulator
from drivedreamer_env.units import physical_to_normalized

TURN_STEER_NORMALIZED = 0.25  # normalised steering of the counterfactual branches (about 0.125 rad road-wheel angle)
WEATHER_WORDS = {"clear": "clear", "fog": "dense fog", "rain": "heavy rain"}


def _lane_keep(sim: Simulator, speed_mps: float = 8.0) -> np.ndarray:
    geo = sim.cfg.geometry
    return physical_to_normalized(pure_pursuit(sim, sim.state.d, max(6.0, sim.state.ego.speed)), speed_mps, geo)


def counterfactual_starts(sim: Simulator, seeds: list[int], context: int, horizon: int) -> dict[str, Any]:
    """Ground truth for left / right branches from the same starts (lane keeping for the context)."""
    ctx_frames, ctx_actions, texts, branches = [], [], [], {"left": ([], []), "right": ([], [])}
    for seed in seeds:
        frame, _ = sim.reset(seed)
        frames, actions = [frame], []
        for _ in range(context - 1):
            frame = sim.step(_lane_keep(sim)).frame
            actions.append((sim.state.ego.speed, sim.state.ego.yaw_rate))
            frames.append(frame)
        fork = sim.get_state()
        for name, steer in (("left", TURN_STEER_NORMALIZED), ("right", -TURN_STEER_NORMALIZED)):
            sim.set_state(fork)
            bf, ba = [], []
            for _ in range(horizon):
                bf.append(sim.step([steer, -0.2]).frame)
                ba.append((sim.state.ego.speed, sim.state.ego.yaw_rate))
            branches[name][0].append(bf)
            branches[name][1].append(ba)
        ctx_frames.append(frames)
        ctx_actions.append(actions)
        texts.append(sim.world.caption)
    return {
        "context_frames": np.array(ctx_frames),  # (N, C, H, W, 3)
        "context_actions": np.array(ctx_actions, np.float32),  # (N, C-1, 2)
        "texts": texts,
        "branches": {k: (np.array(f), np.array(a, np.float32)) for k, (f, a) in branches.items()},
    }


def style_dataset(
    cam: CameraConfig, seeds_per_style: int, frames_per_seed: int, seed0: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground-truth frames of every style: (frames, style labels, seed group)."""
    frames, labels, groups = [], [], []
    for k, style in enumerate(STYLES):
        tod, weather = style.split(", ")
        sim = Simulator(SimConfig(camera=cam, time_of_day=tod, weather=weather))
        for j in range(seeds_per_style):
            frame, _ = sim.reset(seed0 + 97 * k + j)
            for _ in range(frames_per_seed):
                frames.append(frame)
                labels.append(k)
                groups.append(j)
                frame = sim.step(_lane_keep(sim)).frame
    return np.array(frames), np.array(labels), np.array(groups)


@dataclass
class Controllability:
    """Left / right branches from one start: does the dream turn the way the action says?

    Attributes:
        yaw_sign_accuracy: fraction of starts whose dreamed left branch turns left and right branch right.
        gt_pair_sign_accuracy: the same on the ground-truth frames (validates the yaw estimator).
        gt_heading_change_true_rad, gt_heading_change_estimated_rad, dream_heading_change_estimated_rad:
            branch -> mean heading change over the horizon [rad] (+ = left): true, read off the ground-truth
            frames, read off the dreamed frames.
        heading_gain: branch -> dreamed heading change over the ground truth's, both read off the frames by the
            estimator (1 = the size of the true turn).
        warp_last_yaw_sign_accuracy: ``yaw_sign_accuracy`` of the warp of the last real frame (the baseline).
        context_frame: (H, W, 3) the last context frame of the first start; ``left_dream`` (horizon, H, W, 3)
            its dreamed left branch (for the contact sheet).
    """

    yaw_sign_accuracy: float
    heading_gain: dict[str, float]
    warp_last_yaw_sign_accuracy: float
    gt_pair_sign_accuracy: float
    gt_heading_change_true_rad: dict[str, float]
    gt_heading_change_estimated_rad: dict[str, float]
    dream_heading_change_estimated_rad: dict[str, float]
    context_frame: np.ndarray = field(repr=False)
    left_dream: np.ndarray = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "yaw_sign_accuracy": self.yaw_sign_accuracy,
            **{f"heading_gain_{k}": v for k, v in self.heading_gain.items()},
            "warp_last_yaw_sign_accuracy": self.warp_last_yaw_sign_accuracy,
            "yaw_estimator_validation": {
                "gt_pair_sign_accuracy": self.gt_pair_sign_accuracy,
                "gt_heading_change_true_rad": self.gt_heading_change_true_rad,
                "gt_heading_change_estimated_rad": self.gt_heading_change_estimated_rad,
                "dream_heading_change_estimated_rad": self.dream_heading_change_estimated_rad,
            },
        }


@dataclass
class TextControl:
    """Text-to-video clips, one per style caption, classified back to their style.

    Attributes:
        t2v_style_accuracy: fraction of generated frames classified as their caption's style.
        classifier_validation_accuracy: the style classifier on held-out ground-truth frames.
        t2v: (styles, frames, H, W, 3) uint8 generated clips (for the contact sheet).
    """

    t2v_style_accuracy: float
    classifier_validation_accuracy: float
    t2v: np.ndarray = field(repr=False)

    def to_json(self) -> dict[str, float]:
        return {
            "t2v_style_accuracy": self.t2v_style_accuracy,
            "t2v_style_classifier_validation_accuracy": self.classifier_validation_accuracy,
        }


def _heading_changes(last_ctx: np.ndarray, branch: np.ndarray, hfov_deg: float) -> np.ndarray:
    """(N,) heading change [rad] read off each branch (N, horizon, H, W, 3) after its last context frame."""
    return np.array(
        [estimate_yaw(np.concatenate([lc, f]), hfov_deg).sum() for lc, f in zip(last_ctx, branch, strict=True)]
    )


def _pair_sign_accuracy(yaw: dict[str, np.ndarray]) -> float:
    return float(((yaw["left"] > 0) & (yaw["right"] < 0)).mean())


def evaluate_controllability(
    wm: WorldModel, sim: Simulator, seeds: list[int], context: int, horizon: int, sampler: SamplerConfig
) -> Controllability:
    """Left / right branches from the same starts (see :func:`counterfactual_starts`), yaw read off the frames;
    the same for the warp of the last real frame."""
    hfov_deg, dt_s = sim.cfg.camera.hfov_deg, sim.cfg.dt_s
    cam = model_camera(wm, sim)
    cf = counterfactual_starts(sim, seeds, context, horizon)
    ctx_tokens = torch.stack([wm.encode(f) for f in cf["context_frames"]])
    last_ctx = cf["context_frames"][:, -1:]
    gt_yaw, dream_yaw, warp_yaw, dreams = {}, {}, {}, {}
    for name, (frames, acts) in cf["branches"].items():
        full_actions = np.concatenate([cf["context_actions"], acts], axis=1)  # action of frame t drives t -> t+1
        dreams[name] = rollout(wm, ctx_tokens, full_actions, cf["texts"], context, horizon, sampler, 2, dt_s)
        gt_yaw[name] = _heading_changes(last_ctx, frames, hfov_deg)
        dream_yaw[name] = _heading_changes(last_ctx, dreams[name], hfov_deg)
        warped = warp_last(last_ctx[:, 0], full_actions[:, context - 1 : context - 1 + horizon], dt_s, cam)
        warp_yaw[name] = _heading_changes(last_ctx, warped, hfov_deg)
    return Controllability(
        yaw_sign_accuracy=_pair_sign_accuracy(dream_yaw),
        heading_gain={k: float(dream_yaw[k].mean() / gt_yaw[k].mean()) for k in gt_yaw},
        warp_last_yaw_sign_accuracy=_pair_sign_accuracy(warp_yaw),
        gt_pair_sign_accuracy=_pair_sign_accuracy(gt_yaw),
        # true heading change: the sum of the yaw rates [rad/s] times the step [s]
        gt_heading_change_true_rad={
            k: float(np.mean(v[1][..., 1].sum(axis=1) * dt_s)) for k, v in cf["branches"].items()
        },
        gt_heading_change_estimated_rad={k: float(v.mean()) for k, v in gt_yaw.items()},
        dream_heading_change_estimated_rad={k: float(v.mean()) for k, v in dream_yaw.items()},
        context_frame=cf["context_frames"][0, -1],
        left_dream=dreams["left"][0],
    )


def evaluate_text_control(
    wm: WorldModel, cam: CameraConfig, seed0: int, sampler: SamplerConfig, frames_per_clip: int = 4
) -> TextControl:
    """Generate a ``frames_per_clip`` clip from each style caption alone; classify its frames back to a style.

    The classifier is trained on ground-truth frames of simulator seeds from ``seed0`` (4 of 5 seeds per style)
    and validated on the fifth.
    """
    h, w = cam.height, cam.width
    frames, labels, groups = style_dataset(cam, seeds_per_style=5, frames_per_seed=6, seed0=seed0)
    train = groups < 4
    clf = StyleClassifier.fit(frames[train], labels[train])
    val_acc = float((clf.predict(frames[~train]) == labels[~train]).mean())
    captions = [
        f"{s.split(', ')[0]}, {WEATHER_WORDS[s.split(', ')[1]]}, rural two-lane road straight, light traffic"
        for s in STYLES
    ]
    c = wm.stpt.cfg
    start = torch.full((len(STYLES), frames_per_clip, c.grid_h, c.grid_w), c.mask_id, dtype=torch.long)
    gens = [torch.Generator().manual_seed(3 + i) for i in range(len(STYLES))]
    t2v = wm.decode(generate_joint(wm.stpt, start, sampler, gens, text_ids=wm.text_ids(captions)))  # (S, T, H, W, 3)
    pred = clf.predict(t2v.reshape(-1, h, w, 3)).reshape(len(STYLES), frames_per_clip)
    return TextControl(float((pred == np.arange(len(STYLES))[:, None]).mean()), val_acc, t2v)


def goals(result: dict[str, Any], horizon: int) -> dict[str, bool]:
    """Whether each target of the shipped model is met by ``result`` (a missing figure counts as missed)."""

    def at_least(key: str, floor: float) -> bool:
        return result.get(key) is not None and result[key] >= floor

    h = horizon
    out = {
        "psnr@1 >= tokenizer_psnr - 2": at_least("psnr@1", result["tokenizer_psnr"] - 2),
        f"psnr@{h} >= copy_last + 3": at_least(f"psnr@{h}", result[f"copy_last_psnr@{h}"] + 3),
        f"delta_psnr_actions@{h} >= 2": at_least(f"delta_psnr_actions@{h}", 2),
        "yaw_sign_accuracy >= 0.95": at_least("yaw_sign_accuracy", 0.95),
        "heading_gain_left and _right in [0.8, 1.25]": all(
            0.8 <= result.get(f"heading_gain_{k}", 0.0) <= 1.25 for k in ("left", "right")
        ),
        "t2v_style_accuracy >= 0.8": at_least("t2v_style_accuracy", 0.8),
    }
    for k in (1, 4, 8):
        if f"warp_last_psnr@{k}" in result:
            out[f"psnr@{k} >= warp_last_psnr@{k} + 1"] = at_least(f"psnr@{k}", result[f"warp_last_psnr@{k}"] + 1)
    if "tokenizer_sharpness_ratio" in result:
        floor = 0.9 * result["tokenizer_sharpness_ratio"]
        out["sharpness_ratio@40 >= 0.9 x tokenizer_sharpness_ratio"] = at_least("sharpness_ratio@40", floor)
    for name in ("off_road", "collision"):
        if f"event_auroc_{name}" in result:
            out[f"event_auroc_{name} >= 0.9"] = at_least(f"event_auroc_{name}", 0.9)
    return out


def steps_table(
    wm: WorldModel, clips: list, sim: Simulator, seeds: list[int], context: int, horizon: int,
    sampler: SamplerConfig, steps: tuple[int, ...],
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Quality against MaskGIT steps per frame: psnr@H, delta_psnr_actions@H and yaw_sign_accuracy per count."""
    table = {}
    for n in steps:
        s = replace(sampler, steps=n)
        fid = evaluate_fidelity(wm, clips, context, horizon, s, sim.cfg.dt_s, model_camera(wm, sim)).to_json()
        ctl = evaluate_controllability(wm, sim, seeds, context, horizon, s)
        table[str(n)] = {
            f"psnr@{horizon}": fid[f"psnr@{horizon}"],
            f"delta_psnr_actions@{horizon}": fid[f"delta_psnr_actions@{horizon}"],
            "yaw_sign_accuracy": ctl.yaw_sign_accuracy,
        }
    return table


def write_sheets(out: Path, fidelity: Fidelity, control: Controllability, text: TextControl, context: int) -> None:
    """Contact sheets next to ``out``: ground truth vs dream for a few episodes and the left branch (``.png``),
    and the text-to-video clip of every style (``_t2v.png``)."""
    names = [(f"gt {i}", f"dream {i}") for i in range(min(3, len(fidelity.gt)))]
    rows, labels = real_vs_dream_rows(fidelity.gt, fidelity.open_loop.dream, context, names)
    picks = sheet_picks(fidelity.open_loop.horizon)
    rows += [[control.context_frame] + [control.left_dream[k] for k in picks]]
    labels += ["left"]
    write_png(out.with_suffix(".png"), upscale(contact_sheet(rows, labels), 2))
    write_png(
        out.with_name(out.stem + "_t2v.png"), upscale(contact_sheet([list(c) for c in text.t2v], list(STYLES)), 2)
    )


def evaluate_world_model(
    checkpoint: str | Path | None,
    episodes: int,
    out: str | Path,
    sampler: SamplerConfig | dict | None = None,
    seed0: int = 100_000,
    context: int = 4,
    horizon: int = 8,
    device: str = "auto",
    long_horizon: int = LONG_HORIZON,
    maskgit_steps: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Fidelity, controllability, text control, long-horizon sharpness and event heads against the simulator.

    Args:
        checkpoint: world-model directory (None: the shipped default).
        episodes: held-out episodes for fidelity (seeds from ``seed0``) and starts for controllability (seeds
            from ``seed0 + 500``); text control uses seeds from ``seed0 + 2000``.
        out: result JSON; contact sheets are written next to it (``.png``, ``_t2v.png``).
        sampler: sampler settings, or a dict of overrides of the checkpoint's recommended ones (None: those).
        context: real frames given. horizon: frames dreamed after them.
        device: "auto", "cpu" or "cuda".
        long_horizon: frames of the long dreams (seeds from ``seed0 + 3000``; 0 skips them); the event heads are
            scored on episode ends from ``seed0 + 4000``.
        maskgit_steps: also tabulate quality against these MaskGIT step counts (``maskgit_steps`` key).

    Returns:
        The result written to ``out``: run settings (``checkpoint``, ``episodes``, ``context``, ``horizon``,
        ``sampler``, ``seeds``), :meth:`Fidelity.to_json`, :meth:`Controllability.to_json`,
        :meth:`TextControl.to_json`, ``goals`` and ``environment``.
    """
    wm = WorldModel.load(checkpoint, device=device)
    sampler = resolve_sampler(wm, sampler)
    h, w = wm.resolution
    cam = CameraConfig(width=w, height=h)
    sim = Simulator(SimConfig(camera=cam))
    clips, last_seed = held_out_episodes(sim, episodes, context + horizon, seed0)
    fidelity = evaluate_fidelity(wm, clips, context, horizon, sampler, sim.cfg.dt_s, model_camera(wm, sim))
    control_seeds = [seed0 + 500 + i for i in range(episodes)]
    control = evaluate_controllability(wm, sim, control_seeds, context, horizon, sampler)
    text = evaluate_text_control(wm, cam, seed0 + 2000, sampler)
    result: dict[str, Any] = {"checkpoint": str(checkpoint or "default"), "episodes": episodes, "context": context,
                              "horizon": horizon, "sampler": asdict(sampler), "seeds": [seed0, last_seed]}  # fmt: skip
    result.update({**fidelity.to_json(), **control.to_json(), **text.to_json()})
    if long_horizon:
        long_clips, _ = held_out_episodes(sim, episodes, context + long_horizon, seed0 + 3000)
        result.update(evaluate_long_horizon(wm, long_clips, context, sampler, sim.cfg.dt_s, long_horizon).to_json())
    result.update(evaluate_events(wm, sim, seed0 + 4000, context, horizon, sampler, per_kind=episodes).to_json())
    if maskgit_steps:
        result["maskgit_steps"] = steps_table(wm, clips, sim, control_seeds, context, horizon, sampler, maskgit_steps)
    result["goals"] = goals(result, horizon)
    result["environment"] = environment(wm.device)
    out = Path(out)
    write_json(out, result)
    write_sheets(out, fidelity, control, text, context)
    return result
