"""RL (the rl extra): the SB3 VecEnv adapter over the native batched dream (check_env per sub-env, SB3's autoreset
against DummyVecEnv and the native env), PPO learning, seeding, checkpoints and resume, and policy evaluation.

The dream here is a tiny random-initialised world model at 48 x 96, so every test runs in seconds.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium.wrappers import FilterObservation
from safetensors.torch import load_file

import drivedreamer_env  # noqa: F401  (registers the environments)
from drivedreamer_env.cli import main
from drivedreamer_env.envs.config import DREAM_REWARD, DreamConfig
from drivedreamer_env.envs.world_dreamer import WorldDreamerDriveEnv, WorldDreamerDriveVectorEnv
from drivedreamer_env.models.checkpoint import CheckpointError, save_component
from drivedreamer_env.models.stpt import STPT, STPTConfig
from drivedreamer_env.models.text import TextEncoderConfig
from drivedreamer_env.models.tokenizer import TokenizerConfig, VisualTokenizer

sb3 = pytest.importorskip("stable_baselines3", reason="stable-baselines3 is in the rl and dev extras")
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.env_checker import check_env  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402
from stable_baselines3.common.vec_env.util import obs_space_info  # noqa: E402

from drivedreamer_env.rl.checkpoint import load_policy  # noqa: E402
from drivedreamer_env.rl.config import POLICY_KEYS, PolicyTrainConfig  # noqa: E402
from drivedreamer_env.rl.controllers import LaneKeeperController, RandomController  # noqa: E402
from drivedreamer_env.rl.evaluate import (  # noqa: E402
    COLLISION_KINDS,
    evaluate_controller,
    held_out_seeds,
    paired_margin,
)
from drivedreamer_env.rl.vec_env import DreamVecEnv  # noqa: E402
from drivedreamer_env.rl.worlds import dream_config, make_world  # noqa: E402

TOK = TokenizerConfig(height=48, width=96, patch=2, stem_channels=8, channels=(16, 16), fsq_levels=(5, 5, 5))
WM = STPTConfig(
    codebook_size=125, grid_h=6, grid_w=12, dim=32, layers=1, heads=2, context_frames=4, action_window=2,
    text=TextEncoderConfig(vocab_size=64, max_words=8, dim=16, heads=2),
)  # fmt: skip
KEYS = list(POLICY_KEYS)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    """A random-initialised world model at 48 x 96 (no camera: plain MaskGIT decoding)."""
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("tiny_world_model")
    save_component(d, "tokenizer", VisualTokenizer(TOK), TOK)
    save_component(d, "world_model", STPT(WM), WM)
    return str(d)


def dream(tiny: str, **kw) -> DreamConfig:
    return DreamConfig(**{"checkpoint": tiny, "device": "cpu", "sampling_steps": 2, "observation": "dict",
                          "max_episode_steps": 5, **kw})  # fmt: skip


def train_cfg(tiny: str, **kw) -> PolicyTrainConfig:
    base = {"checkpoint": tiny, "device": "cpu", "num_envs": 2, "n_steps": 32, "batch_size": 16, "n_epochs": 2}
    return PolicyTrainConfig(**{**base, **kw})


def test_the_adapter_passes_sb3_check_env_per_sub_env(tiny):
    venv = DreamVecEnv(2, config=dream(tiny), keys=POLICY_KEYS)
    assert list(venv.observation_space.spaces) == KEYS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SB3 recommends channel-first images; its policies transpose them
        for i in range(venv.num_envs):
            check_env(venv.sub_env(i))
    venv.close()


def _equal_obs(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[k], b[k]) for k in KEYS)


def test_autoreset_matches_dummy_vec_env_over_the_single_env(tiny):
    """With one sub-env the adapter is SB3's reference autoreset, bit for bit: obs, rewards, dones,
    terminal_observation and TimeLimit.truncated over several episodes."""
    cfg = dream(tiny)
    ours = DreamVecEnv(1, config=cfg, keys=POLICY_KEYS)
    reference = DummyVecEnv([lambda: FilterObservation(WorldDreamerDriveEnv(config=cfg), KEYS)])
    ours.seed(3)
    reference.seed(3)
    assert _equal_obs(ours.reset(), reference.reset())
    rng, ends = np.random.default_rng(0), 0
    for _ in range(12):
        action = rng.uniform(-1, 1, (1, 2)).astype(np.float32)
        o1, r1, d1, i1 = ours.step(action)
        o2, r2, d2, i2 = reference.step(action)
        assert _equal_obs(o1, o2) and np.array_equal(r1, r2) and np.array_equal(d1, d2)
        assert i1[0]["TimeLimit.truncated"] == i2[0]["TimeLimit.truncated"]
        if d1[0]:
            ends += 1
            assert _equal_obs(i1[0]["terminal_observation"], i2[0]["terminal_observation"])
            assert i1[0]["step"] == i2[0]["step"]
    assert ends >= 2


def test_autoreset_returns_the_right_terminal_observation_with_many_sub_envs(tiny):
    """Against the native env stepped without autoreset and reset by hand: the terminal observation is the
    episode's last frame, the returned observation the new episode's first, and SB3's util agrees on the layout."""
    cfg = dream(tiny)
    ours = DreamVecEnv(2, config=cfg, keys=POLICY_KEYS)
    native = WorldDreamerDriveVectorEnv(2, config=cfg, autoreset_mode="disabled")
    keys, shapes, dtypes = obs_space_info(ours.observation_space)
    ours.seed(4)
    obs = ours.reset()
    ref, _ = native.reset(seed=[4, 5])
    assert _equal_obs(obs, ref)
    rng, kinds = np.random.default_rng(1), set()
    for _ in range(20):
        action = rng.uniform(-1, 1, (2, 2)).astype(np.float32)
        obs, rewards, dones, infos = ours.step(action)
        ref, ref_rewards, terminated, truncated, ref_info = native.step(action)
        for k in keys:
            assert obs[k].shape == (2, *shapes[k]) and obs[k].dtype == dtypes[k]
        np.testing.assert_array_equal(rewards, ref_rewards.astype(np.float32))
        np.testing.assert_array_equal(dones, terminated | truncated)
        for i in np.flatnonzero(dones):
            kinds.add("truncated" if truncated[i] else "terminated")
            assert infos[i]["TimeLimit.truncated"] == bool(truncated[i])
            assert _equal_obs(infos[i]["terminal_observation"], {k: ref[k][i] for k in KEYS})
            assert infos[i]["step"] == ref_info["step"][i] and ours.reset_infos[i]["step"] == 0
        if dones.any():
            ref, _ = native.reset(options={"reset_mask": dones})
        assert _equal_obs(obs, ref)
        assert all("terminal_observation" not in infos[i] for i in np.flatnonzero(~dones))
    assert kinds == {"truncated", "terminated"}


class _Record(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.actions, self.rewards = [], []

    def _on_step(self) -> bool:
        self.actions.append(self.locals["actions"].copy())
        self.rewards.append(self.locals["rewards"].copy())
        return True


def _first_50(cfg: PolicyTrainConfig) -> tuple[np.ndarray, np.ndarray]:
    env = make_world(cfg)
    model = sb3.PPO("MultiInputPolicy", env, n_steps=25, batch_size=25, n_epochs=1, seed=cfg.seed, device="cpu")
    record = _Record()
    model.learn(50, callback=record)  # 25 steps x 2 sub-envs: the first 50 actions and rewards
    env.close()
    return np.concatenate(record.actions), np.concatenate(record.rewards)


@pytest.mark.parametrize("world", ["dream", "sim"])
def test_the_same_seed_gives_the_same_first_50_actions_and_rewards(tiny, world):
    a1, r1 = _first_50(train_cfg(tiny, world=world, seed=7))
    a2, r2 = _first_50(train_cfg(tiny, world=world, seed=7))
    a3, _ = _first_50(train_cfg(tiny, world=world, seed=8))
    assert a1.shape == (50, 2) and r1.shape == (50,)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(r1, r2)
    assert not np.array_equal(a1, a3)


def test_train_policy_learns_checkpoints_and_resumes(tiny, tmp_path, capsys):
    """A 256-step PPO learn through the CLI writes the policy, training state, logs and curve; running again with
    more steps resumes from it; other settings are refused."""
    out = tmp_path / "run"
    args = ["train", "policy", "--world", "dream", "--checkpoint", tiny, "--device", "cpu", "--num-envs", "2",
            "--n-steps", "32", "--batch-size", "16", "--n-epochs", "2", "--checkpoint-every", "128",
            "--no-progress", "--out", str(out)]  # fmt: skip
    assert main([*args, "--steps", "256"]) == 0
    assert "env_steps: 256" in capsys.readouterr().out
    state = json.loads((out / "train_state" / "state.json").read_text())
    assert state["step"] == 256 and state["n_updates"] == 4 * 2  # 4 rollouts of 64 samples, 2 epochs each
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["steps"] == 256 and config["policy"]["keys"] == KEYS
    assert (out / "learning_curve.png").stat().st_size > 0 and (out / "logs" / "progress_000.csv").is_file()
    episodes = (out / "episodes.csv").read_text().splitlines()
    assert episodes[0] == "step,ret,length,wall_s" and len(episodes) > 1
    policy, spec = load_policy(out)
    saved = load_file(str(out / "policy.safetensors"))
    trained = load_file(str(out / "train_state" / "model.safetensors"))
    assert saved.keys() == trained.keys() and all(torch.equal(saved[k], trained[k]) for k in saved)
    obs = {"image": np.zeros((3, 48, 96, 3), np.uint8), "speed": np.full((3, 1), 8.0, np.float32),
           "yaw_rate": np.zeros((3, 1), np.float32)}  # fmt: skip
    actions, _ = policy.predict(obs, deterministic=True)
    assert actions.shape == (3, 2) and np.all(np.abs(actions) <= 1.0) and (spec.height, spec.width) == (48, 96)

    assert main([*args, "--steps", "320"]) == 0
    printed = capsys.readouterr().out
    assert "resumed_from: 256" in printed and "env_steps: 320" in printed
    assert json.loads((out / "train_state" / "state.json").read_text())["segments"] == 2
    assert (out / "logs" / "progress_001.csv").is_file()
    assert main([*args, "--steps", "320", "--seed", "5"]) == 2  # another seed cannot resume this run
    assert "seed=0" in capsys.readouterr().err
    before = (Path(tiny) / "config.json").read_text()
    assert main([*args[:-1], tiny, "--steps", "64"]) == 2  # never writes into a world-model checkpoint
    assert "not a policy run directory" in capsys.readouterr().err
    assert (Path(tiny) / "config.json").read_text() == before


def test_a_policy_checkpoint_that_does_not_match_is_a_clear_error(tiny, tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint directory not found"):
        load_policy(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="has no 'policy' section"):
        load_policy(tiny)  # a world model, not a policy


def test_eval_references_in_the_sim_and_a_policy_in_both_worlds(tiny, tmp_path):
    seeds = held_out_seeds(2)
    lane = evaluate_controller(LaneKeeperController(), "sim", seeds, dream(tiny, max_episode_steps=60))
    rand = evaluate_controller(RandomController(0), "sim", seeds, dream(tiny, max_episode_steps=60))
    assert [e.seed for e in lane.episodes] == [2**31, 2**31 + 1]
    assert all(e.steps == 60 and not e.terminated for e in lane.episodes)  # it keeps its lane to the horizon
    assert lane.summary()["off_road_rate"] == 0.0 and lane.summary()["route_completion"] > 0.1
    assert lane.summary()["mean_abs_lane_offset_m"] < 0.3 < rand.summary()["mean_abs_lane_offset_m"]
    for run in (lane, rand):  # every sim collision is named, and only collisions are
        assert all((e.collision_with in COLLISION_KINDS) == e.collision for e in run.episodes)
        assert sum(run.summary()["collisions_with"].values()) == sum(e.collision for e in run.episodes)
    margin = paired_margin(lane, rand)
    assert margin["mean"] > 0 and margin["ci95"][0] <= margin["mean"] <= margin["ci95"][1]
    with pytest.raises(ValueError, match="true state"):
        evaluate_controller(LaneKeeperController(), "dream", seeds, dream(tiny))
    three = evaluate_controller(RandomController(0), "dream", held_out_seeds(3), dream(tiny, max_episode_steps=8),
                                num_envs=2)  # fmt: skip
    assert [e.seed for e in three.episodes] == held_out_seeds(3)  # in seed order, each run once
    assert all(1 <= e.steps <= 8 and np.isfinite(e.ret) for e in three.episodes)
    assert all(e.collision_with is None and 0 <= e.mean_abs_lane_offset_m < 5 for e in three.episodes)
    out = tmp_path / "run"
    assert main(["train", "policy", "--world", "sim", "--checkpoint", tiny, "--device", "cpu", "--num-envs", "2",
                 "--n-steps", "16", "--batch-size", "16", "--n-epochs", "1", "--steps", "32", "--no-progress",
                 "--out", str(out)]) == 0  # fmt: skip
    for world in ("sim", "dream"):
        result = tmp_path / f"{world}.json"
        assert main(["eval", "policy", "--policy", str(out), "--world", world, "--episodes", "2", "--checkpoint", tiny,
                     "--max-episode-steps", "20", "--num-envs", "2", "--out", str(result)]) == 0  # fmt: skip
        data = json.loads(result.read_text())
        assert data["world"] == world and len(data["per_episode"]) == 2 and data["environment"]["commit"]
        for key in ("mean_return", "route_completion", "off_road_rate", "collision_rate"):
            assert key in data
    assert main(["eval", "policy", "--policy", str(out), "--episodes", "1"]) == 2  # 48 x 96 policy, 64 x 128 model


def test_training_starts_off_the_lane_centre_and_the_dream_horizon_reach_both_worlds(tiny):
    """``start_offset_m`` / ``start_heading_rad`` start both worlds' episodes off the centre line, scored against
    the lane's centre; ``dream_max_episode_steps`` truncates the dream only, and PPO sees it as a time limit."""
    cfg = train_cfg(tiny, start_offset_m=0.8, start_heading_rad=0.15, dream_max_episode_steps=3)
    dream_env = make_world(train_cfg(tiny, **{**cfg.to_dict(), "world": "dream"}))
    sim_env = make_world(train_cfg(tiny, **{**cfg.to_dict(), "world": "sim"}))
    assert dream_env.venv.venv.config.max_episode_steps == 3 and dream_env.venv.venv.config.start_offset_m == 0.8
    dream_env.seed(3)
    dream_env.reset()
    sim_env.seed(3)
    sim_env.reset()
    offsets = [abs(dream_env.venv.venv.core.rows[i].lateral_m) for i in range(2)]
    offsets += [abs(e.unwrapped.sim.labels().lane_offset) for e in sim_env.venv.envs]
    assert max(offsets) > 0.05 and max(offsets) < 0.8 + 0.3
    age, truncations = np.zeros(2, int), 0
    for _ in range(9):
        _, _, done, infos = dream_env.step(np.zeros((2, 2), np.float32))
        age += 1
        for i in np.flatnonzero(done):
            if infos[i]["TimeLimit.truncated"]:  # (the random model's event heads may end an episode earlier)
                assert age[i] == 3
                truncations += 1
            assert age[i] <= 3
            age[i] = 0
    assert truncations > 0
    assert sim_env.venv.envs[0].spec.max_episode_steps == cfg.max_episode_steps  # the sim keeps its own horizon
    stored = {k: v for k, v in train_cfg(tiny).to_dict().items() if k != "dream_max_episode_steps"}
    old_run = PolicyTrainConfig.from_dict(stored)  # saved before the setting: it dreamt whole episodes
    assert old_run.dream_max_episode_steps == 0
    assert train_cfg(tiny).resume_conflicts(old_run) == ["dream_max_episode_steps"]
    with pytest.raises(ValueError, match="dream_max_episode_steps must be >= 0"):
        train_cfg(tiny, dream_max_episode_steps=-1)
    with pytest.raises(ValueError, match="start_offset_m and start_heading_rad must be >= 0"):
        DreamConfig(start_heading_rad=-0.1)
    assert dream_config(train_cfg(tiny, start_drive_s=12.0)).start_drive_s == 12.0  # the dream's starts only
    with pytest.raises(ValueError, match="start_drive_s must be a time >= 0 s"):
        train_cfg(tiny, start_drive_s=-1.0)


def test_the_dream_deviation_limit_ends_dream_episodes_off_the_lane_and_old_runs_keep_the_envs(tiny, tmp_path):
    """``dream_max_deviation_m`` is the dream's termination distance from the lane centre (1 m, the env's 4 m
    otherwise); a run saved before the setting existed reads as the env's, so resuming it under the new default
    is refused as a changed setting, and a limit <= 0 is refused."""
    assert dream_config(train_cfg(tiny)).reward == DREAM_REWARD.updated({"max_deviation_m": 1.0})  # the default
    torch.manual_seed(0)
    stpt = STPT(WM)
    with torch.no_grad():  # the random model's event heads would end the episode first: silence them
        stpt.event_head.weight.zero_()
        stpt.event_head.bias.fill_(-20.0)
    save_component(tmp_path, "tokenizer", VisualTokenizer(TOK), TOK)
    save_component(tmp_path, "world_model", stpt, WM)
    cfg = train_cfg(str(tmp_path), dream_max_deviation_m=0.3, dream_max_episode_steps=50, num_envs=1)
    reward = dream_config(cfg).reward
    assert reward.max_deviation_m == 0.3
    assert reward == DREAM_REWARD.updated({"max_deviation_m": 0.3})  # every other weight is the env's
    env = make_world(cfg)
    env.seed(1)
    env.reset()
    core = env.venv.venv.core
    for _ in range(50):  # full left lock leaves a 0.3 m band within a few steps
        _, rewards, done, infos = env.step(np.array([[1.0, 0.5]], np.float32))
        if done[0]:
            break
    info = infos[0]  # the episode's last info (the row has restarted on the centre line)
    assert done[0] and not info["TimeLimit.truncated"]
    assert abs(info["deviation"]) > 0.3 and max(info["events"].values()) < 1e-6
    assert rewards[0] < -DREAM_REWARD.terminal + 1.0  # the terminal penalty
    assert abs(core.rows[0].lateral_m) < 0.3
    env.close()
    stored = {k: v for k, v in train_cfg(tiny).to_dict().items() if k != "dream_max_deviation_m"}
    old_run = PolicyTrainConfig.from_dict(stored)
    assert old_run.dream_max_deviation_m == DREAM_REWARD.max_deviation_m  # it dreamt with the env's 4 m
    assert train_cfg(tiny).resume_conflicts(old_run) == ["dream_max_deviation_m"]
    assert train_cfg(tiny, dream_max_deviation_m=4.0).resume_conflicts(old_run) == []
    with pytest.raises(ValueError, match="dream_max_deviation_m must be a distance > 0 m"):
        train_cfg(tiny, dream_max_deviation_m=0.0)
