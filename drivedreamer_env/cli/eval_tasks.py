"""``drivedreamer eval tasks``: stylization and inpainting of held-out simulator drives towards another style.

The evaluation (:mod:`drivedreamer_env.eval.task_eval`) and the tasks (:mod:`drivedreamer_env.tasks`) are
independent layers; this verb composes them: the world model's ``stylize`` and ``inpaint`` tasks are handed to
:func:`~drivedreamer_env.eval.task_eval.evaluate_tasks` as callables.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from drivedreamer_env.eval.task_eval import InpaintFn, StylizeFn
    from drivedreamer_env.models.sampler import SamplerConfig
    from drivedreamer_env.models.world_model import WorldModel
    from drivedreamer_env.tasks.options import InpaintConfig, StylizeConfig


def task_callables(
    wm: WorldModel, sampler: SamplerConfig, frames: int, stylize: StylizeConfig, inpaint: InpaintConfig
) -> tuple[StylizeFn, InpaintFn]:
    """The world model's ``stylize`` and ``inpaint`` tasks (:func:`~drivedreamer_env.tasks.generation.generate`)
    as the callables :func:`~drivedreamer_env.eval.task_eval.evaluate_tasks` scores."""
    from drivedreamer_env.tasks.generation import generate

    def run_stylize(video: np.ndarray, text: str, seed: int) -> np.ndarray:
        return generate(wm, "stylize", video=video, text=text, num_frames=frames, sampler=sampler, seed=seed,
                        stylize=stylize)  # fmt: skip

    def run_inpaint(video: np.ndarray, mask: np.ndarray, text: str, seed: int) -> np.ndarray:
        return generate(wm, "inpaint", video=video, text=text, mask=mask, num_frames=frames, sampler=sampler,
                        seed=seed, inpaint=inpaint)  # fmt: skip

    return run_stylize, run_inpaint


def configs_from_args(args: argparse.Namespace) -> tuple[SamplerConfig, StylizeConfig, InpaintConfig]:
    """The sampler and the two tasks' settings of ``eval tasks`` (bad values are clear errors)."""
    from drivedreamer_env.models.sampler import SamplerConfig
    from drivedreamer_env.tasks.options import InpaintConfig, StylizeConfig

    sampler = SamplerConfig(steps=args.steps, temperature=args.temperature, guidance_scale=args.guidance)
    stylize = StylizeConfig(ratio=args.style_ratio, schedule=args.stylize_schedule, rounds=args.stylize_rounds,
                            text_guidance=args.text_guidance)  # fmt: skip
    return (
        sampler,
        stylize,
        InpaintConfig(
            ring=args.inpaint_ring,
            feather_px=args.feather_px,
            text_guidance=args.inpaint_text_guidance,
            rounds=args.inpaint_rounds,
            dilate=args.inpaint_dilate,
        ),
    )


def run_eval_tasks(args: argparse.Namespace) -> dict[str, Any]:
    """Load the model, score both tasks, write the JSON and the before/after pictures; returns the JSON."""
    import torch

    from drivedreamer_env.eval.task_eval import INPAINT_BOX, evaluate_tasks
    from drivedreamer_env.io_utils import write_json
    from drivedreamer_env.media import contact_sheet, upscale, write_png
    from drivedreamer_env.models.world_model import WorldModel
    from drivedreamer_env.provenance import environment
    from drivedreamer_env.sim.config import CameraConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    sampler, stylize_cfg, inpaint_cfg = configs_from_args(args)
    wm = WorldModel.load(args.checkpoint, device=args.device)
    h, w = wm.resolution
    stylize, inpaint = task_callables(wm, sampler, args.frames, stylize_cfg, inpaint_cfg)
    t0 = time.perf_counter()
    scores = evaluate_tasks(CameraConfig(width=w, height=h), stylize, inpaint, args.scenes_per_style, args.frames)
    seconds = time.perf_counter() - t0
    result: dict[str, Any] = {
        "checkpoint": str(args.checkpoint or "default"),
        **scores.to_json(),
        "settings": {
            "scenes_per_style": args.scenes_per_style,
            "frames": args.frames,
            "inpaint_box": list(INPAINT_BOX),
            "sampler": asdict(sampler),
            "stylize": asdict(stylize_cfg),
            "inpaint": asdict(inpaint_cfg),
            "seconds": round(seconds, 1),
        },
        "command": " ".join(shlex.quote(a) for a in ["drivedreamer", *sys.argv[1:]]),
        "environment": environment(wm.device),
    }
    out = Path(args.out)
    write_json(out, result)
    for task, rows in scores.sheets.items():
        labels = [f"{k} {i}" for i in range(len(rows) // 3) for k in ("input", task, "target gt")]
        write_png(out.with_name(f"{out.stem}_{task}.png"), upscale(contact_sheet(rows, labels), 2))
    return result


def cmd_eval_tasks(args: argparse.Namespace) -> int:
    """Print the scores and where they were written."""
    result = run_eval_tasks(args)
    for key, value in result.items():
        if isinstance(value, float):
            print(f"{key:>40}: {value:.4f}")
    print(f"{result['settings']['seconds']:.0f} s; wrote {args.out}")
    return 0


def add_tasks(ev: argparse._SubParsersAction) -> None:
    """Register ``eval tasks``."""
    from drivedreamer_env.tasks.options import STYLIZE_SCHEDULES, InpaintConfig, StylizeConfig

    et = ev.add_parser(
        "tasks", help="stylization and inpainting towards another style: style accuracy, structure, seam"
    )
    et.add_argument("--checkpoint", default=None, help="checkpoint directory (default: the shipped model)")
    et.add_argument("--out", required=True, help="result JSON (_stylize.png and _inpaint.png are written next to it)")
    et.add_argument("--scenes-per-style", type=int, default=4, help="held-out drives per source style (9 styles)")
    et.add_argument("--frames", type=int, default=4, help="frames per drive")
    s, i = StylizeConfig(), InpaintConfig()
    et.add_argument("--style-ratio", type=float, default=s.ratio, help="fraction of tokens re-generated by stylize")
    et.add_argument(
        "--stylize-schedule",
        choices=STYLIZE_SCHEDULES,
        default=s.schedule,
        help="stylize token positions: random (same in every frame) or the flattest (edges kept)",
    )
    et.add_argument(
        "--stylize-rounds",
        type=int,
        default=s.rounds,
        help="> 1: re-mask the least text-consistent tokens and regenerate, this many fills in all",
    )
    et.add_argument(
        "--text-guidance", type=float, default=s.text_guidance, help="stylize: guidance on the text only (1 = off)"
    )
    et.add_argument(
        "--inpaint-dilate", type=int, default=i.dilate, help="inpaint: token rings generated around the fill"
    )
    et.add_argument("--inpaint-ring", action="store_true", help="re-sample the fill's boundary tokens")
    et.add_argument(
        "--inpaint-text-guidance", type=float, default=i.text_guidance, help="inpaint: guidance on the text only"
    )
    et.add_argument(
        "--inpaint-rounds", type=int, default=i.rounds, help="> 1: re-mask the fill's least text-consistent half"
    )
    et.add_argument(
        "--feather-px", type=int, default=i.feather_px, help="inpaint: blend the fill in over this many pixels"
    )
    et.add_argument("--steps", type=int, default=8, help="MaskGIT steps (the generate default)")
    et.add_argument("--temperature", type=float, default=1.0)
    et.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance scale (1 = off)")
    et.add_argument("--device", default="auto", help="auto, cpu or cuda")
    et.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    et.set_defaults(func=cmd_eval_tasks)
