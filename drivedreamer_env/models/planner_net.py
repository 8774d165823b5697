"""A small image-based planning network: front-camera frame + ego speed, yaw rate and route command -> a
trajectory of 8 future ego-frame poses (NAVSIM's 4 s at 2 Hz), trained by behaviour cloning."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

COMMAND_NAMES = ("left", "straight", "right")


@dataclass
class PlannerNetConfig:
    """Architecture of :class:`PlannerNet`.

    Attributes:
        height, width: input frame size [px].
        channels: output channels of the stride-2 conv layers.
        hidden: width of the MLP head.
        poses: trajectory poses predicted.
        target_scale: ``[x m, y m, heading rad]`` each pose coordinate is divided by in the loss and output.
        speed_scale_mps: the speed input is divided by this [m/s].
    """

    height: int = 64
    width: int = 128
    channels: tuple[int, ...] = (16, 32, 48, 64)
    hidden: int = 128
    poses: int = 8
    target_scale: tuple[float, float, float] = (20.0, 2.0, 0.2)
    speed_scale_mps: float = 10.0


class PlannerNet(nn.Module):
    """Conv encoder (stride 2 per layer), global features concatenated with the ego state, MLP -> poses."""

    def __init__(self, cfg: PlannerNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers, c_in = [], 3
        for c in cfg.channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GroupNorm(4, c), nn.SiLU()]
            c_in = c
        self.encoder = nn.Sequential(*layers)
        h, w = cfg.height >> len(cfg.channels), cfg.width >> len(cfg.channels)
        # keep the layout of the grid: where a lane marking is in the image is what matters
        self.head = nn.Sequential(
            nn.Linear(c_in * h * w + 2 + len(COMMAND_NAMES), cfg.hidden),
            nn.SiLU(),
            nn.Linear(cfg.hidden, cfg.poses * 3),
        )
        self.register_buffer("scale", torch.tensor(cfg.target_scale, dtype=torch.float32), persistent=False)

    def forward(self, frames: torch.Tensor, ego: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
        """Normalised poses (B, poses, 3) (multiply by ``scale`` for metres / radians).

        Args:
            frames: (B, H, W, 3) uint8.
            ego: (B, 2) ``[speed m/s, yaw_rate rad/s]``.
            command: (B,) int64 index into :data:`COMMAND_NAMES`.
        """
        x = frames.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (B, 3, H, W)
        feats = self.encoder(x).flatten(1)  # (B, C * h * w)
        state = torch.stack([ego[:, 0] / self.cfg.speed_scale_mps, ego[:, 1]], dim=-1)
        onehot = nn.functional.one_hot(command, len(COMMAND_NAMES)).float()
        return self.head(torch.cat([feats, state, onehot], dim=-1)).view(-1, self.cfg.poses, 3)

    @torch.no_grad()
    def predict(self, frames: torch.Tensor, ego: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
        """Poses (B, poses, 3) in metres / radians."""
        return self.forward(frames, ego, command) * self.scale
