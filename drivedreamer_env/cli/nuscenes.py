"""``drivedreamer data nuscenes``: read a nuScenes dataroot through the devkit and write clip shards."""

from __future__ import annotations

import argparse
import time


def cmd_data_nuscenes(args: argparse.Namespace) -> int:
    """Convert one split of a nuScenes dataset into clip shards with a manifest of per-scene action statistics."""
    import warnings

    from tqdm import tqdm

    from drivedreamer_env.nuscenes.reader import NuScenesSource, NuScenesWarning
    from drivedreamer_env.nuscenes.shards import write_nuscenes_shards
    from drivedreamer_env.units import VehicleGeometry

    source = NuScenesSource(
        args.root,
        version=args.version,
        split=args.split,
        channel=args.channel,
        fps=args.fps,
        frames=args.frames,
        resolution=(args.height, args.width),
        actions=args.actions,
        crop=tuple(args.crop) if args.crop else None,
        geometry=VehicleGeometry(wheelbase_m=args.wheelbase, steering_ratio=args.steering_ratio),
        normalize_captions=not args.raw_captions,
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings(), tqdm(desc="clips", unit="clip") as bar:
        warnings.simplefilter("ignore", NuScenesWarning)  # summarised below, from the report
        manifest = write_nuscenes_shards(source, args.out, progress=bar.update)
    report = manifest["report"]
    if not manifest["episodes"]:
        raise ValueError(f"{args.root} ({args.version}, split {args.split or 'all'}) gave no clips: {report}")
    print(
        f"wrote {report['clips']} clips ({report['frames']} frames at {args.fps:g} Hz, {args.height}x{args.width}) "
        f"from {report['scenes']} scenes to {args.out} in {time.perf_counter() - t0:.1f} s"
    )
    if report["missing_images"]:
        example = report["missing_image_paths"][0]
        print(f"skipped {report['missing_images']} missing or unreadable image(s), e.g. {example}")
    for scene, why in report["can_fallbacks"].items():
        print(f"{scene}: actions from ego_pose (CAN bus: {why})")
    for scene, why in report["skipped_scenes"].items():
        print(f"{scene}: no clip ({why})")
    return 0


def add_parser(data: argparse._SubParsersAction) -> None:
    """Register ``data nuscenes`` under the ``data`` verb's subparsers."""
    p = data.add_parser("nuscenes", help="nuScenes (through the devkit) -> clip shards with ego-motion actions")
    p.add_argument("--root", required=True, help="nuScenes dataroot (holds <version>/, samples/, sweeps/, can_bus/)")
    p.add_argument("--version", default="v1.0-mini", help="table folder, e.g. v1.0-mini or v1.0-trainval")
    p.add_argument("--split", default=None, help="devkit split (mini_train, mini_val, train, val, ...); default all")
    p.add_argument("--out", required=True, help="output shard directory")
    p.add_argument("--channel", default="CAM_FRONT", help="camera channel")
    p.add_argument("--fps", type=float, default=10.0, help="clip frame rate [Hz] (the sweeps are resampled)")
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default: one clip per scene)")
    p.add_argument("--height", type=int, default=64, help="frame height [px] (the model's resolution)")
    p.add_argument("--width", type=int, default=128, help="frame width [px]")
    p.add_argument(
        "--crop", type=float, nargs=4, default=None, metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
        help="fractions of the image removed before resizing (e.g. 0 0.15 0 0 drops a car hood)",
    )  # fmt: skip
    p.add_argument(
        "--actions", choices=("ego_pose", "can_bus", "can_steering"), default="ego_pose",
        help="ego_pose: pose differences; can_bus: vehicle_monitor speed + pose rotation rate; can_steering: "
        "speed + steering angle through the bicycle model (scenes without CAN data fall back to ego_pose)",
    )  # fmt: skip
    p.add_argument("--wheelbase", type=float, default=2.7, help="bicycle-model wheelbase [m] (can_steering)")
    p.add_argument(
        "--steering-ratio", type=float, default=14.0, help="steering-wheel / road-wheel angle (can_steering)"
    )
    p.add_argument("--raw-captions", action="store_true", help="keep scene descriptions as they are")
    p.set_defaults(func=cmd_data_nuscenes)
