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
