"""``drivedreamer data <sim|nuscenes|tokenize|paired>``: make datasets.

``sim`` records simulator episodes as clip shards or as a nuScenes-format dataset; ``nuscenes`` converts a
nuScenes dataroot into clip shards (its own module); ``tokenize`` encodes a clip source once into token shards
for world-model training; ``paired`` renders simulator drives in several styles and writes token shards whose
clips carry the same drive in a second style (the ``restyle`` training masks).
"""

from __future__ import annotations

import argparse
import time

DEFAULT_SIM_CONFIG = "configs/sim/default.yaml"


def _sim_config(args: argparse.Namespace):
    """The ``--config`` SimConfig (default: ``SimConfig()``) with ``--width`` / ``--height`` applied."""
    from drivedreamer_env.config import load_config
    from drivedreamer_env.sim.config import CameraConfig, SimConfig

    cfg = load_config(SimConfig, args.config) if args.config else SimConfig()
    if args.width or args.height:
        cam = cfg.camera
        cfg.camera = CameraConfig(
            **{**cam.__dict__, "width": args.width or cam.width, "height": args.height or cam.height}
        )
    return cfg


def cmd_data_sim(args: argparse.Namespace) -> int:
    """Record simulator episodes as clip shards or as a nuScenes-format dataset."""
    from tqdm import tqdm

    from drivedreamer_env.sim.record import record_episodes, write_shards

    cfg = _sim_config(args)
    seeds = list(range(args.seed_start, args.seed_start + args.episodes))
    t0 = time.perf_counter()
    with tqdm(total=len(seeds), desc="episodes", unit="ep", disable=None) as bar:  # None: none without a terminal
        clips = record_episodes(cfg, seeds, args.steps, progress=bar.update)
        if args.format == "shards":
            episodes = write_shards(clips, args.out, cfg)
            frames = sum(e["frames"] for e in episodes)
        else:
            from drivedreamer_env.nuscenes.writer import export_nuscenes

            clips = list(clips)
            export_nuscenes(clips, args.out, version=args.version, geometry=cfg.geometry, overwrite=args.overwrite)
            episodes, frames = clips, sum(len(c) for c in clips)
    dt = time.perf_counter() - t0
    print(f"wrote {len(episodes)} episodes, {frames} frames ({args.format}) to {args.out} in {dt:.1f} s")
    return 0


def cmd_data_tokenize(args: argparse.Namespace) -> int:
    """Encode a clip source once with a tokenizer checkpoint into token shards."""
    from tqdm import tqdm

    from drivedreamer_env.models.checkpoint import load_tokenizer
    from drivedreamer_env.sources.tokenize import tokenize_source

    tokenizer = load_tokenizer(args.checkpoint)
    camera = None
    if args.hfov is not None:  # an assumption for sources without calibration (plain video)
        from drivedreamer_env.models.reprojection import CameraModel

        c = tokenizer.cfg
        camera = CameraModel.from_hfov(c.width, c.height, args.hfov, args.camera_height, args.camera_pitch, 1.5)
    with tqdm(desc="clips", unit="clip", disable=None) as bar:  # None: no bar when not a terminal
        episodes = tokenize_source(
            tokenizer, args.data, args.out, str(args.checkpoint), fps=args.fps, progress=bar.update,
            proposals=args.proposals, camera=camera,
        )  # fmt: skip
    print(f"wrote {len(episodes)} token clips, {sum(e['frames'] for e in episodes)} frames to {args.out}")
    return 0


def cmd_data_paired(args: argparse.Namespace) -> int:
    """Render drives in several styles and write paired-style token shards."""
    from tqdm import tqdm

    from drivedreamer_env.models.checkpoint import load_tokenizer
    from drivedreamer_env.sources.paired import write_paired_tokens

    tokenizer = load_tokenizer(args.checkpoint)
    seeds = list(range(args.seed_start, args.seed_start + args.drives))
    t0 = time.perf_counter()
    with tqdm(total=len(seeds), desc="drives", unit="drive", disable=None) as bar:
        episodes = write_paired_tokens(tokenizer, args.out, str(args.checkpoint), seeds, args.frames,
                                       args.styles_per_drive, args.proposals, bar.update)  # fmt: skip
    dt = time.perf_counter() - t0
    print(f"wrote {len(episodes)} paired token clips ({len(seeds)} drives x {args.styles_per_drive} styles, "
          f"{args.frames} frames) to {args.out} in {dt:.1f} s")  # fmt: skip
    return 0


def _add_paired(data: argparse._SubParsersAction) -> None:
    pr = data.add_parser("paired", help="render drives in several styles into paired-style token shards")
    pr.add_argument("--checkpoint", required=True, help="checkpoint directory with a tokenizer")
    pr.add_argument("--drives", type=int, required=True, help="number of drives (one seed each)")
    pr.add_argument("--frames", type=int, default=48, help="frames per drive (10 Hz)")
    pr.add_argument("--styles-per-drive", type=int, default=2, help="styles each drive is rendered in (2-9)")
    pr.add_argument("--seed-start", type=int, default=50_000,
                    help="first drive seed (the task evaluation holds out 106,000+)")  # fmt: skip
    pr.add_argument("--out", required=True, help="output directory")
    pr.add_argument("--proposals", action="store_true", help="also store warp proposals (warp training)")
    pr.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    pr.set_defaults(func=cmd_data_paired)


def _add_sim(data: argparse._SubParsersAction) -> None:
    sim = data.add_parser("sim", help="record simulator episodes")
    sim.add_argument("--episodes", type=int, required=True, help="number of episodes (one world each)")
    sim.add_argument("--steps", type=int, default=200, help="frames per episode (fewer if it ends early)")
    sim.add_argument("--out", required=True, help="output directory")
    sim.add_argument("--format", choices=("shards", "nuscenes"), default="shards")
    sim.add_argument("--version", default="v1.0-mini", help="nuScenes version folder name (--format nuscenes)")
    sim.add_argument("--seed-start", type=int, default=0, help="first episode seed")
    sim.add_argument("--config", default=None, help=f"SimConfig YAML (e.g. {DEFAULT_SIM_CONFIG})")
    sim.add_argument("--width", type=int, default=None, help="image width [px] (overrides the config)")
    sim.add_argument("--height", type=int, default=None, help="image height [px] (overrides the config)")
    sim.add_argument("--overwrite", action="store_true", help="replace an existing nuScenes export in --out")
    sim.set_defaults(func=cmd_data_sim)


def _add_tokenize(data: argparse._SubParsersAction) -> None:
    tk = data.add_parser("tokenize", help="encode a clip source into token shards for world-model training")
    tk.add_argument("--checkpoint", required=True, help="checkpoint directory with a tokenizer")
    tk.add_argument(
        "--data",
        required=True,
        action="append",
        help="clip source spec (repeat the flag or give a comma list: all clips go into --out)",
    )
    tk.add_argument("--out", required=True, help="output directory")
    tk.add_argument(
        "--fps",
        type=float,
        default=None,
        help="resample clips to this frame rate first (at most their own rate: upsampling is refused)",
    )
    tk.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    tk.add_argument("--proposals", action="store_true", help="also store every frame's warp proposal (warp training)")
    tk.add_argument("--hfov", type=float, default=None,
                    help="assumed horizontal field of view [deg] for clips without a camera in their meta")  # fmt: skip
    tk.add_argument("--camera-height", type=float, default=1.5, help="with --hfov: mounting height [m]")
    tk.add_argument("--camera-pitch", type=float, default=0.0, help="with --hfov: downward pitch [deg]")
    tk.set_defaults(func=cmd_data_tokenize)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``data`` and its ``sim``, ``nuscenes`` and ``tokenize`` sub-verbs."""
    from drivedreamer_env.cli.nuscenes import add_parser as add_data_nuscenes

    data = sub.add_parser("data", help="make datasets").add_subparsers(dest="what", required=True)
    _add_sim(data)
    add_data_nuscenes(data)
    _add_tokenize(data)
    _add_paired(data)
