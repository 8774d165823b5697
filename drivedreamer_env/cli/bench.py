"""``drivedreamer bench``: measure world-model and simulator speed and write the results as JSON."""

from __future__ import annotations

import argparse


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure and write benchmark JSON."""
    import json

    from drivedreamer_env.io_utils import write_json
    from drivedreamer_env.provenance import environment

    result = {"environment": environment("cpu")}  # both benchmarks run on the CPU
    if args.only in (None, "world-model"):
        from drivedreamer_env.bench.world_model import run_world_model_benchmark

        wm = run_world_model_benchmark(args.checkpoint, steps=args.env_steps, threads=args.threads)
        result.update(wm)
        result["device"] = result["environment"]["device"]
        result["commit"] = result["environment"]["commit"]
    if args.only in (None, "sim"):
        from drivedreamer_env.bench.sim import run_sim_benchmark

        result["sim"] = run_sim_benchmark(seeds=args.seeds, steps=args.steps)
    print(json.dumps(result, indent=2))
    if args.out:
        write_json(args.out, result)
        print(f"wrote {args.out}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench``."""
    bench = sub.add_parser("bench", help="measure speed and write JSON")
    bench.add_argument("--only", choices=("world-model", "sim"), default=None, help="run one benchmark")
    bench.add_argument("--checkpoint", default=None, help="world-model directory (default: the shipped model)")
    bench.add_argument("--env-steps", type=int, default=60, help="timed single-env steps")
    bench.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    bench.add_argument("--out", default=None, help="result JSON path")
    bench.add_argument("--seeds", type=int, default=12, help="simulator episodes per measurement")
    bench.add_argument("--steps", type=int, default=200, help="simulator steps per episode")
    bench.set_defaults(func=cmd_bench)
