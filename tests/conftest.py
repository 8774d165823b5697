import numpy as np
import pytest

from drivedreamer_env.sim import SimConfig


@pytest.fixture
def day_cfg() -> SimConfig:
    """A fixed, clear daytime style so pixel tests do not depend on the drawn weather."""
    return SimConfig(time_of_day="day", weather="clear", environment="rural", lanes_per_direction=2)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
