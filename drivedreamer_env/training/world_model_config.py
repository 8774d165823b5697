"""The configuration of a world-model training run (``configs/world_model/*.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from drivedreamer_env.models.masking import MaskConfig
from drivedreamer_env.models.stpt import STPTConfig


@dataclass
class WorldModelTrainConfig:
    """A world-model run (``configs/world_model/<size>.yaml``). Grid and codebook come from the token shards."""

    model: STPTConfig = field(default_factory=STPTConfig)
    masking: MaskConfig = field(default_factory=MaskConfig)
    frames: int = 8  # clip length per training sample
    # every k-th frame of the shards (all k phases), each frame's action the mean over the k steps it drives:
    # a longer frame interval, so one step's ego motion moves the image k times as far. The checkpoint records
    # its frame period (config.json ``frame_dt_s``); the evaluation and the env step at it. Proposals are
    # one-step warps, so k > 1 rules out warp masking, own-prediction context and the proposal input.
    frame_stride: int = 1
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 300
    max_steps: int = 20000
    max_minutes: float | None = None
    cond_dropout: float = 0.1  # per condition (text, actions), for classifier-free guidance
    event_weight: float = 0.2
    event_pos_weight: float = 1.0  # BCE weight of a positive event label (they are rare: terminal frames only)
    event_window_boost: float = 1.0  # sampling weight of windows that hold a positive event label, vs the others
    decoding: str = "plain"  # the sampler decoding the checkpoint recommends ("warp" after warp training)
    checkpoint_every: int = 500
    val_fraction: float = 0.05  # share of the windows held out for validation (every clip's tail)
    log_every: int = 50  # steps between loss-curve rows and, when stdout is not a terminal, progress lines
    seed: int = 0
    accelerator: str = "auto"
    devices: int = 1  # per node
    strategy: str = "auto"  # "ddp", "fsdp", ... (Lightning's)
    precision: str = "32-true"  # "bf16-mixed" on GPUs
    num_nodes: int = 1

    def __post_init__(self) -> None:
        if self.frame_stride < 1:
            raise ValueError(f"frame_stride must be >= 1, got {self.frame_stride}")
        if self.frame_stride > 1 and (
            self.masking.warp > 0 or self.masking.self_context > 0 or self.model.proposal_input
        ):
            raise ValueError(
                "frame_stride > 1 needs proposals at that stride, which token shards do not hold: set masking.warp "
                "and masking.self_context to 0 and model.proposal_input to false"
            )
