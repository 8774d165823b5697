"""CLI verbs of the environment: ``demo``, ``counterfactual``, ``play`` (heavy imports happen when they run)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

DEMO_SEED = 100_007  # a simulator scene held out from the shipped model's training data (seeds 0-399)


def _start(spec: str) -> Any:
    """``--start``: an int seed, or a clip source spec / video / image path (its first clip or the image)."""
    try:
        return int(spec)
    except ValueError:
        pass
    path = Path(spec)
    if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp"):
        if not path.is_file():
            raise FileNotFoundError(f"--start image {spec!r} does not exist")
        return str(path)
    from drivedreamer_env.sources import open_source

    for clip in open_source(spec):
        return clip
    raise ValueError(f"--start {spec!r}: the source holds no clip")


def _env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw = {"checkpoint": args.checkpoint, "device": args.device, "sampling_steps": args.sampling_steps,
          "temperature": args.temperature, "guidance_scale": args.guidance}  # fmt: skip
    if getattr(args, "text", None):
        kw["text"] = args.text
    return kw


def cmd_counterfactual(args: argparse.Namespace) -> int:
    from drivedreamer_env.envs.counterfactual import format_table, parse_branches, run_counterfactual

    t0 = time.perf_counter()
    metrics = run_counterfactual(_start(args.start), parse_branches(args.branches), args.steps, args.out,
                                 speed=args.speed, env_kwargs=_env_kwargs(args), seed=args.seed)  # fmt: skip
    print(format_table(metrics))
    print(f"\noutputs in {Path(args.out).resolve()} ({time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    from drivedreamer_env.envs.play import play

    start = _start(args.start) if args.start is not None else None
    play(start, record=args.record, env_kwargs=_env_kwargs(args), seed=args.seed)
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default=None, help="world-model directory (default: the shipped model)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--sampling-steps", type=int, default=8, help="MaskGIT steps per frame")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance scale")
    p.add_argument("--text", default=None, help="caption override")
    p.add_argument("--seed", type=int, default=0, help="environment seed (sampler RNG)")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="the demo: the shipped model dreams left/straight/right from one scene")
    demo.add_argument("--out", default="outputs/demo", help="output directory")
    demo.add_argument("--start", default=str(DEMO_SEED), help="simulator seed, clip source or image")
    demo.add_argument("--steps", type=int, default=40, help="steps per branch")
    demo.add_argument("--branches", default="left,straight,right")
    demo.add_argument("--speed", type=float, default=-0.2, help="normalised speed command (-0.2 = 8 m/s)")
    _common(demo)
    demo.set_defaults(func=cmd_counterfactual)

    cf = sub.add_parser("counterfactual", help="branch one start into several steering futures")
    cf.add_argument("--start", required=True, help="simulator seed (int), clip source spec, video or image")
    cf.add_argument("--branches", default="left,straight,right", help="names or normalised steering values")
    cf.add_argument("--steps", type=int, default=40)
    cf.add_argument("--speed", type=float, default=-0.2, help="normalised speed command (-0.2 = 8 m/s)")
    cf.add_argument("--out", required=True, help="output directory")
    _common(cf)
    cf.set_defaults(func=cmd_counterfactual)

    pl = sub.add_parser("play", help="drive the dream with the keyboard (needs the play extra)")
    pl.add_argument("--start", default=None, help="simulator seed, clip source or image (default: random scene)")
    pl.add_argument("--record", default=None, help="write the drive to this MP4/GIF")
    _common(pl)
    pl.set_defaults(func=cmd_play)
