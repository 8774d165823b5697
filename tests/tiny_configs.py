"""Tiny model configs shared by the tests (32 x 64 frames, a 4 x 8 token grid): fast, random-initialised."""

from drivedreamer_env.models.stpt import STPTConfig
from drivedreamer_env.models.text import TextEncoderConfig
from drivedreamer_env.models.tokenizer import TokenizerConfig

TINY_TOKENIZER = TokenizerConfig(height=32, width=64, patch=2, stem_channels=8, channels=(16, 16), fsq_levels=(5, 5, 5))
TINY_WORLD_MODEL = STPTConfig(
    codebook_size=125, grid_h=4, grid_w=8, dim=32, layers=1, heads=2, context_frames=4,
    text=TextEncoderConfig(vocab_size=64, max_words=8, dim=16, heads=2),
)  # fmt: skip
# `train world-model --config` YAML of a tiny run; MAX is replaced by the run's max_steps
TINY_WM_TRAIN_YAML = """model:
  dim: 32
  layers: 1
  heads: 2
  context_frames: 4
  text: {vocab_size: 64, max_words: 8, dim: 16, layers: 1, heads: 2}
frames: 4
batch_size: 2
warmup_steps: 1
max_steps: MAX
checkpoint_every: 2
"""
