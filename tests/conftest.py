import numpy as np
import pytest
import torch

from drivedreamer_env.models.checkpoint import save_component
from drivedreamer_env.models.stpt import STPT, STPTConfig
from drivedreamer_env.models.text import TextEncoderConfig
from drivedreamer_env.models.tokenizer import TokenizerConfig, VisualTokenizer
from drivedreamer_env.sim import SimConfig

# a tiny random-initialised checkpoint (32 x 64 frames, a 4 x 8 token grid) for tests of the task plumbing
TINY_TOKENIZER = TokenizerConfig(height=32, width=64, patch=2, stem_channels=8, channels=(16, 16), fsq_levels=(5, 5, 5))
TINY_WORLD_MODEL = STPTConfig(
    codebook_size=125, grid_h=4, grid_w=8, dim=32, layers=1, heads=2, context_frames=4,
    text=TextEncoderConfig(vocab_size=64, max_words=8, dim=16, heads=2),
)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """The directory of a seeded tiny checkpoint (tokenizer + world model)."""
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("ckpt")
    save_component(d, "tokenizer", VisualTokenizer(TINY_TOKENIZER), TINY_TOKENIZER)
    save_component(d, "world_model", STPT(TINY_WORLD_MODEL), TINY_WORLD_MODEL)
    return d


@pytest.fixture
def day_cfg() -> SimConfig:
    """A fixed, clear daytime style so pixel tests do not depend on the drawn weather."""
    return SimConfig(time_of_day="day", weather="clear", environment="rural", lanes_per_direction=2)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
