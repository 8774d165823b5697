"""World model v2 ablation: each lever at equal training steps, scored by the controllability figures.

Every row is one checkpoint (trained with ``configs/world_model/v2/<row>.yaml`` for the same number of steps from
the same start) under one decoding, evaluated by ``drivedreamer eval world-model`` on the same held-out seeds.
The result JSON holds, per row, the keys the issue names (action_nll_gap@4, yaw_sign_accuracy, psnr@8) and the
other controllability and fidelity figures, beside the warp-of-last-frame baseline.

Usage:
    python benchmarks/world_model_ablation.py --episodes 8 --out benchmarks/results/world_model_v2_ablation.json \\
        ROW=CHECKPOINT[:KEY=VALUE,...] ...
e.g. ``shipped=data/checkpoints/default:decoding=plain b=outputs/wm_v2/b_warp:decoding=warp,warp_remask=0.3``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

KEYS = (
    "action_nll_gap@4", "yaw_sign_accuracy", "heading_gain_left", "heading_gain_right", "psnr@1", "psnr@4", "psnr@8",
    "delta_psnr_actions@8", "warp_last_psnr@1", "warp_last_psnr@4", "warp_last_psnr@8",
    "warp_last_delta_psnr_actions@8", "warp_last_yaw_sign_accuracy", "t2v_style_accuracy", "event_auroc_off_road",
    "event_auroc_collision", "event_auroc_real_off_road", "event_auroc_real_collision", "psnr@16", "psnr@40",
    "ssim@40", "sharpness_ratio@40", "tokenizer_sharpness_ratio",
)  # fmt: skip


def parse_row(spec: str) -> tuple[str, str, dict]:
    """``ROW=CHECKPOINT[:KEY=VALUE,...]`` -> (row name, checkpoint, sampler overrides), e.g.
    ``b=outputs/wm_v2/b_warp:decoding=warp,warp_remask=0.3,refine=1``."""
    name, _, rest = spec.partition("=")
    ckpt, _, opts = rest.partition(":")
    types = {"decoding": str, "warp_remask": float, "refine": lambda v: v in ("1", "true"), "warp_anchor_every": int,
             "steps": int, "guidance_scale": float, "temperature": float}  # fmt: skip
    overrides = {}
    for item in filter(None, opts.split(",")):
        key, _, value = item.partition("=")
        if key not in types:
            raise SystemExit(f"unknown sampler key {key!r} in {spec!r}; known: {sorted(types)}")
        overrides[key] = types[key](value)
    return name, ckpt, overrides


def main() -> int:
    from drivedreamer_env.eval.world_model_eval import evaluate_world_model
    from drivedreamer_env.io_utils import write_json
    from drivedreamer_env.provenance import environment

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rows", nargs="+", help="ROW=CHECKPOINT[:KEY=VALUE,...] (sampler overrides)")
    ap.add_argument("--episodes", type=int, default=8)
    ap.add_argument("--long-horizon", type=int, default=0, help="frames of the long dreams (0: skip)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    for spec in args.rows:
        name, ckpt, overrides = parse_row(spec)
        t0 = time.perf_counter()
        detail = out.parent / f"{out.stem}_rows" / f"{name}.json"  # the row's full result and contact sheets
        detail.parent.mkdir(parents=True, exist_ok=True)
        full = evaluate_world_model(ckpt, args.episodes, detail, sampler=overrides, long_horizon=args.long_horizon)
        row = {"checkpoint": ckpt, "sampler": full["sampler"], **{k: full.get(k) for k in KEYS}}
        row["eval_seconds"] = round(time.perf_counter() - t0, 1)
        for sheet in detail.parent.glob(f"{name}*.png"):  # the rows keep their JSON; contact sheets are per run
            sheet.unlink()
        # rows measured before (or by another run meanwhile) are kept: read just before writing
        result = json.loads(out.read_text()) if out.is_file() else {"rows": {}}
        result["rows"][name] = row
        result.update(episodes=args.episodes, environment=environment("cpu"))
        write_json(out, result)
        print(name, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items() if k in KEYS[:8]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
