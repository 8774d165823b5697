"""``drivedreamer eval <tokenizer|world-model>``: evaluate a checkpoint and write the result JSON (+ images)."""

from __future__ import annotations

import argparse


def cmd_eval_tokenizer(args: argparse.Namespace) -> int:
    """Evaluate a tokenizer checkpoint on held-out frames."""
    from drivedreamer_env.eval.tokenizer_eval import evaluate_tokenizer

    result = evaluate_tokenizer(args.checkpoint, args.data, args.out, max_frames=args.max_frames)
    for key in ("psnr", "ssim", "code_usage", "encode_fps", "decode_fps"):
        print(f"{key:>12}: {result[key]}")
    print(f"wrote {args.out}")
    return 0


def cmd_eval_world_model(args: argparse.Namespace) -> int:
    """Evaluate a world-model checkpoint against the simulator on held-out seeds (or open-loop on --data)."""
    from drivedreamer_env.eval.world_model_eval import evaluate_world_model

    # the checkpoint's recommended sampler (config.json) with what is given here
    sampler = {"steps": args.steps, "temperature": args.temperature, "guidance_scale": args.guidance,
               "decoding": args.decoding, "warp_remask": args.warp_remask}  # fmt: skip
    if args.data is not None:  # recorded clips (e.g. held-out nuScenes scenes) instead of the simulator
        from drivedreamer_env.eval.clip_eval import evaluate_clips

        result = evaluate_clips(
            args.checkpoint, args.data, args.out, args.context, args.horizon, args.max_windows, sampler, args.device
        )
    else:
        steps = tuple(int(n) for n in args.maskgit_steps.split(",")) if args.maskgit_steps else ()
        result = evaluate_world_model(args.checkpoint, args.episodes, args.out, sampler=sampler, device=args.device,
                                      long_horizon=args.long_horizon, maskgit_steps=steps)  # fmt: skip
    for key, value in result.items():
        if isinstance(value, float):
            print(f"{key:>32}: {value:.4f}")
    print(f"wrote {args.out}")
    return 0


def _add_tokenizer(ev: argparse._SubParsersAction) -> None:
    etok = ev.add_parser("tokenizer", help="PSNR, SSIM, code usage and speed on held-out frames")
    etok.add_argument("--checkpoint", required=True, help="checkpoint directory")
    etok.add_argument("--data", required=True, help="clip source of held-out frames")
    etok.add_argument("--out", required=True, help="result JSON (a side-by-side PNG is written next to it)")
    etok.add_argument("--max-frames", type=int, default=2000, help="frames to evaluate")
    etok.set_defaults(func=cmd_eval_tokenizer)


def _add_world_model(ev: argparse._SubParsersAction) -> None:
    from drivedreamer_env.cli.env_options import add_decoding_options

    ewm = ev.add_parser("world-model", help="fidelity, controllability and text control vs the simulator")
    ewm.add_argument("--checkpoint", default=None, help="checkpoint directory (default: the shipped model)")
    ewm.add_argument("--episodes", type=int, default=16, help="held-out simulator episodes")
    ewm.add_argument("--out", required=True, help="result JSON (contact sheets are written next to it)")
    ewm.add_argument("--steps", type=int, default=None, help="MaskGIT steps per frame (default: the checkpoint's, 8)")
    ewm.add_argument("--temperature", type=float, default=None, help="sampling temperature (default 1.0)")
    ewm.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (default 1.0)")
    add_decoding_options(ewm)
    ewm.add_argument("--long-horizon", type=int, default=40, help="frames of the long dreams (0: skip them)")
    ewm.add_argument("--maskgit-steps", default="", help="also tabulate quality at these step counts, e.g. 2,4,8")
    ewm.add_argument("--device", default="auto")
    ewm.add_argument("--data", default=None, help="evaluate open-loop on the clips of this source (e.g. nuscenes:DIR)")
    ewm.add_argument("--context", type=int, default=4, help="real frames given (with --data)")
    ewm.add_argument("--horizon", type=int, default=8, help="frames dreamed after them (with --data)")
    ewm.add_argument("--max-windows", type=int, default=64, help="windows evaluated (with --data)")
    ewm.set_defaults(func=cmd_eval_world_model)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``eval`` and its ``tokenizer``, ``world-model`` and ``policy`` sub-verbs."""
    from drivedreamer_env.cli import policy

    ev = sub.add_parser("eval", help="evaluate a model").add_subparsers(dest="what", required=True)
    _add_tokenizer(ev)
    _add_world_model(ev)
    policy.add_eval_parser(ev)
