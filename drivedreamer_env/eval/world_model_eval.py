"""``drivedreamer eval world-model``: fidelity, controllability and text control against the simulator.

Everything is measured on simulator seeds held out from training (default 100000+); ground truth is the
simulator driven by the same actions. See the keys in :func:`evaluate_world_model`.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from drivedreamer_env.eval.frame_probes import STYLES, StyleClassifier, estimate_yaw
from drivedreamer_env.eval.metrics import psnr
from drivedreamer_env.io_utils import write_json
from drivedreamer_env.media import contact_sheet, upscale, write_png
from drivedreamer_env.models.sampler import Rollout, SamplerConfig, generate_joint
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.sim.config import CameraConfig, SimConfig
from drivedreamer_env.sim.policies import pure_pursuit
from drivedreamer_env.sim.record import record_episode
from drivedreamer_env.sim.simulator import Simulator
from drivedreamer_env.units import physical_to_normalized

TURN_STEER_NORMALIZED = 0.25  # normalised steering of the counterfactual branches (about 0.125 rad road-wheel angle)
WEATHER_WORDS = {"clear": "clear", "fog": "dense fog", "rain": "heavy rain"}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(psnr(torch.from_numpy(a), torch.from_numpy(b)).mean())


def _rollout(wm: WorldModel, tokens: torch.Tensor, actions: np.ndarray, texts: list[str], context: int, horizon: int,
             sampler: SamplerConfig, seed: int) -> np.ndarray:  # fmt: skip
    """Open-loop dream: ``context`` given frames, then ``horizon`` generated ones. Returns (B, horizon, H, W, 3)."""
    b = tokens.shape[0]
    acts = torch.from_numpy(actions.astype(np.float32))
    r = Rollout(wm.stpt, sampler, batch=b, text_ids=wm.text_ids(texts))
    r.observe(tokens[:, :context], acts[:, :context])
    gens = [torch.Generator().manual_seed(seed + i) for i in range(b)]
    out = []
    for t in range(context, context + horizon):
        out.append(r.sample(gens))
        if t < acts.shape[1]:
            r.act(acts[:, t])
    return wm.decode(torch.stack(out, 1))


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


def evaluate_world_model(
    checkpoint: str | Path | None,
    episodes: int,
    out: str | Path,
    sampler: SamplerConfig | None = None,
    seed0: int = 100_000,
    context: int = 4,
    horizon: int = 8,
    device: str = "auto",
) -> dict[str, Any]:
    from drivedreamer_env.bench.common import environment

    sampler = sampler or SamplerConfig()
    wm = WorldModel.load(checkpoint, device=device)
    h, w = wm.resolution
    cam = CameraConfig(width=w, height=h)
    sim = Simulator(SimConfig(camera=cam))
    # ground-truth episodes of context + horizon frames under the data-generation policy
    clips, seed = [], seed0
    while len(clips) < episodes:
        clip = record_episode(sim, seed, context + horizon)
        seed += 1
        if len(clip) == context + horizon:
            clips.append(clip)
    gt = np.stack([c.frames for c in clips])  # (N, C+H, H, W, 3)
    actions = np.stack([c.actions for c in clips])
    texts = [c.text for c in clips]
    tokens = torch.stack([wm.encode(f) for f in gt])  # (N, C+H, h, w)
    recon = wm.decode(tokens)
    future = slice(context, context + horizon)
    result: dict[str, Any] = {"checkpoint": str(checkpoint or "default"), "episodes": episodes, "context": context,
                              "horizon": horizon, "sampler": asdict(sampler), "seeds": [seed0, seed - 1]}  # fmt: skip
    result["tokenizer_psnr"] = _psnr(recon[:, future].reshape(-1, h, w, 3), gt[:, future].reshape(-1, h, w, 3))
    dream = _rollout(wm, tokens, actions, texts, context, horizon, sampler, seed=1)
    for k in (1, 4, 8):
        if k <= horizon:
            result[f"psnr@{k}"] = _psnr(dream[:, k - 1], gt[:, context + k - 1])
    result[f"copy_last_psnr@{horizon}"] = _psnr(gt[:, context - 1], gt[:, context + horizon - 1])
    other = actions.copy()
    other[:, context - 1 :] = np.roll(actions, 1, axis=0)[:, context - 1 :]  # another episode's future actions
    dream_other = _rollout(wm, tokens, other, texts, context, horizon, sampler, seed=1)
    result[f"delta_psnr_actions@{horizon}"] = result[f"psnr@{horizon}"] - _psnr(dream_other[:, -1], gt[:, -1])
    gap = action_nll_gap(wm, tokens, actions, other, texts, context, min(4, horizon))
    result.update({f"action_nll_gap@{k + 1}": v for k, v in enumerate(gap)})
    # controllability: left / right branches from one start; yaw read off the frames
    cf = counterfactual_starts(sim, [seed0 + 500 + i for i in range(episodes)], context, horizon)
    ctx_tokens = torch.stack([wm.encode(f) for f in cf["context_frames"]])
    gt_yaw, dream_yaw = {}, {}
    for name, (frames, acts) in cf["branches"].items():
        full_actions = np.concatenate([cf["context_actions"], acts], axis=1)  # action of frame t drives t -> t+1
        d = _rollout(wm, ctx_tokens, full_actions, cf["texts"], context, horizon, sampler, seed=2)
        last_ctx = cf["context_frames"][:, -1:]
        gt_yaw[name] = np.array(
            [estimate_yaw(np.concatenate([lc, f]), cam.hfov_deg).sum() for lc, f in zip(last_ctx, frames, strict=True)]
        )
        dream_yaw[name] = np.array(
            [estimate_yaw(np.concatenate([lc, f]), cam.hfov_deg).sum() for lc, f in zip(last_ctx, d, strict=True)]
        )
        if name == "left":
            cf_left = d
    ok = (dream_yaw["left"] > 0) & (dream_yaw["right"] < 0)
    gt_ok = (gt_yaw["left"] > 0) & (gt_yaw["right"] < 0)
    result["yaw_sign_accuracy"] = float(ok.mean())
    result["yaw_estimator_validation"] = {
        "gt_pair_sign_accuracy": float(gt_ok.mean()),
        "gt_heading_change_true_rad": {
            k: float(np.mean(v[1][..., 1].sum(axis=1) * 0.1)) for k, v in cf["branches"].items()
        },
        "gt_heading_change_estimated_rad": {k: float(v.mean()) for k, v in gt_yaw.items()},
        "dream_heading_change_estimated_rad": {k: float(v.mean()) for k, v in dream_yaw.items()},
    }
    # text control: classify text-to-video clips back to their style
    frames, labels, groups = style_dataset(cam, seeds_per_style=5, frames_per_seed=6, seed0=seed0 + 2000)
    train = groups < 4
    clf = StyleClassifier.fit(frames[train], labels[train])
    val_acc = float((clf.predict(frames[~train]) == labels[~train]).mean())
    captions = [
        f"{s.split(', ')[0]}, {WEATHER_WORDS[s.split(', ')[1]]}, rural two-lane road straight, light traffic"
        for s in STYLES
    ]
    n_t2v = 4
    start = torch.full(
        (len(STYLES), n_t2v, wm.stpt.cfg.grid_h, wm.stpt.cfg.grid_w), wm.stpt.cfg.mask_id, dtype=torch.long
    )
    gens = [torch.Generator().manual_seed(3 + i) for i in range(len(STYLES))]
    t2v_tokens = generate_joint(wm.stpt, start, sampler, gens, text_ids=wm.text_ids(captions))
    t2v = wm.decode(t2v_tokens)  # (S, T, H, W, 3)
    pred = clf.predict(t2v.reshape(-1, h, w, 3)).reshape(len(STYLES), n_t2v)
    result["t2v_style_accuracy"] = float((pred == np.arange(len(STYLES))[:, None]).mean())
    result["t2v_style_classifier_validation_accuracy"] = val_acc
    result["goals"] = {
        "psnr@1 >= tokenizer_psnr - 2": result["psnr@1"] >= result["tokenizer_psnr"] - 2,
        f"psnr@{horizon} >= copy_last + 3": result[f"psnr@{horizon}"] >= result[f"copy_last_psnr@{horizon}"] + 3,
        f"delta_psnr_actions@{horizon} >= 2": result[f"delta_psnr_actions@{horizon}"] >= 2,
        "yaw_sign_accuracy >= 0.95": result["yaw_sign_accuracy"] >= 0.95,
        "t2v_style_accuracy >= 0.8": result["t2v_style_accuracy"] >= 0.8,
    }
    result["environment"] = environment()
    out = Path(out)
    write_json(out, result)
    # contact sheet: ground truth vs dream at each horizon, a few episodes; left branch; text-to-video per style
    picks = [k - 1 for k in (1, 2, 4, 8) if k <= horizon]
    rows, labels_ = [], []
    for i in range(min(3, episodes)):
        rows += [
            [gt[i, context - 1]] + [gt[i, context + k] for k in picks],
            [gt[i, context - 1]] + [dream[i, k] for k in picks],
        ]
        labels_ += [f"gt {i}", f"dream {i}"]
    rows += [[cf["context_frames"][0, -1]] + [cf_left[0, k] for k in picks]]
    labels_ += ["left"]
    write_png(out.with_suffix(".png"), upscale(contact_sheet(rows, labels_), 2))
    write_png(out.with_name(out.stem + "_t2v.png"), upscale(contact_sheet([list(c) for c in t2v], list(STYLES)), 2))
    return result
