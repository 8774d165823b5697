"""The text-to-video check of a checkpoint, as ``benchmarks/results/tasks_t2v_check.json`` was made: the
text-to-video part of ``drivedreamer eval world-model`` (same seeds, 102,000+), on its own.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/tasks_t2v_check.py --checkpoint outputs/tasks_paired \\
        --out benchmarks/results/tasks_paired_t2v_check.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from drivedreamer_env.eval.text_control import evaluate_text_control
from drivedreamer_env.io_utils import write_json
from drivedreamer_env.models.sampler import SamplerConfig
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.provenance import environment
from drivedreamer_env.sim.config import CameraConfig


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None, help="checkpoint directory (default: the shipped one)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.set_num_threads(1)
    wm = WorldModel.load(args.checkpoint)
    text = evaluate_text_control(wm, CameraConfig(width=128, height=64), 102_000, SamplerConfig())
    command = (f"evaluate_text_control(WorldModel.load({args.checkpoint!r}), CameraConfig(width=128, height=64), "
               "seed0=102_000, SamplerConfig()) at OMP_NUM_THREADS=1, torch threads 1")  # fmt: skip
    write_json(Path(args.out), {**text.to_json(), "checkpoint": args.checkpoint or "default", "command": command,
                                "environment": environment()})  # fmt: skip
    print(text.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
