"""Sampling-side levers of stylize and inpaint (no training), each scored by ``drivedreamer eval tasks``' metrics.

Every row is one setting of :class:`~drivedreamer_env.tasks.style_sampling.StylizeConfig` or
:class:`~drivedreamer_env.tasks.style_sampling.InpaintConfig`, run on the same held-out drives (same source and
target styles, same seeds) with the same fitted classifiers. Only the task a row changes is run.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/tasks_ablation.py --task stylize \\
        --out benchmarks/results/tasks_ablation_stylize.json \\
        base: ratio0.8:ratio=0.8 guided4:text_guidance=4 rounds3:rounds=3 structure:schedule=structure ...
A row is ``NAME:KEY=VALUE,...`` (no keys: the defaults).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

import torch

from drivedreamer_env.cli.eval_tasks import task_callables
from drivedreamer_env.eval.task_eval import evaluate_tasks, fit_judges
from drivedreamer_env.io_utils import write_json
from drivedreamer_env.models.sampler import SamplerConfig
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.provenance import environment
from drivedreamer_env.sim.config import CameraConfig
from drivedreamer_env.tasks.options import InpaintConfig, StylizeConfig

KEYS = {
    "stylize": ("stylize_style_accuracy", "stylize_structure", "stylize_source_style_share"),
    "inpaint": ("inpaint_style_accuracy", "inpaint_seam_ratio", "inpaint_unmasked_exact"),
}


def parse_row(spec: str, cls: type) -> tuple[str, object, SamplerConfig]:
    """``NAME:KEY=VALUE,...`` -> (NAME, cls(**values), the sampler), values typed after the dataclasses' defaults;
    ``temperature`` and ``steps`` set the MaskGIT sampler (default :class:`SamplerConfig`, as ``generate``)."""
    name, _, rest = spec.partition(":")
    types = {f.name: type(f.default) for f in fields(cls)}
    sampler_types = {"temperature": float, "steps": int}
    kw, skw = {}, {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key in sampler_types:
            skw[key] = sampler_types[key](value)
        elif key in types:
            kw[key] = value in ("1", "true", "True") if types[key] is bool else types[key](value)
        else:
            raise SystemExit(f"row {spec!r}: unknown key {key!r}; expected one of {sorted(types | sampler_types)}")
    return name, cls(**kw), SamplerConfig(**skw)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=("stylize", "inpaint"), required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--scenes-per-style", type=int, default=4)
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("rows", nargs="+", help="NAME:KEY=VALUE,...")
    args = p.parse_args()
    torch.set_num_threads(1)
    cls = StylizeConfig if args.task == "stylize" else InpaintConfig
    rows = [parse_row(r, cls) for r in args.rows]
    wm = WorldModel.load(None, device="cpu")
    h, w = wm.resolution
    cam = CameraConfig(width=w, height=h)
    judges = fit_judges(cam)
    result: dict = {"task": args.task, "scenes_per_style": args.scenes_per_style, "frames": args.frames, "rows": {}}
    for name, cfg, sampler in rows:
        t0 = time.perf_counter()
        kw = {"stylize": cfg} if args.task == "stylize" else {"inpaint": cfg}
        stylize, inpaint = task_callables(wm, sampler, args.frames, **{"stylize": StylizeConfig(),
                                                                        "inpaint": InpaintConfig(), **kw})  # fmt: skip
        scores = evaluate_tasks(cam, stylize if args.task == "stylize" else None,
                                inpaint if args.task == "inpaint" else None, args.scenes_per_style, args.frames,
                                judges=judges).to_json()  # fmt: skip
        row = {k: scores[k] for k in KEYS[args.task]}
        row.update(
            config=asdict(cfg),
            temperature=sampler.temperature,
            steps=sampler.steps,
            seconds=round(time.perf_counter() - t0, 1),
        )
        result["rows"][name] = row
        print(name, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    result["references"] = {k: v for k, v in scores.items() if k.endswith(("_gt", "_validation_accuracy"))}
    result["command"] = " ".join(shlex.quote(a) for a in ["python", *sys.argv])
    result["environment"] = environment("cpu")
    write_json(Path(args.out), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
