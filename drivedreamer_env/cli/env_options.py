"""What the env verbs (``demo``, ``counterfactual``, ``play``) share: the ``--start`` spec and the env flags."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def parse_start(spec: str) -> Any:
    """``--start``: an int seed, or a clip source spec / video / image path (its first clip or the image)."""
    try:
        return int(spec)
    except ValueError:
        pass
    path = Path(spec)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if not path.is_file():
            raise FileNotFoundError(f"--start image {spec!r} does not exist")
        return str(path)
    from drivedreamer_env.sources import open_source

    for clip in open_source(spec):
        return clip
    raise ValueError(f"--start {spec!r}: the source holds no clip")


def make_env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``WorldDreamerDriveEnv`` keyword arguments from the flags of :func:`add_env_options`."""
    kw = {"checkpoint": args.checkpoint, "device": args.device, "sampling_steps": args.sampling_steps,
          "temperature": args.temperature, "guidance_scale": args.guidance, "decoding": args.decoding,
          "warp_remask": args.warp_remask}  # fmt: skip
    if getattr(args, "text", None):
        kw["text"] = args.text
    return kw


def add_decoding_options(p: argparse.ArgumentParser) -> None:
    """``--decoding`` and ``--warp-remask``: None keeps what the checkpoint was trained for (``config.json``)."""
    p.add_argument("--decoding", choices=("plain", "warp"), default=None,
                   help="plain MaskGIT or warp-then-refine (default: what the checkpoint was trained for)")  # fmt: skip
    p.add_argument("--warp-remask", type=float, default=None, help="warp decoding: re-predicted share of kept tokens")


def add_env_options(p: argparse.ArgumentParser) -> None:
    """The model, sampler and seed flags every env verb takes."""
    p.add_argument("--checkpoint", default=None, help="world-model directory (default: the shipped model)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument(
        "--sampling-steps", type=int, default=None, help="MaskGIT steps per frame (default: the checkpoint's)"
    )
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance scale")
    add_decoding_options(p)
    p.add_argument("--text", default=None, help="caption override")
    p.add_argument("--seed", type=int, default=0, help="environment seed (sampler RNG)")
