"""Visual tokenizer: camera frames <-> a grid of discrete tokens.

A convolutional encoder with residual blocks downsamples each frame by ``2 ** len(channels)`` (default 8:
64 x 128 -> 8 x 16), a finite scalar quantizer (FSQ, Mentzer et al. 2023, from ``vector-quantize-pytorch``)
turns every latent vector into one of ``prod(fsq_levels)`` codes, and a mirrored decoder maps codes back to
pixels. FSQ needs no codebook, commitment loss or restarts and does not collapse. Plain VQ is an option.

Frames are encoded independently, so an image and a video share one code path: ``(B, T, H, W, 3)`` uint8
in, ``(B, T, h, w)`` int64 tokens out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from einops import rearrange
from torch import nn


@dataclass
class TokenizerConfig:
    """Tokenizer hyper-parameters (serialised into the checkpoint's ``config.json``).

    Attributes:
        height, width: frame size [px]; both divisible by the downsampling factor.
        channels: feature channels after each downsampling stage; ``len(channels)`` halvings.
        patch: pixel-unshuffle factor of the stem (a patch x patch block of pixels becomes one position), so
            no convolution runs at full resolution; the decoder ends with the matching pixel shuffle.
        stem_channels: channels after the stem (at 1 / patch resolution).
        res_blocks: residual blocks per downsampled stage.
        stem_res_blocks: residual blocks at the stem's resolution (the most expensive ones).
        quantizer: ``"fsq"`` (default) or ``"vq"``.
        fsq_levels: FSQ levels per latent dimension; the codebook size is their product.
        vq_codebook_size, vq_dim: codebook for ``quantizer="vq"``.
    """

    height: int = 64
    width: int = 128
    patch: int = 2
    stem_channels: int = 64
    channels: tuple[int, ...] = (96, 128)
    res_blocks: int = 1
    stem_res_blocks: int = 1
    quantizer: str = "fsq"
    fsq_levels: tuple[int, ...] = (8, 5, 5, 5)
    vq_codebook_size: int = 1024
    vq_dim: int = 8
    extra: dict = field(default_factory=dict)  # free-form notes, ignored by the model

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)
        self.fsq_levels = tuple(self.fsq_levels)
        f = self.downsample
        if self.height % f or self.width % f:
            raise ValueError(f"frame size {self.height}x{self.width} must be divisible by the downsampling {f}")
        if self.quantizer not in ("fsq", "vq"):
            raise ValueError(f"quantizer must be 'fsq' or 'vq', got {self.quantizer!r}")

    @property
    def downsample(self) -> int:
        return self.patch * 2 ** len(self.channels)

    @property
    def grid(self) -> tuple[int, int]:
        """(h, w) of the token grid."""
        return self.height // self.downsample, self.width // self.downsample

    @property
    def codebook_size(self) -> int:
        return math.prod(self.fsq_levels) if self.quantizer == "fsq" else self.vq_codebook_size

    @property
    def latent_dim(self) -> int:
        return len(self.fsq_levels) if self.quantizer == "fsq" else self.vq_dim


@dataclass
class TokenizerEncoderOutput:
    z: torch.Tensor  # (B, T, D, h, w) continuous latents
    z_quantized: torch.Tensor  # (B, T, D, h, w) quantized latents (straight-through gradients)
    tokens: torch.Tensor  # (B, T, h, w) int64 code ids
    aux_loss: torch.Tensor  # scalar: VQ commitment loss, 0 for FSQ


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, c), c)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            _norm(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1),
            _norm(c_out), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, padding=1),
        )  # fmt: skip
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.block(x)


class Encoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        p = cfg.patch
        layers: list[nn.Module] = [nn.PixelUnshuffle(p), nn.Conv2d(3 * p * p, cfg.stem_channels, 3, padding=1)]
        c = cfg.stem_channels
        layers += [ResBlock(c, c) for _ in range(cfg.stem_res_blocks)]
        for c_next in cfg.channels:
            layers.append(nn.Conv2d(c, c_next, 4, stride=2, padding=1))  # learned downsampling
            layers += [ResBlock(c_next, c_next) for _ in range(cfg.res_blocks)]
            c = c_next
        layers += [_norm(c), nn.SiLU(), nn.Conv2d(c, cfg.latent_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) -> (N, D, h, w)
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        chans = list(reversed(cfg.channels))
        layers: list[nn.Module] = [nn.Conv2d(cfg.latent_dim, chans[0], 3, padding=1)]
        c = chans[0]
        for c_next in [*chans[1:], cfg.stem_channels]:
            layers += [ResBlock(c, c) for _ in range(cfg.res_blocks)]
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c_next, 3, padding=1)]
            c = c_next
        layers += [ResBlock(c, c) for _ in range(cfg.stem_res_blocks)]
        p = cfg.patch
        layers += [_norm(c), nn.SiLU(), nn.Conv2d(c, 3 * p * p, 3, padding=1), nn.PixelShuffle(p)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (N, D, h, w) -> (N, 3, H, W) in about [-1, 1]
        return self.net(z)


def frames_to_float(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    return frames.movedim(-1, -3).float() / 127.5 - 1.0


def float_to_frames(x: torch.Tensor) -> torch.Tensor:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3)."""
    return ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).movedim(-3, -1)


class VisualTokenizer(nn.Module):
    """Frames <-> tokens. ``encode`` / ``decode`` take and return uint8 frames; ``forward`` is for training."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        if cfg.quantizer == "fsq":
            from vector_quantize_pytorch import FSQ

            self.quantizer = FSQ(levels=list(cfg.fsq_levels))
        else:
            from vector_quantize_pytorch import VectorQuantize

            self.quantizer = VectorQuantize(
                dim=cfg.vq_dim, codebook_size=cfg.vq_codebook_size, accept_image_fmap=True,
                decay=0.99, commitment_weight=0.25, kmeans_init=True, threshold_ema_dead_code=2,
            )  # fmt: skip

    def _check_frames(self, frames: torch.Tensor) -> None:
        h, w = self.cfg.height, self.cfg.width
        if frames.ndim != 5 or tuple(frames.shape[2:]) != (h, w, 3):
            raise ValueError(f"frames must be (B, T, {h}, {w}, 3), got {tuple(frames.shape)}")

    def encode_float(self, x: torch.Tensor) -> TokenizerEncoderOutput:
        """x: (B, T, 3, H, W) float in [-1, 1]."""
        b = x.shape[0]
        z = self.encoder(rearrange(x, "b t c h w -> (b t) c h w"))
        if self.cfg.quantizer == "fsq":
            zq, idx = self.quantizer(z)
            aux = z.new_zeros(())
        else:
            zq, idx, aux = self.quantizer(z)
        unflat = "(b t) ... -> b t ..."
        return TokenizerEncoderOutput(
            rearrange(z, unflat, b=b), rearrange(zq, unflat, b=b), rearrange(idx.long(), unflat, b=b), aux
        )

    def decode_float(self, z_quantized: torch.Tensor) -> torch.Tensor:
        """(B, T, D, h, w) quantized latents -> (B, T, 3, H, W) float in about [-1, 1]."""
        b = z_quantized.shape[0]
        x = self.decoder(rearrange(z_quantized, "b t ... -> (b t) ..."))
        return rearrange(x, "(b t) ... -> b t ...", b=b)

    def tokens_to_latents(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T, h, w) int64 -> (B, T, D, h, w) quantized latents."""
        if tokens.min() < 0 or tokens.max() >= self.cfg.codebook_size:
            raise ValueError(
                f"token ids must be in [0, {self.cfg.codebook_size}), got [{tokens.min()}, {tokens.max()}]"
            )
        b = tokens.shape[0]
        flat = rearrange(tokens, "b t h w -> (b t) h w")
        if self.cfg.quantizer == "fsq":
            codes = self.quantizer.indices_to_codes(flat)
        else:
            codes = self.quantizer.get_output_from_indices(flat)  # (N, D, h, w) with accept_image_fmap
        return rearrange(codes, "(b t) ... -> b t ...", b=b)

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> TokenizerEncoderOutput:
        """uint8 frames (B, T, H, W, 3) -> latents and (B, T, h, w) int64 tokens."""
        self._check_frames(frames)
        return self.encode_float(frames_to_float(frames))

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T, h, w) int64 tokens -> uint8 frames (B, T, H, W, 3)."""
        return float_to_frames(self.decode_float(self.tokens_to_latents(tokens)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, TokenizerEncoderOutput]:
        """Training pass: (B, T, 3, H, W) float in [-1, 1] -> reconstruction and the encoder output."""
        enc = self.encode_float(x)
        return self.decode_float(enc.z_quantized), enc
