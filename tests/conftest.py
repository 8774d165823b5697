import numpy as np
import pytest
import torch
from tiny_configs import TINY_TOKENIZER, TINY_WORLD_MODEL

from drivedreamer_env.models.checkpoint import save_component
from drivedreamer_env.models.stpt import STPT
from drivedreamer_env.models.tokenizer import VisualTokenizer
from drivedreamer_env.sim import SimConfig


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
