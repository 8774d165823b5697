"""``drivedreamer eval world-model --data SPEC``: open-loop fidelity on held-out recorded clips (e.g. nuScenes).

A log has no referee for other actions, so this measures what a log can: given ``context`` real frames and the
logged actions, how close are the dreamed next ``horizon`` frames to the recorded ones. Every window is cut from
the clips the same way for every checkpoint, so two checkpoints (before / after fine-tuning) compare directly.

Keys: ``tokenizer_psnr`` (the ceiling), ``psnr@k`` of the open-loop dream at horizon k, ``copy_last_psnr@H``
(repeat the last real frame), ``delta_psnr_actions@H`` (the dream with the logged actions minus the dream with
another window's actions), and teacher-forced next-frame token metrics ``token_accuracy@1`` / ``token_nll@1``
(the model's argmax / negative log-likelihood of the real tokens of frame ``context`` from one forward pass with
that frame fully masked: deterministic, no sampling noise).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from drivedreamer_env.eval.open_loop import open_loop_metrics, other_actions, real_vs_dream_rows, resolve_sampler
from drivedreamer_env.io_utils import write_json
from drivedreamer_env.media import contact_sheet, upscale, write_png
from drivedreamer_env.models.sampler import SamplerConfig
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.provenance import environment


def clip_windows(
    wm: WorldModel, spec: str, length: int, max_windows: int
) -> tuple[np.ndarray, np.ndarray, list[str], list[str], float]:
    """Non-overlapping ``length``-frame windows of the clips of ``spec`` at the model's resolution; at most
    ``max_windows``, evenly spread over all windows in clip order (so every held-out scene counts).

    Returns:
        frames (N, length, H, W, 3) uint8, actions (N, length, 2), captions, "scene@start" labels, and the
        median frame step [s] of the clips (what warp decoding reprojects over).
    """
    from drivedreamer_env.sources import open_source

    frames, actions, texts, labels, steps = [], [], [], [], []
    for clip in open_source(spec):
        prepared = wm.prepare(clip.frames)
        steps.append(float(np.median(np.diff(clip.timestamps))) if len(clip) > 1 else 0.1)
        for start in range(0, len(clip) - length + 1, length):
            frames.append(prepared[start : start + length])
            actions.append(clip.actions[start : start + length])
            texts.append(clip.text)
            labels.append(f"{clip.meta.get('scene', clip.meta.get('shard', '?'))}@{start}")
    if not frames:
        raise ValueError(f"{spec!r} has no clip of {length} frames to evaluate on")
    pick = np.unique(np.linspace(0, len(frames) - 1, min(max_windows, len(frames))).round().astype(int))
    return (
        np.stack([frames[i] for i in pick]), np.stack([actions[i] for i in pick]).astype(np.float32),
        [texts[i] for i in pick], [labels[i] for i in pick], float(np.median(steps)),
    )  # fmt: skip


@torch.no_grad()
def next_frame_token_metrics(
    wm: WorldModel, tokens: torch.Tensor, actions: np.ndarray, texts: list[str], context: int, batch: int = 16
) -> tuple[float, float]:
    """Teacher-forced accuracy and mean NLL [nats] of frame ``context``'s tokens given the frames before it."""
    stpt = wm.stpt
    correct, nll, count = 0.0, 0.0, 0
    for i in range(0, len(tokens), batch):
        tok = tokens[i : i + batch, : context + 1].to(wm.device)  # (B, C+1, h, w)
        inp = tok.clone()
        inp[:, context] = stpt.cfg.mask_id
        act = torch.from_numpy(actions[i : i + batch, : context + 1]).to(wm.device)
        text = stpt.encode_text(wm.text_ids(texts[i : i + batch]))
        logits = stpt(inp, actions=act, text=text).logits[:, context].float()  # (B, h, w, V)
        target = tok[:, context]
        correct += float((logits.argmax(-1) == target).sum())
        nll += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="sum"))
        count += target.numel()
    return correct / count, nll / count


def evaluate_clips(
    checkpoint: str | Path | None,
    data: str,
    out: str | Path,
    context: int = 4,
    horizon: int = 8,
    max_windows: int = 64,
    sampler: SamplerConfig | dict | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Open-loop evaluation of a world model on the recorded clips of ``data`` (see the module docstring).

    Args:
        checkpoint: world-model directory (None: the shipped default).
        data: clip source spec, e.g. ``nuscenes:DIR`` of held-out scenes.
        out: result JSON; a contact sheet (real vs dreamed) is written next to it as PNG.
        context: real frames given [frames]. horizon: frames dreamed after them.
        max_windows: windows evaluated (evenly spread over the clips' windows).
        sampler: MaskGIT settings (seeded: the same dream for the same checkpoint).
        device: "auto", "cpu" or "cuda".
    """
    wm = WorldModel.load(checkpoint, device=device)
    sampler = resolve_sampler(wm, sampler)
    gt, actions, texts, labels, dt_s = clip_windows(wm, data, context + horizon, max_windows)
    tokens = torch.stack([wm.encode(f) for f in gt])  # (N, C+H, h, w) on the model's device
    acc, nll = next_frame_token_metrics(wm, tokens, actions, texts, context)
    other = other_actions(actions, context) if len(gt) > 1 else None  # another window's actions
    metrics = open_loop_metrics(wm, gt, tokens, actions, texts, context, horizon, sampler, other=other, dt_s=dt_s)
    fidelity = metrics.to_json()
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint or "default"), "data": data, "windows": len(gt), "context": context,
        "horizon": horizon, "sampler": asdict(sampler), "first_windows": labels[:4],
        "tokenizer_psnr": fidelity.pop("tokenizer_psnr"), "token_accuracy@1": acc, "token_nll@1": nll, **fidelity,
        "environment": environment(wm.device),
    }  # fmt: skip
    out = Path(out)
    write_json(out, result)
    names = [(f"real {labels[i]}", "dream") for i in range(min(3, len(gt)))]
    rows, row_labels = real_vs_dream_rows(gt, metrics.dream, context, names)
    write_png(out.with_suffix(".png"), upscale(contact_sheet(rows, row_labels), 2))
    return result
