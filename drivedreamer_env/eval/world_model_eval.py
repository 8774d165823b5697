"""``drivedreamer eval world-model``: a world model against the simulator, and against plain geometry.

Everything is measured on simulator seeds held out from training (default 100000+); ground truth is the
simulator driven by the same actions. The parts, each with its own module and result dataclass:

* :mod:`~drivedreamer_env.eval.fidelity`: the shared open-loop metrics, the action NLL gap and the warp-of-last-
  frame baseline (:mod:`~drivedreamer_env.eval.warp_baseline`);
* :mod:`~drivedreamer_env.eval.controllability`: left / right branches from one start, the heading read off the
  frames (sign and gain);
* :mod:`~drivedreamer_env.eval.text_control`: text-to-video clips classified back to their style;
* :mod:`~drivedreamer_env.eval.long_horizon`: 40-frame dreams, their PSNR, SSIM and sharpness;
* :mod:`~drivedreamer_env.eval.events`: the event heads' AUROC on held-out episode ends.

:func:`evaluate_world_model` runs them all and writes the result JSON (keys in its docstring).
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from drivedreamer_env.eval.controllability import Controllability, evaluate_controllability
from drivedreamer_env.eval.events import evaluate_events
from drivedreamer_env.eval.fidelity import Fidelity, evaluate_fidelity, held_out_episodes
from drivedreamer_env.eval.frame_probes import STYLES
from drivedreamer_env.eval.long_horizon import LONG_HORIZON, evaluate_long_horizon
from drivedreamer_env.eval.open_loop import real_vs_dream_rows, resolve_sampler, sheet_picks
from drivedreamer_env.eval.text_control import TextControl, evaluate_text_control
from drivedreamer_env.eval.warp_baseline import model_camera
from drivedreamer_env.io_utils import write_json
from drivedreamer_env.media import contact_sheet, upscale, write_png
from drivedreamer_env.models.sampler import SamplerConfig
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.provenance import environment
from drivedreamer_env.sim.config import CameraConfig, SimConfig
from drivedreamer_env.sim.simulator import Simulator


def goals(result: dict[str, Any], horizon: int) -> dict[str, bool]:
    """Whether each target of the shipped model is met by ``result`` (a missing figure counts as missed)."""

    def at_least(key: str, floor: float) -> bool:
        return result.get(key) is not None and result[key] >= floor

    h = horizon
    out = {
        "psnr@1 >= tokenizer_psnr - 2": at_least("psnr@1", result["tokenizer_psnr"] - 2),
        f"psnr@{h} >= copy_last + 3": at_least(f"psnr@{h}", result[f"copy_last_psnr@{h}"] + 3),
        f"delta_psnr_actions@{h} >= 2": at_least(f"delta_psnr_actions@{h}", 2),
        "yaw_sign_accuracy >= 0.95": at_least("yaw_sign_accuracy", 0.95),
        "heading_gain_left and _right in [0.8, 1.25]": all(
            0.8 <= result.get(f"heading_gain_{k}", 0.0) <= 1.25 for k in ("left", "right")
        ),
        "t2v_style_accuracy >= 0.8": at_least("t2v_style_accuracy", 0.8),
    }
    for k in (1, 4, 8):
        if f"warp_last_psnr@{k}" in result:
            out[f"psnr@{k} >= warp_last_psnr@{k} + 1"] = at_least(f"psnr@{k}", result[f"warp_last_psnr@{k}"] + 1)
    if "tokenizer_sharpness_ratio" in result:
        floor = 0.9 * result["tokenizer_sharpness_ratio"]
        out["sharpness_ratio@40 >= 0.9 x tokenizer_sharpness_ratio"] = at_least("sharpness_ratio@40", floor)
    for name in ("off_road", "collision"):
        if f"event_auroc_{name}" in result:
            out[f"event_auroc_{name} >= 0.9"] = at_least(f"event_auroc_{name}", 0.9)
    return out


def steps_table(
    wm: WorldModel, clips: list, sim: Simulator, seeds: list[int], context: int, horizon: int,
    sampler: SamplerConfig, steps: tuple[int, ...],
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Quality against MaskGIT steps per frame: psnr@H, delta_psnr_actions@H and yaw_sign_accuracy per count."""
    table = {}
    for n in steps:
        s = replace(sampler, steps=n)
        fid = evaluate_fidelity(wm, clips, context, horizon, s, sim.cfg.dt_s, model_camera(wm, sim)).to_json()
        ctl = evaluate_controllability(wm, sim, seeds, context, horizon, s)
        table[str(n)] = {
            f"psnr@{horizon}": fid[f"psnr@{horizon}"],
            f"delta_psnr_actions@{horizon}": fid[f"delta_psnr_actions@{horizon}"],
            "yaw_sign_accuracy": ctl.yaw_sign_accuracy,
        }
    return table


def write_sheets(out: Path, fidelity: Fidelity, control: Controllability, text: TextControl, context: int) -> None:
    """Contact sheets next to ``out``: ground truth vs dream for a few episodes and the left branch (``.png``),
    and the text-to-video clip of every style (``_t2v.png``)."""
    names = [(f"gt {i}", f"dream {i}") for i in range(min(3, len(fidelity.gt)))]
    rows, labels = real_vs_dream_rows(fidelity.gt, fidelity.open_loop.dream, context, names)
    picks = sheet_picks(fidelity.open_loop.horizon)
    rows += [[control.context_frame] + [control.left_dream[k] for k in picks]]
    labels += ["left"]
    write_png(out.with_suffix(".png"), upscale(contact_sheet(rows, labels), 2))
    write_png(
        out.with_name(out.stem + "_t2v.png"), upscale(contact_sheet([list(c) for c in text.t2v], list(STYLES)), 2)
    )


def evaluate_world_model(
    checkpoint: str | Path | None,
    episodes: int,
    out: str | Path,
    sampler: SamplerConfig | dict | None = None,
    seed0: int = 100_000,
    context: int = 4,
    horizon: int = 8,
    device: str = "auto",
    long_horizon: int = LONG_HORIZON,
    maskgit_steps: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Fidelity, controllability, text control, long-horizon sharpness and event heads against the simulator.

    Args:
        checkpoint: world-model directory (None: the shipped default).
        episodes: held-out episodes for fidelity (seeds from ``seed0``) and starts for controllability (seeds
            from ``seed0 + 500``); text control uses seeds from ``seed0 + 2000``.
        out: result JSON; contact sheets are written next to it (``.png``, ``_t2v.png``).
        sampler: sampler settings, or a dict of overrides of the checkpoint's recommended ones (None: those).
        context: real frames given. horizon: frames dreamed after them.
        device: "auto", "cpu" or "cuda".
        long_horizon: frames of the long dreams (seeds from ``seed0 + 3000``; 0 skips them); the event heads are
            scored on episode ends from ``seed0 + 4000``.
        maskgit_steps: also tabulate quality against these MaskGIT step counts (``maskgit_steps`` key).

    Returns:
        The result written to ``out``: run settings (``checkpoint``, ``episodes``, ``context``, ``horizon``,
        ``sampler``, ``seeds``), :meth:`Fidelity.to_json`, :meth:`Controllability.to_json`,
        :meth:`TextControl.to_json` (the text-to-video task at its own 8 MaskGIT steps), ``goals`` and
        ``environment``.
    """
    wm = WorldModel.load(checkpoint, device=device)
    sampler = resolve_sampler(wm, sampler)
    h, w = wm.resolution
    cam = CameraConfig(width=w, height=h)
    # the simulator steps at the model's frame period (a model trained on every k-th frame dreams k steps ahead)
    sim = Simulator(SimConfig(camera=cam, dt_s=wm.frame_dt_s or SimConfig().dt_s))
    clips, last_seed = held_out_episodes(sim, episodes, context + horizon, seed0)
    fidelity = evaluate_fidelity(wm, clips, context, horizon, sampler, sim.cfg.dt_s, model_camera(wm, sim))
    control_seeds = [seed0 + 500 + i for i in range(episodes)]
    control = evaluate_controllability(wm, sim, control_seeds, context, horizon, sampler)
    # the text-to-video *task*, decoded as `drivedreamer generate text-to-video` does (joint MaskGIT at the task
    # steps), not at the env's per-frame setting
    task_sampler = SamplerConfig(temperature=sampler.temperature, guidance_scale=sampler.guidance_scale)
    text = evaluate_text_control(wm, cam, seed0 + 2000, task_sampler)
    result: dict[str, Any] = {"checkpoint": str(checkpoint or "default"), "episodes": episodes, "context": context,
                              "horizon": horizon, "sampler": asdict(sampler), "seeds": [seed0, last_seed]}  # fmt: skip
    result.update({**fidelity.to_json(), **control.to_json(), **text.to_json()})
    if long_horizon:
        long_clips, _ = held_out_episodes(sim, episodes, context + long_horizon, seed0 + 3000)
        result.update(evaluate_long_horizon(wm, long_clips, context, sampler, sim.cfg.dt_s, long_horizon).to_json())
    result.update(evaluate_events(wm, sim, seed0 + 4000, context, horizon, sampler, per_kind=episodes).to_json())
    if maskgit_steps:
        result["maskgit_steps"] = steps_table(wm, clips, sim, control_seeds, context, horizon, sampler, maskgit_steps)
    result["goals"] = goals(result, horizon)
    result["environment"] = environment(wm.device)
    out = Path(out)
    write_json(out, result)
    write_sheets(out, fidelity, control, text, context)
    return result
