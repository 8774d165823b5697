"""The one reward and termination definition (sim/rewards.py): signs of every term, termination, and the sign of
every term as ProcDrive-v0 applies it (raising a term's weight moves the step reward by exactly its measure)."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import drivedreamer_env  # noqa: F401  (registers the environments)
from drivedreamer_env.config import ConfigError
from drivedreamer_env.sim.config import SimConfig
from drivedreamer_env.sim.rewards import REWARD_TERMS, DrivingTask, RewardConfig, StepMeasures

# the sign each term's contribution must have for nonzero measures: progress rewards, everything else penalises
SIGNS = {"progress": 1.0, "deviation": -1.0, "heading": -1.0, "comfort": -1.0, "event": -1.0, "terminal": -1.0}


class _Task(DrivingTask):
    def __init__(self, cfg: RewardConfig) -> None:
        self.reward_config = cfg


def _measures(**kw) -> StepMeasures:
    base = {"progress_m": 0.8, "deviation_m": -0.4, "heading_error_rad": -0.05, "accel_lon_mps2": -2.0,
            "accel_lat_mps2": 0.7, "events": np.array([0.1, 0.2])}  # fmt: skip
    return StepMeasures(**{**base, **kw})


def test_each_term_has_its_sign_and_the_reward_is_their_sum():
    cfg = RewardConfig(comfort=0.002, event=1.0)
    task = _Task(cfg)
    m = _measures()
    terms = task._rewards(m, terminated=True)
    assert tuple(terms) == REWARD_TERMS
    for name, value in terms.items():
        assert np.sign(value) == SIGNS[name], name
    assert terms["progress"] == pytest.approx(0.1 * 0.8)
    assert terms["deviation"] == pytest.approx(-0.05 * 0.4)  # |offset|: left or right penalises the same
    assert terms["heading"] == pytest.approx(-0.1 * 0.05)
    assert terms["comfort"] == pytest.approx(-0.002 * (4.0 + 0.49))
    assert terms["event"] == pytest.approx(-0.3)
    assert terms["terminal"] == -5.0
    assert task._rewards(m, terminated=False)["terminal"] == 0.0
    assert task._reward(m, True) == pytest.approx(sum(terms.values()))
    written_out = 0.1 * 0.8 - 0.05 * 0.4 - 0.1 * 0.05 - 0.002 * (4.0 + 0.49) - 1.0 * (0.1 + 0.2) - 5.0
    assert task._reward(m, True) == written_out  # the same float as the formula, left to right


def test_termination_by_deviation_limit_and_by_events():
    m = _measures(deviation_m=-4.5, events=np.array([0.1, 0.2]))
    assert not _Task(RewardConfig())._is_terminated(m)  # ProcDrive: no deviation limit
    assert _Task(RewardConfig(max_deviation_m=4.0))._is_terminated(m)
    assert not _Task(RewardConfig(max_deviation_m=5.0))._is_terminated(m)
    assert _Task(RewardConfig())._is_terminated(_measures(events=np.array([0.0, 1.0])))  # a ground-truth collision
    assert not _Task(RewardConfig(event_threshold=0.9))._is_terminated(_measures(events=np.array([0.6, 0.0])))
    reward, terminated = _Task(RewardConfig())._score(_measures(events=np.array([1.0, 0.0])))
    assert terminated and reward < -4.0


def test_updated_rejects_unknown_weights_and_keeps_the_rest():
    cfg = RewardConfig().updated({"comfort": 1, "max_deviation_m": None})
    assert cfg == dataclasses.replace(RewardConfig(), comfort=1.0)
    with pytest.raises(ConfigError, match=r"unknown reward weight.*'progres'.*known.*'progress'"):
        RewardConfig().updated({"progres": 1.0})


def _procdrive_term_deltas(action, warmup: int, terminal_step: bool = False) -> tuple[dict, dict, dict]:
    """Per term: the change of one ProcDrive step's reward when that term's weight rises by 1, from one state.

    Returns (deltas, info before the step, info after it).
    """
    env = gym.make("ProcDrive-v0")
    _, info_before = env.reset(seed=2)
    sim = env.unwrapped.sim
    for _ in range(warmup):
        info_before = env.step(action)[-1]
    state, base = sim.get_state(), sim.cfg.reward
    result = sim.step(action)
    assert result.terminated == terminal_step
    deltas = {}
    for name in REWARD_TERMS:
        sim.set_state(state)
        sim.cfg.reward = base.updated({name: getattr(base, name) + 1.0})
        deltas[name] = sim.step(action).reward - result.reward
    sim.cfg.reward = base
    return deltas, info_before, result.info


def test_procdrive_reward_terms_have_their_signs():
    action = np.array([0.3, 0.5])  # steer left and speed up: every measure is nonzero
    deltas, before, after = _procdrive_term_deltas(action, warmup=3)
    accel_lon = (after["speed"] - before["speed"]) / SimConfig().dt_s
    accel_lat = after["speed"] * after["yaw_rate"]
    assert deltas["progress"] == pytest.approx(after["distance"] - before["distance"]) and deltas["progress"] > 0.5
    assert deltas["deviation"] == pytest.approx(-abs(after["lane_offset"])) and deltas["deviation"] < 0
    assert deltas["heading"] == pytest.approx(-abs(after["heading_error"])) and deltas["heading"] < 0
    assert deltas["comfort"] == pytest.approx(-(accel_lon**2 + accel_lat**2)) and deltas["comfort"] < -1.0
    assert deltas["event"] == 0.0 and deltas["terminal"] == 0.0  # no event, no termination on this step


def test_procdrive_termination_penalises_and_default_weights_are_unchanged():
    env = gym.make("ProcDrive-v0")
    env.reset(seed=2)
    steps = 0
    while not env.step([-1.0, 0.0])[2]:
        steps += 1
    deltas, _, after = _procdrive_term_deltas(np.array([-1.0, 0.0]), warmup=steps, terminal_step=True)
    assert after["off_road"]
    assert deltas["terminal"] == pytest.approx(-1.0)
    assert deltas["event"] == pytest.approx(-1.0)  # off-road is an event of probability 1
    assert SimConfig().reward == RewardConfig(progress=0.1, deviation=0.05, heading=0.1, comfort=0.0, event=0.0,
                                              terminal=5.0, max_deviation_m=None)  # fmt: skip
