"""``drivedreamer generate <task>``: inputs from files or simulator seeds, outputs MP4 + GIF + PNG sheet + JSON.

``<task>.json`` holds the task's metrics: the frames given, kept and generated, the PSNR of the given frames'
tokenizer reconstruction against the input (at the model's resolution: what the model could keep of it at best),
and the sampler used. ``<task>.png`` shows the given frames, their reconstruction and the output, one row each.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from drivedreamer_env.tasks.names import TASKS

if TYPE_CHECKING:
    from drivedreamer_env.models.world_model import WorldModel

# yaw rate [rad/s] of the preset action sequences (--turn), canonical ego frame: a left turn is positive
TURN_YAW_RATE_RADPS = {"left": 0.25, "straight": 0.0, "right": -0.25}
PRESET_SPEED_MPS = 8.0
DEFAULT_INPAINT_BOX = "box:0.3,0.4,0.7,1.0"


def load_input(args: argparse.Namespace, frames_needed: int) -> tuple[np.ndarray | None, str, np.ndarray | None]:
    """(frames, caption, actions) from --image / --video / --seed."""
    if args.image:
        import cv2

        img = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"could not read image {args.image} (expected a PNG or JPEG file)")
        return img[None, :, :, ::-1].copy(), "", None
    if args.video:
        from drivedreamer_env.sources import open_source

        clip = next(iter(open_source(args.video)))
        return clip.frames, clip.text, clip.actions if clip.meta.get("has_actions", True) else None
    if args.seed is not None:
        from drivedreamer_env.sim.record import record_episode
        from drivedreamer_env.sim.simulator import Simulator

        clip = record_episode(Simulator(), args.seed, frames_needed)
        return clip.frames, clip.text, clip.actions
    return None, "", None


def preset_actions(name: str, n: int, speed_mps: float = PRESET_SPEED_MPS) -> np.ndarray:
    """(n, 2) ``[speed m/s, yaw_rate rad/s]`` of the ``--turn`` preset ``name``, held for every frame."""
    if name not in TURN_YAW_RATE_RADPS:
        raise ValueError(f"--turn must be one of {sorted(TURN_YAW_RATE_RADPS)}, got {name!r}")
    return np.tile(np.array([[speed_mps, TURN_YAW_RATE_RADPS[name]]], np.float32), (n, 1))


def parse_mask(spec: str, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool from ``box:x0,y0,x1,y1`` (fractions of width / height) or a PNG/JPEG (non-zero = regenerate).

    The box covers rows ``floor(y0 * H)`` to ``ceil(y1 * H)`` and columns ``floor(x0 * W)`` to ``ceil(x1 * W)``
    (end exclusive), so a box never shrinks below the fractions it was given.
    """
    h, w = shape
    if spec.startswith("box:"):
        try:
            x0, y0, x1, y1 = (float(v) for v in spec[4:].split(","))
        except ValueError as err:
            raise ValueError(f"--mask {spec!r}: expected box:x0,y0,x1,y1 with fractions in [0, 1]") from err
        m = np.zeros((h, w), bool)
        m[int(y0 * h) : int(np.ceil(y1 * h)), int(x0 * w) : int(np.ceil(x1 * w))] = True
        return m
    import cv2

    img = cv2.imread(spec, cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError(f"--mask {spec!r}: not box:x0,y0,x1,y1 and not a readable image")
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_NEAREST) > 0


def _write_outputs(
    out_dir: Path, task: str, out: np.ndarray, given: np.ndarray | None, recon: np.ndarray | None
) -> None:
    """``<task>.mp4`` / ``.gif`` of the output and ``<task>.png``: the given frames and their reconstruction (if
    any) above the output."""
    from drivedreamer_env.media import contact_sheet, upscale, write_png, write_video

    rows, labels = [list(out)], ["generated"]
    if given is not None and recon is not None and len(given):
        rows, labels = [list(given), list(recon), *rows], ["input", "reconstruction", *labels]
    write_video(out_dir / f"{task}.mp4", [upscale(f, 3) for f in out], fps=10)
    write_video(out_dir / f"{task}.gif", [upscale(f, 2) for f in out], fps=10)
    write_png(out_dir / f"{task}.png", upscale(contact_sheet(rows, labels), 2))


def reconstruction_psnr(wm: WorldModel, frames: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """The tokenizer's reconstruction of ``frames`` (T, H, W, 3) at the model's resolution, and its per-frame
    PSNR [dB] against them."""
    import torch

    from drivedreamer_env.metrics import psnr

    recon = wm.decode(wm.encode(frames)[None])[0]
    return recon, [float(v) for v in psnr(torch.from_numpy(recon), torch.from_numpy(frames))]


def run_generate(args: argparse.Namespace) -> dict:
    """Load the model and inputs, run ``args.task``, write its outputs; returns the ``<task>.json`` content."""
    from drivedreamer_env.io_utils import write_json
    from drivedreamer_env.models.sampler import SamplerConfig
    from drivedreamer_env.models.world_model import WorldModel
    from drivedreamer_env.tasks.generation import run_task

    wm = WorldModel.load(args.checkpoint, device=args.device)
    frames, caption, actions = load_input(args, args.frames)
    text = args.text if args.text is not None else caption
    if args.turn:
        actions = preset_actions(args.turn, args.frames)
    mask = None
    if args.task == "inpaint":
        mask = parse_mask(args.mask or DEFAULT_INPAINT_BOX, wm.resolution)
    if args.task == "action-to-video" and frames is not None and actions is None:
        raise ValueError("action-to-video needs actions: --turn left|straight|right, or a --video with an action CSV")
    sampler = SamplerConfig(steps=args.steps, temperature=args.temperature, guidance_scale=args.guidance)
    video = frames[: args.frames] if frames is not None else None
    result = run_task(
        wm, args.task, video=video, text=text, actions=actions, num_frames=args.frames,
        context_frames=args.context, mask=mask, style_ratio=args.style_ratio, sampler=sampler, seed=args.sample_seed,
    )  # fmt: skip
    out = result.frames
    given = wm.prepare(video)[: result.given_frames] if video is not None and result.given_frames else None
    recon, recon_db = reconstruction_psnr(wm, given) if given is not None else (None, [])
    out_dir = Path(args.out)
    _write_outputs(out_dir, args.task, out, given, recon)
    info = {
        "task": args.task,
        "text": text,
        "frames": len(out),
        "checkpoint": str(args.checkpoint or "default"),
        "input": _input_name(args),
        "given_frames": result.given_frames,
        "kept_frames": result.kept_frames,
        "generated_frames": len(out) - result.kept_frames,
        "generated_token_share": round(result.generated_token_share, 4),
        "input_reconstruction_psnr_db": round(float(np.mean(recon_db)), 3) if recon_db else None,
        "input_reconstruction_psnr_db_per_frame": [round(v, 3) for v in recon_db],
        "sampler": dataclasses.asdict(sampler),
        "sample_seed": args.sample_seed,
    }
    write_json(out_dir / f"{args.task}.json", info)
    return info


def _input_name(args: argparse.Namespace) -> str | None:
    """What the input was, for the metrics: ``image:PATH``, ``video:SPEC``, ``seed:N`` or None."""
    if args.image:
        return f"image:{args.image}"
    if args.video:
        return f"video:{args.video}"
    return None if args.seed is None else f"seed:{args.seed}"


def cmd_generate(args: argparse.Namespace) -> int:
    """Run the task and print the ``<task>.json`` content."""
    print(run_generate(args))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``generate``."""
    g = sub.add_parser("generate", help="run a WorldDreamer task: " + ", ".join(TASKS))
    g.add_argument("task", choices=TASKS)
    src = g.add_mutually_exclusive_group()
    src.add_argument("--image", help="input image (PNG/JPEG)")
    src.add_argument("--video", help="input clip source: an mp4, a frame folder, sim:DIR ...")
    src.add_argument("--seed", type=int, help="render the input from this simulator scene (its caption is the text)")
    g.add_argument("--text", default=None, help="caption / style text (default: the input's caption)")
    g.add_argument("--turn", choices=sorted(TURN_YAW_RATE_RADPS), default=None, help="preset actions at 8 m/s")
    g.add_argument("--mask", default=None, help="inpaint mask: box:x0,y0,x1,y1 (fractions) or an image file")
    g.add_argument("--frames", type=int, default=8, help="frames to output")
    g.add_argument("--context", type=int, default=2, help="given frames for action-to-video")
    g.add_argument("--style-ratio", type=float, default=None, help="fraction of tokens re-generated by stylize (0.8)")
    g.add_argument("--steps", type=int, default=8, help="MaskGIT steps")
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance scale (1 = off)")
    g.add_argument("--sample-seed", type=int, default=0, help="seed of the sampler")
    g.add_argument("--checkpoint", default=None, help="checkpoint directory (default: the shipped model)")
    g.add_argument("--device", default="auto", help="auto, cpu or cuda")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    g.add_argument("--out", default="outputs/generate", help="output directory")
    g.set_defaults(func=cmd_generate)
