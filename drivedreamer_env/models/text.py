"""Text encoders for captions. The default is small and trained with the world model; others plug in.

The default tokenizes words by a fixed hash (CRC32) into ``vocab_size`` buckets, so it needs no vocabulary
file and treats unseen words consistently. An optional frozen sentence-embedding encoder lives in
``sentence_text.py`` (lazy, local files only).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import torch
from torch import nn

_WORD = re.compile(r"[a-z0-9]+")


@dataclass
class TextEncoderConfig:
    vocab_size: int = 1024  # hash buckets; id 0 is padding
    max_words: int = 16
    dim: int = 128
    layers: int = 1
    heads: int = 4


def hash_words(texts: list[str], vocab_size: int, max_words: int) -> torch.Tensor:
    """(B, max_words) int64 word ids in [1, vocab_size); 0 pads. Lower-cased alphanumeric words."""
    out = torch.zeros(len(texts), max_words, dtype=torch.long)
    for i, text in enumerate(texts):
        words = _WORD.findall(text.lower())[:max_words]
        for j, word in enumerate(words):
            out[i, j] = 1 + zlib.crc32(word.encode()) % (vocab_size - 1)
    return out


class HashedTextEncoder(nn.Module):
    """Word-hash embeddings + a small transformer encoder -> (B, L, dim) tokens and a (B, L) validity mask."""

    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.dim, padding_idx=0)
        self.pos = nn.Parameter(torch.zeros(cfg.max_words, cfg.dim))
        layer = nn.TransformerEncoderLayer(
            cfg.dim, cfg.heads, 4 * cfg.dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        nn.init.normal_(self.pos, std=0.02)

    @property
    def dim(self) -> int:
        return self.cfg.dim

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        return hash_words(texts, self.cfg.vocab_size, self.cfg.max_words)

    def forward(self, word_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) word ids -> tokens (B, L, dim), mask (B, L) True where a word is present."""
        mask = word_ids > 0
        x = self.embed(word_ids) + self.pos[: word_ids.shape[1]]
        # every row keeps at least one key so attention never sees an all-masked row
        pad = ~mask
        pad[:, 0] = False
        return self.encoder(x, src_key_padding_mask=pad), mask
