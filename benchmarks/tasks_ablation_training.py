"""Issue 16's training-side lever, side by side: the shipped model and its paired-style fine-tune.

Collects what the runs wrote (nothing is re-measured here): ``drivedreamer eval tasks`` of each checkpoint, their
``drivedreamer eval world-model`` on the same held-out episodes (fidelity, controllability and the text-to-video
check), and the fine-tune's training summary from its ``meta.json``.

Usage:
    python benchmarks/tasks_ablation_training.py --run "paired fine-tune=outputs/tasks_paired:tasks_paired" \\
        --out benchmarks/results/tasks_ablation_training.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from drivedreamer_env.io_utils import write_json
from drivedreamer_env.provenance import environment

RESULTS = Path("benchmarks/results")
TASK_KEYS = ("stylize_style_accuracy", "stylize_structure", "stylize_source_style_share", "inpaint_style_accuracy",
             "inpaint_seam_ratio", "inpaint_unmasked_exact", "stylize_classifier_validation_accuracy",
             "inpaint_classifier_validation_accuracy")  # fmt: skip
WM_KEYS = ("yaw_sign_accuracy", "psnr@1", "psnr@8", "delta_psnr_actions@8", "warp_last_psnr@8", "psnr@40",
           "heading_gain_left", "heading_gain_right", "event_auroc_off_road", "event_auroc_real_off_road",
           "t2v_style_accuracy", "t2v_style_classifier_validation_accuracy")  # fmt: skip
DATA_COMMANDS = (  # the fine-tunes' --data, made from the shipped checkpoint's tokenizer
    "drivedreamer data paired --checkpoint data/checkpoints/default --drives 50 --styles-per-drive 3 --frames 48 "
    "--proposals --out outputs/data/tokens_paired --threads 1  (seeds 50,000-50,049; 150 clips, 217 s)",
    "drivedreamer data sim --episodes 40 --steps 200 --seed-start 0 --out outputs/data/sim_replay  (6,370 frames)",
    "drivedreamer data tokenize --checkpoint data/checkpoints/default --data sim:outputs/data/sim_replay "
    "--out outputs/data/tokens_replay --proposals --threads 1",
)
GOALS = {"stylize_style_accuracy": ">= 0.8", "stylize_structure": ">= 0.5", "inpaint_style_accuracy": ">= 0.7",
         "inpaint_seam_ratio": "<= 1.5", "inpaint_unmasked_exact": "= 1.0", "t2v_style_accuracy": ">= 0.8"}  # fmt: skip


def _row(name: str, tasks: str, world_model: str, training: dict, t2v_check: str) -> dict:
    t = json.loads((RESULTS / tasks).read_text())
    w = json.loads((RESULTS / world_model).read_text())
    check = json.loads((RESULTS / t2v_check).read_text())
    return {
        "name": name,
        **{k: t.get(k) for k in TASK_KEYS},
        **{k: w.get(k) for k in WM_KEYS},
        "t2v_check": check["t2v_style_accuracy"],
        "t2v_check_results": str(RESULTS / t2v_check),
        "task_results": str(RESULTS / tasks),
        "world_model_results": str(RESULTS / world_model),
        "task_command": t.get("command"),
        "world_model_episodes": w.get("episodes"),
        **training,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", default=[], metavar="NAME=CHECKPOINT:STEM",
                   help="a fine-tune row: its checkpoint and the stem of its results (STEM.json, "
                        "STEM_world_model.json, STEM_t2v_check.json in benchmarks/results)")  # fmt: skip
    p.add_argument("--out", default=str(RESULTS / "tasks_ablation_training.json"))
    args = p.parse_args()
    shipped = {"steps": 0, "wall_time_s": 0.0, "training_command": "(the shipped data/checkpoints/default)"}
    rows = [_row("shipped", "tasks_tiny.json", "tasks_shipped_world_model.json", shipped, "tasks_t2v_check.json")]
    for spec in args.run:
        name, _, rest = spec.partition("=")
        checkpoint, _, stem = rest.partition(":")
        meta = json.loads((Path(checkpoint) / "meta.json").read_text())["world_model_training"]
        training = {"checkpoint": checkpoint, "steps": meta["steps"], "wall_time_s": meta["wall_time_s"],
                    "training_command": meta["command"], "data": meta["data"]}  # fmt: skip
        rows.append(_row(name, f"{stem}.json", f"{stem}_world_model.json", training, f"{stem}_t2v_check.json"))
    write_json(
        Path(args.out), {"rows": rows, "goals": GOALS, "data_commands": DATA_COMMANDS, "environment": environment()}
    )
    for r in rows:
        keys = (*TASK_KEYS[:6], *WM_KEYS[:5], "t2v_check")
        print(r["name"], {k: None if r[k] is None else round(r[k], 3) for k in keys})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
