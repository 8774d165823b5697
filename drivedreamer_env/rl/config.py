"""``PolicyTrainConfig``: everything ``drivedreamer train policy`` is built from (CleanRL-style: field docs = help).

The PPO defaults are rl-zoo's Atari settings (8 envs x 128 steps per rollout, 4 epochs of 256-sample minibatches,
learning rate 2.5e-4, clip 0.1, entropy 0.01), constant over the run so that a resumed run continues the same
schedule. The dream samples the checkpoint's MaskGIT steps per frame by default (1 for the shipped model: with
its warp decoding that loses 0.02 dB and no control against 8, README "Benchmarks", and is about 3x faster).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from drivedreamer_env.config import ConfigError, from_dict
from drivedreamer_env.envs.config import DREAM_REWARD

WORLDS = ("dream", "sim")
ALGOS = ("ppo",)
POLICY_KEYS = ("image", "speed", "yaw_rate")  # what the policy sees in either world: frame, speed, yaw rate
RESUMABLE_CHANGES = ("steps", "checkpoint_every")  # what may differ between a run and its resumption
# Held-out evaluation seeds start here: above every world seed the envs draw for training, [0, 2**31 - 1).
EVAL_SEED_BASE = 2**31


@dataclass
class PolicyTrainConfig:
    """Settings of one policy training run.

    Attributes:
        world: "dream" (``WorldDreamerDrive-v0``, batched through :class:`~drivedreamer_env.rl.vec_env.DreamVecEnv`)
            or "sim" (``ProcDrive-v0``, one env per sub-env in SB3's ``DummyVecEnv``).
        algo: the SB3 algorithm; "ppo".
        steps: env steps to train for, summed over the sub-envs (rounded up to whole rollouts).
        num_envs: sub-envs stepped together.
        seed: seeds the policy, SB3 and the envs (sub-env i gets seed + i).
        checkpoint: world-model directory (None = the shipped model); the sim renders at its resolution too.
        device: torch device of the policy and the dream ("auto", "cpu", "cuda").
        sampling_steps: MaskGIT steps per dreamt frame; None = the checkpoint's.
        max_episode_steps: truncation of an episode, in both worlds (400 = 40 s).
        dream_max_episode_steps: the dream's own truncation, DIAMOND's imagination horizon (PPO bootstraps the
            value of a truncated episode's last observation); 0 = ``max_episode_steps``. 20 (2 s): past about 1 s
            the dream shows the policy pictures the simulator would not (``benchmarks/rl_dream_agreement.py``), and
            of 1 / 2 / 4 / 8 / 40 s horizons (at the 4 m deviation limit) only 2 s transfers the same across seeds
            (ratio 0.65 / 0.64; 4 s: 0.79 / 0.16 / 0.26; ``benchmarks/results/rl_transfer_ablation.json``).
        start_offset_m, start_heading_rad: episodes (both worlds) start off their lane centre by U(-a, a) m and
            off the road heading by U(-b, b) rad, drawn from the scene seed (0 = centred, as evaluation starts).
        start_drive_s: the dream only: its episodes start after the simulator's lane keeper has driven the scene
            for U(0, start_drive_s) seconds (``DreamConfig.start_drive_s``), so that a short dream horizon still
            covers the whole drive, as starts cut from logged drives would; the policy acts in none of those steps.
            0 = every dream starts at a scene's first frame. The simulator's episodes drive the whole scene anyway.
        dream_max_deviation_m: the dream only: its episodes terminate (with the terminal penalty) when the ego is
            more than this many metres off its reference, the lane centre of a simulator start
            (``RewardConfig.max_deviation_m``; the env's own is 4 m, ``DREAM_REWARD``). 1 m: the simulator ends no
            episode for leaving the lane, but its oncoming traffic does, which the dream's collision head barely
            sees; with the env's 4 m a dream-trained policy drifts towards the centre line (``transfer_ratio``
            0.65 / 0.64 at 4 m, 0.98 / 0.83 / 0.74 at 1 m over training seeds, ``rl_transfer_ablation.json``).
        n_steps: steps per sub-env in a rollout (a rollout is n_steps x num_envs samples).
        batch_size: PPO minibatch size.
        n_epochs: passes over each rollout.
        learning_rate, gamma, gae_lambda, clip_range, ent_coef, vf_coef, max_grad_norm: PPO's, as SB3 names them.
        checkpoint_every: env steps between checkpoints (taken after the first update past each multiple).
    """

    world: str = "dream"
    algo: str = "ppo"
    steps: int = 50_000
    num_envs: int = 8
    seed: int = 0
    checkpoint: str | None = None
    device: str = "auto"
    sampling_steps: int | None = None
    max_episode_steps: int = 400
    dream_max_episode_steps: int = 20
    start_offset_m: float = 0.0
    start_heading_rad: float = 0.0
    start_drive_s: float = 0.0
    dream_max_deviation_m: float = 1.0
    n_steps: int = 128
    batch_size: int = 256
    n_epochs: int = 4
    learning_rate: float = 2.5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.1
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    checkpoint_every: int = 8192

    def __post_init__(self) -> None:
        if self.world not in WORLDS:
            raise ValueError(f"world must be one of {list(WORLDS)}, got {self.world!r}")
        if self.algo not in ALGOS:
            raise ValueError(f"algo must be one of {list(ALGOS)}, got {self.algo!r}")
        for name in ("steps", "num_envs", "sampling_steps", "max_episode_steps", "n_steps", "n_epochs",
                     "checkpoint_every"):  # fmt: skip
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.dream_max_episode_steps < 0:
            raise ValueError(
                f"dream_max_episode_steps must be >= 0 (0 = max_episode_steps), got {self.dream_max_episode_steps}"
            )
        if min(self.start_offset_m, self.start_heading_rad) < 0:
            raise ValueError(f"start_offset_m and start_heading_rad must be >= 0, got {self.start_offset_m}, "
                             f"{self.start_heading_rad}")  # fmt: skip
        if not self.start_drive_s >= 0:  # also NaN
            raise ValueError(f"start_drive_s must be a time >= 0 s, got {self.start_drive_s}")
        if not self.dream_max_deviation_m > 0:  # also NaN
            raise ValueError(f"dream_max_deviation_m must be a distance > 0 m, got {self.dream_max_deviation_m}")
        rollout = self.n_steps * self.num_envs
        if not 2 <= self.batch_size <= rollout:
            raise ValueError(f"batch_size must be in [2, n_steps * num_envs = {rollout}], got {self.batch_size}")
        if self.checkpoint is not None:
            self.checkpoint = str(self.checkpoint)

    @property
    def rollout_size(self) -> int:
        """Samples per PPO update: ``n_steps * num_envs``."""
        return self.n_steps * self.num_envs

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "<policy config>") -> PolicyTrainConfig:
        """Rebuild from :meth:`to_dict`; unknown keys are a :class:`~drivedreamer_env.config.ConfigError`.

        A run saved before ``dream_max_episode_steps`` existed dreamt whole ``max_episode_steps`` episodes, so it
        reads as 0 there (and resuming such a run with the 20-step default is refused as a changed setting); one
        saved before ``dream_max_deviation_m`` dreamt with the env's deviation limit, and reads as that.
        """
        data = {"dream_max_episode_steps": 0, "dream_max_deviation_m": DREAM_REWARD.max_deviation_m, **data}
        try:
            return from_dict(cls, data, where=where)
        except ConfigError:
            raise
        except ValueError as err:  # a value __post_init__ rejects
            raise ConfigError(f"{where}: {err}") from err

    def resume_conflicts(self, stored: PolicyTrainConfig) -> list[str]:
        """The settings in which this config differs from ``stored`` and a resumed run may not."""
        mine, theirs = self.to_dict(), stored.to_dict()
        return [k for k in mine if k not in RESUMABLE_CHANGES and mine[k] != theirs[k]]
