"""``drivedreamer train policy``: PPO over the frame, speed and yaw rate, in the dream or in the simulator.

The run directory ``OUT`` is a policy checkpoint (:mod:`drivedreamer_env.rl.checkpoint`) that grows as it trains:

* ``config.json``: ``train`` (the :class:`PolicyTrainConfig`) and ``policy`` (the :class:`PolicySpec`);
  ``policy.safetensors``; ``meta.json`` (env steps, episodes, wall-clock, the run's environment);
* ``train_state/``: policy, Adam state and counters (safetensors + JSON, never a pickle) every
  ``checkpoint_every`` env steps and at the end; running again with the same ``OUT`` resumes from it;
* ``episodes.csv`` (every finished training episode), ``learning_curve.png``, and SB3's logger output as
  ``logs/progress_<segment>.csv`` (one file per started or resumed segment).

A resumed segment seeds SB3 and the envs with ``seed + env steps done`` so that it does not replay the starts
of the first; a run is therefore reproducible for the same seed and the same resume points.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivedreamer_env.io_utils import write_json
from drivedreamer_env.models.checkpoint import CONFIG, FORMAT_VERSION, read_json
from drivedreamer_env.provenance import environment
from drivedreamer_env.rl.callbacks import RECENT_EPISODES, EpisodeLog, EpisodeRecord, PeriodicCheckpoint, ProgressBar
from drivedreamer_env.rl.checkpoint import POLICY, PolicySpec, save_policy
from drivedreamer_env.rl.config import POLICY_KEYS, PolicyTrainConfig
from drivedreamer_env.rl.curve import read_episodes, write_episodes, write_learning_curve
from drivedreamer_env.rl.sb3 import PPO, CallbackList, CSVOutputFormat, Logger
from drivedreamer_env.rl.worlds import make_world
from drivedreamer_env.training.state import (
    STATE_DIR,
    load_optimizer_states,
    load_training_state,
    save_training_state,
)

TRAIN = "train"  # the config.json section holding the training config
EPISODES_CSV = "episodes.csv"
CURVE_PNG = "learning_curve.png"
LOG_DIR = "logs"


@dataclass
class TrainSummary:
    """What a ``train policy`` call did.

    Attributes:
        out: the run directory.
        world: "dream" or "sim".
        env_steps: env steps trained in all, over every segment.
        resumed_from: env steps the run had when this call started (0 for a new run).
        episodes: finished training episodes in all.
        wall_s: training wall-clock in all [s].
        segment_env_steps_per_s: env steps per second of this call (None when it had nothing to do).
        mean_recent_return: mean return of the last 20 training episodes (None before the first).
    """

    out: str
    world: str
    env_steps: int
    resumed_from: int
    episodes: int
    wall_s: float
    segment_env_steps_per_s: float | None
    mean_recent_return: float | None


def _stored_run(out: Path, cfg: PolicyTrainConfig) -> dict[str, Any] | None:
    """The saved training state of ``out`` (None for a new run); a config that cannot resume it is an error."""
    config = _run_config(out)
    state_json = out / STATE_DIR / "state.json"
    if not state_json.is_file():
        return None
    stored = PolicyTrainConfig.from_dict(config.get(TRAIN, {}), where=f"{out / CONFIG}:{TRAIN}")
    conflicts = cfg.resume_conflicts(stored)
    if conflicts:
        detail = ", ".join(f"{k}={getattr(stored, k)!r} (now {getattr(cfg, k)!r})" for k in conflicts)
        raise ValueError(f"{out} holds a run with other settings, {detail}: resume it with them or use another --out")
    return read_json(state_json)


def _run_config(out: Path) -> dict[str, Any]:
    """``out``'s config.json (a new one when there is none); a directory of something else is an error."""
    path = out / CONFIG
    config = read_json(path) if path.is_file() else {"format_version": FORMAT_VERSION}
    other = sorted(set(config) - {"format_version", TRAIN, POLICY})
    if other:  # e.g. a world-model checkpoint given as --out by mistake: never write into it
        raise ValueError(f"{out} is not a policy run directory ({path} has {other}): give another --out")
    return config


def _write_train_config(out: Path, cfg: PolicyTrainConfig) -> None:
    config = _run_config(out)
    config[TRAIN] = cfg.to_dict()
    write_json(out / CONFIG, config)


def _mean_recent(records: list[EpisodeRecord], n: int = RECENT_EPISODES) -> float | None:
    return None if not records else round(sum(r.ret for r in records[-n:]) / len(records[-n:]), 4)


def train_policy(cfg: PolicyTrainConfig, out: str | Path, progress: bool = True) -> TrainSummary:
    """Train (or resume) a PPO policy in ``cfg.world`` for ``cfg.steps`` env steps, checkpointing into ``out``.

    Args:
        cfg: the run's settings; resuming may change only ``steps`` and ``checkpoint_every``.
        out: the run directory (see the module docstring); resumed when it holds a training state.
        progress: show a progress bar (on stderr).

    Returns:
        A :class:`TrainSummary`.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = _stored_run(out, cfg)
    done = 0 if state is None else int(state["step"])
    wall_before = 0.0 if state is None else float(state["wall_s"])
    segment = 0 if state is None else int(state["segments"])
    records = read_episodes(out / EPISODES_CSV, up_to_step=done) if state is not None else []
    _write_train_config(out, cfg)
    if done >= cfg.steps:
        return TrainSummary(str(out), cfg.world, done, done, len(records), wall_before, None, _mean_recent(records))

    env = make_world(cfg)
    model = PPO(
        "MultiInputPolicy", env, learning_rate=cfg.learning_rate, n_steps=cfg.n_steps, batch_size=cfg.batch_size,
        n_epochs=cfg.n_epochs, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, clip_range=cfg.clip_range,
        ent_coef=cfg.ent_coef, vf_coef=cfg.vf_coef, max_grad_norm=cfg.max_grad_norm, seed=cfg.seed + done,
        device=cfg.device, verbose=0,
    )  # fmt: skip
    if state is not None:
        load_training_state(out, model.policy)
        load_optimizer_states(out, [model.policy.optimizer])
        model.num_timesteps, model._n_updates = done, int(state["n_updates"])
    (out / LOG_DIR).mkdir(exist_ok=True)
    logger = Logger(str(out / LOG_DIR), [CSVOutputFormat(str(out / LOG_DIR / f"progress_{segment:03d}.csv"))])
    model.set_logger(logger)
    h, w = env.observation_space["image"].shape[:2]
    spec = PolicySpec(cfg.algo, h, w, POLICY_KEYS, cfg.world)
    t0 = time.perf_counter()

    def wall_clock() -> float:
        return wall_before + time.perf_counter() - t0

    def save() -> None:
        steps, wall = int(model.num_timesteps), round(wall_clock(), 2)
        meta = {"env_steps": steps, "episodes": len(records), "wall_s": wall, "world": cfg.world,
                "environment": environment(model.device)}  # fmt: skip
        save_policy(out, model.policy, spec, meta)
        save_training_state(out, model.policy, [model.policy.optimizer], steps,
                            {"n_updates": int(model._n_updates), "wall_s": wall, "segments": segment + 1})  # fmt: skip
        write_episodes(out / EPISODES_CSV, records)
        write_learning_curve(out / CURVE_PNG, records, f"PPO in the {cfg.world}: episode return", steps)

    callbacks = CallbackList([
        EpisodeLog(records, wall_clock),
        ProgressBar(cfg.steps, done, records, enabled=progress),
        PeriodicCheckpoint(cfg.checkpoint_every, save),
    ])  # fmt: skip
    try:
        model.learn(total_timesteps=cfg.steps - done, callback=callbacks, reset_num_timesteps=False)
        save()
    finally:
        env.close()
        logger.close()
    seconds = time.perf_counter() - t0
    return TrainSummary(str(out), cfg.world, int(model.num_timesteps), done, len(records), round(wall_clock(), 2),
                        round((model.num_timesteps - done) / seconds, 2), _mean_recent(records))  # fmt: skip
