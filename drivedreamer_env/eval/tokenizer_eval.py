"""``drivedreamer eval tokenizer``: reconstruction quality, code usage and speed on held-out frames."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from drivedreamer_env.data.frames import image_folder_source, load_frames
from drivedreamer_env.io_utils import write_json
from drivedreamer_env.media import contact_sheet, upscale, write_png
from drivedreamer_env.metrics import frames_ssim, psnr
from drivedreamer_env.models.checkpoint import load_tokenizer
from drivedreamer_env.provenance import environment
from drivedreamer_env.sources import open_source

GOALS = {"psnr": 30.0, "ssim": 0.90, "code_usage": 0.80}


@torch.no_grad()
def evaluate_tokenizer(
    checkpoint: str | Path, data: str, out: str | Path, max_frames: int = 2000, batch_size: int = 64
) -> dict[str, Any]:
    """Encode and decode up to ``max_frames`` frames of ``data``; write the result JSON and a side-by-side PNG.

    Returns:
        dict with ``psnr`` [dB] and ``ssim`` (means over frames), ``code_usage`` (fraction of the codebook seen),
        ``encode_fps`` / ``decode_fps`` [frames/s], and the goals with whether each is met.
    """
    model = load_tokenizer(checkpoint)
    cfg = model.cfg
    folder = image_folder_source(data)  # a bare image folder needs no frame rate to be read as frames
    clips = folder if folder is not None else open_source(data)
    frames, _ = load_frames(clips, cfg.height, cfg.width, max_frames=max_frames, name=f"data source {data!r}")
    recon, tokens = [], []
    enc_s = dec_s = 0.0
    for i in range(0, len(frames), batch_size):
        batch = frames[i : i + batch_size][:, None]  # (B, 1, H, W, 3)
        t0 = time.perf_counter()
        enc = model.encode(batch)
        t1 = time.perf_counter()
        out_frames = model.decode(enc.tokens)
        t2 = time.perf_counter()
        enc_s, dec_s = enc_s + t1 - t0, dec_s + t2 - t1
        recon.append(out_frames[:, 0])
        tokens.append(enc.tokens.flatten())
    recon_t = torch.cat(recon)
    used = torch.unique(torch.cat(tokens)).numel()
    p = psnr(recon_t, frames)
    s = frames_ssim(recon_t, frames)
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "data": data,
        "frames": len(frames),
        "resolution": [cfg.height, cfg.width],
        "token_grid": list(cfg.grid),
        "codebook_size": cfg.codebook_size,
        "psnr": round(float(p.mean()), 3),
        "psnr_p10": round(float(p.quantile(0.1)), 3),
        "ssim": round(float(s.mean()), 4),
        "code_usage": round(used / cfg.codebook_size, 4),
        "codes_used": used,
        "encode_fps": round(len(frames) / enc_s, 1),
        "decode_fps": round(len(frames) / dec_s, 1),
        "batch_size": batch_size,
        "torch_threads": torch.get_num_threads(),
        "environment": environment(next(model.parameters()).device),
    }
    result["goals"] = {k: {"target": v, "value": result[k], "met": result[k] >= v} for k, v in GOALS.items()}
    out = Path(out)
    write_json(out, result)
    picks = np.linspace(0, len(frames) - 1, 8).astype(int)
    sheet = contact_sheet([[frames[i].numpy() for i in picks], [recon_t[i].numpy() for i in picks]], ["orig", "recon"])
    write_png(out.with_suffix(".png"), upscale(sheet, 2))
    return result
