"""Paired-style token shards: simulator drives rendered in several styles, each clip with its twin in another style.

The ground truth of stylization and of restyled inpainting: one drive (same seed, poses and traffic,
:func:`~drivedreamer_env.sim.paired.render_paired`) in ``styles_per_drive`` styles drawn per seed, each style
encoded once and written as its own clip; clip k carries the tokens and caption of style k + 1 (cyclically) as
its pair, so with two styles each is the other's target. The ``restyle`` masking modes
(:mod:`drivedreamer_env.models.masking`) train on them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from drivedreamer_env.data.tokens import write_token_clip, write_token_manifest
from drivedreamer_env.models.proposal import clip_proposals
from drivedreamer_env.models.reprojection import CameraModel
from drivedreamer_env.sim.config import CameraConfig
from drivedreamer_env.sim.paired import render_paired
from drivedreamer_env.sources.tokenize import encode_frames

if TYPE_CHECKING:
    from drivedreamer_env.models.tokenizer import VisualTokenizer


def drive_styles(seed: int, n: int, styles: Sequence[str]) -> list[str]:
    """``n`` distinct styles of ``styles`` for drive ``seed`` (seeded: the same seed always gets the same)."""
    if not 2 <= n <= len(styles):
        raise ValueError(f"styles per drive must be in [2, {len(styles)}], got {n}")
    rng = np.random.default_rng(seed)
    return [styles[int(k)] for k in rng.choice(len(styles), n, replace=False)]


@torch.no_grad()
def write_paired_tokens(
    tokenizer: VisualTokenizer,
    out_dir: str | Path,
    tokenizer_checkpoint: str,
    seeds: Sequence[int],
    frames: int,
    styles_per_drive: int = 2,
    proposals: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Render every drive of ``seeds`` in ``styles_per_drive`` styles, encode them and write paired token shards.

    Args:
        tokenizer: encodes the frames (its resolution is the render's).
        out_dir: the token-shard directory (created if missing; the manifest is rewritten after every drive).
        tokenizer_checkpoint: the checkpoint path recorded in the manifest.
        seeds: simulator episode seeds, one drive each.
        frames: frames per drive (10 Hz).
        styles_per_drive: styles each drive is rendered in (drawn per seed from the nine of
            :data:`~drivedreamer_env.eval.frame_probes.STYLES`).
        proposals: also store each clip's warp proposals (needed when the run also trains ``warp`` masking).
        progress: called with 1 per drive written.

    Returns:
        The manifest's episode entries, one per clip (``styles_per_drive`` per drive).
    """
    from drivedreamer_env.data.frames import edge_token_energy
    from drivedreamer_env.sim.config import TIMES_OF_DAY, WEATHERS

    STYLES = tuple(f"{t}, {w}" for t in TIMES_OF_DAY for w in WEATHERS)  # as eval.frame_probes.STYLES

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = tokenizer.cfg
    cam_cfg = CameraConfig(width=cfg.width, height=cfg.height)
    episodes: list[dict[str, Any]] = []
    camera = None
    for seed in seeds:
        styles = drive_styles(seed, styles_per_drive, STYLES)
        drive = render_paired(seed, styles, cam_cfg, frames)
        tokens = [encode_frames(tokenizer, f, 64) for f in drive.frames]  # per style (T, h, w)
        cam = CameraModel.from_meta(drive.camera, (cfg.height, cfg.width))
        for k, style in enumerate(styles):
            j = (k + 1) % len(styles)
            meta = {"source": "procdrive-paired", "scene": f"procdrive-{seed:07d}", "seed": int(seed),
                    "style": style, "paired_style": styles[j]}  # fmt: skip
            proposal = None
            if proposals:
                proposal = clip_proposals(tokenizer, torch.from_numpy(tokens[k]), drive.actions, drive.timestamps, cam)
                meta["camera"] = camera = cam.to_dict()
            energy = edge_token_energy(drive.frames[k], tokens[k].shape[1:])
            name = f"clip_{len(episodes):06d}.safetensors"
            write_token_clip(out / name, tokens[k], drive.actions, drive.timestamps, drive.captions[k], meta,
                             None, proposal, (tokens[j], drive.captions[j]), energy)  # fmt: skip
            episodes.append({"file": name, "frames": frames, "caption": drive.captions[k], "events": False,
                             "paired_caption": drive.captions[j]})  # fmt: skip
        source = f"paired:seeds {seeds[0]}-{seed} x {styles_per_drive} styles"
        write_token_manifest(out, episodes, source, None, tokenizer_checkpoint, dataclasses.asdict(cfg), camera)
        if progress:
            progress(1)
    if not episodes:
        raise ValueError("no seeds to render")
    return episodes
