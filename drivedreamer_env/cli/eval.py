"""``drivedreamer eval <tokenizer|world-model|tasks|planners>``: evaluate a checkpoint (or planners in closed loop) and
write the result JSON (+ images)."""

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
    etok.add_argument("--threads", type=int, default=None, help="torch CPU threads")
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
    ewm.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ewm.set_defaults(func=cmd_eval_world_model)


def cmd_eval_planners(args: argparse.Namespace) -> int:
    """Closed-loop planner evaluation in the dream, checked against the simulator (``drivedreamer_env.planning``)."""
    import shlex
    import sys
    import time

    import torch

    from drivedreamer_env.planning.evaluate import evaluate_planners
    from drivedreamer_env.planning.registry import parse_planners
    from drivedreamer_env.planning.report import markdown_table, write_results
    from drivedreamer_env.planning.starts import START_SEED0
    from drivedreamer_env.provenance import environment

    if args.threads:
        torch.set_num_threads(args.threads)
    worlds = [w.strip() for w in args.worlds.split(",") if w.strip()]
    dream = {k: v for k, v in {"checkpoint": args.checkpoint, "device": args.device,
             "sampling_steps": args.sampling_steps, "decoding": args.decoding,
             "warp_remask": args.warp_remask}.items() if v is not None}  # fmt: skip
    t0 = time.perf_counter()
    result = evaluate_planners(parse_planners(args.planners), starts=args.starts, steps=args.steps, worlds=worlds,
                               seed=args.seed, dream=dream, batch=args.batch)  # fmt: skip
    seconds = time.perf_counter() - t0
    settings = {"starts": args.starts, "steps": args.steps, "worlds": ",".join(worlds), "seed": args.seed,
                "start seeds": f"{START_SEED0}-{START_SEED0 + args.starts - 1}", **dream,
                "seconds": round(seconds, 1)}  # fmt: skip
    device = "cpu" if dream.get("device", "auto") == "auto" else dream["device"]
    run = {"command": " ".join(shlex.quote(a) for a in ["drivedreamer", *sys.argv[1:]]), "settings": settings,
           "environment": environment(device)}  # fmt: skip
    paths = write_results(result, args.out, run)
    print(markdown_table(result))
    print(f"{seconds:.0f} s; wrote " + ", ".join(str(p) for p in paths))
    return 0


def _add_planners(ev: argparse._SubParsersAction) -> None:
    from drivedreamer_env.cli.env_options import add_decoding_options

    ep = ev.add_parser(
        "planners", help="closed-loop planner scores in the dream and the simulator, and their agreement"
    )
    ep.add_argument("--planners", default="all",
                    help="all, or a comma list of baseline names, module:Class, checkpoint dirs, SB3 .zip")  # fmt: skip
    ep.add_argument("--starts", type=int, default=16, help="held-out simulator starts (seeds from 300,000)")
    ep.add_argument("--steps", type=int, default=100, help="steps per episode (10 Hz)")
    ep.add_argument("--worlds", default="dream,sim", help="dream, sim or both")
    ep.add_argument("--out", required=True, help="result JSON (.md, .png and _episodes.json are written next to it)")
    ep.add_argument("--seed", type=int, default=0, help="seeds the planners' randomness and the dream's sampler")
    ep.add_argument("--batch", type=int, default=64, help="dream rows stepped as one batch")
    ep.add_argument("--checkpoint", default=None, help="world-model directory (default: the shipped model)")
    ep.add_argument("--device", default=None, help="auto, cpu or cuda")
    ep.add_argument("--sampling-steps", type=int, default=None, help="MaskGIT steps per frame (default: checkpoint's)")
    add_decoding_options(ep)
    ep.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ep.set_defaults(func=cmd_eval_planners)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``eval`` and its ``tokenizer``, ``world-model``, ``tasks``, ``planners`` and ``policy`` sub-verbs."""
    from drivedreamer_env.cli import policy
    from drivedreamer_env.cli.eval_tasks import add_tasks

    ev = sub.add_parser("eval", help="evaluate a model").add_subparsers(dest="what", required=True)
    _add_tokenizer(ev)
    _add_world_model(ev)
    add_tasks(ev)
    _add_planners(ev)
    policy.add_eval_parser(ev)
