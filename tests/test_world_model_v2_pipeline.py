"""World model v2 end to end at small scale: proposals in token shards, training windows, the checkpoint's camera,
warp-then-refine decoding in the env, and the new evaluation measures."""

from __future__ import annotations

import json
import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch

import drivedreamer_env  # noqa: F401  (registers the envs)
from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.tokens import TokenShardSource
from drivedreamer_env.eval.events import auroc
from drivedreamer_env.eval.frame_probes import estimate_yaw
from drivedreamer_env.eval.long_horizon import sharpness_ratio
from drivedreamer_env.eval.warp_baseline import simulator_camera, warp_last
from drivedreamer_env.models.checkpoint import CheckpointError
from drivedreamer_env.models.world_model import DEFAULT_CHECKPOINT, WorldModel
from drivedreamer_env.sim.config import SimConfig
from drivedreamer_env.sim.record import record_episodes, write_shards
from drivedreamer_env.sim.simulator import Simulator
from drivedreamer_env.sources.tokenize import clip_camera, tokenize_source
from drivedreamer_env.training.token_data import TokenWindows


@pytest.fixture(scope="module")
def token_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("v2")
    cfg = SimConfig(weather="clear")
    write_shards(record_episodes(cfg, [100_003, 100_004], 24), root / "sim", cfg)
    wm = WorldModel.load()
    tokenize_source(wm.tokenizer, f"sim:{root / 'sim'}", root / "tokens", str(DEFAULT_CHECKPOINT), proposals=True)
    return root / "tokens"


def test_token_shards_hold_proposals_and_the_camera(token_dir):
    source = TokenShardSource(token_dir)
    assert source.manifest["proposals"] is True
    assert source.manifest["camera"] == simulator_camera(Simulator()).to_dict()
    for clip in source:
        assert clip.proposal.shape == clip.tokens.shape and clip.proposal_trusted.dtype == bool
        assert not clip.proposal_trusted[0].any(), "frame 0 has no previous frame"
        trusted = clip.proposal_trusted[1:]
        assert trusted.mean() > 0.8  # driving forward, most of the view was in view a step before
        agree = (clip.proposal[1:] == clip.tokens[1:])[trusted].mean()
        assert agree > 0.15  # far above chance (1 / 1920): the proposal predicts the next frame's tokens


def test_a_clip_without_camera_needs_a_stated_one():
    clip = Clip(np.zeros((2, 64, 128, 3), np.uint8), np.array([0.0, 0.1]), np.zeros((2, 2), np.float32), "", {})
    with pytest.raises(ValueError, match=r"no camera in its meta.*--hfov"):
        clip_camera(clip, (64, 128))
    cam = simulator_camera(Simulator())
    assert clip_camera(clip, (64, 128), cam) is cam


def test_training_windows_carry_proposals_and_boost_event_windows(token_dir):
    clips = list(TokenShardSource(token_dir))
    cfg = WorldModel.load().stpt.cfg
    item = TokenWindows(clips, 8, cfg, samples=4, proposals=True)[0]
    assert item["proposal"].shape == item["tokens"].shape and item["proposal_trusted"].dtype == torch.bool
    clips[0].events = np.zeros_like(clips[0].events)
    clips[0].events[-1, 0] = 1.0  # one positive frame at the end of the first clip
    plain = TokenWindows(clips, 8, cfg, samples=400)
    boosted = TokenWindows(clips, 8, cfg, samples=400, event_boost=20.0)

    def share(ds: TokenWindows) -> float:
        return float(np.mean([ds[i]["events"].sum() > 0 for i in range(len(ds))]))

    assert share(boosted) > 2 * share(plain) > 0
    clips[1].proposal = None
    with pytest.raises(ValueError, match="--proposals"):
        TokenWindows(clips, 8, cfg, samples=4, proposals=True)


def test_checkpoint_camera_is_loaded_and_checked(tmp_path):
    wm = WorldModel.load()
    assert wm.camera == simulator_camera(Simulator())
    shipped = json.loads((DEFAULT_CHECKPOINT / "config.json").read_text())["sampler"]
    assert wm.sampler().decoding == shipped["decoding"] == "warp"  # what the shipped model was trained for
    assert (
        wm.sampler(decoding="plain", steps=None).decoding == "plain"
        and wm.sampler(steps=None).steps == shipped["steps"] == 1
    )
    bad = tmp_path / "ckpt"
    shutil.copytree(DEFAULT_CHECKPOINT, bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["camera"]["width"] = 64
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="camera is 64x64"):
        WorldModel.load(bad)


def test_warp_decoding_in_the_env_turns_with_the_steering():
    env = gym.make("WorldDreamerDrive-v0", sampling_steps=2, decoding="warp").unwrapped
    assert env.sampler.decoding == "warp"
    start, _ = env.reset(seed=100_005)
    heading = {}
    for name, steer in (("left", 0.5), ("right", -0.5)):
        branch = env.fork()
        frames = [start] + [branch.step(np.array([steer, -0.2], np.float32))[0] for _ in range(6)]
        heading[name] = float(estimate_yaw(np.stack(frames)).sum())
    assert heading["left"] > 0.05 > -0.05 > heading["right"], heading


def test_warp_of_the_last_frame_is_the_identity_standing_still():
    sim = Simulator()
    frame, _ = sim.reset(seed=1)
    out = warp_last(frame[None], np.zeros((1, 3, 2), np.float32), 0.1, simulator_camera(sim))
    assert out.shape == (1, 3, 64, 128, 3) and (out == frame).all()


def test_auroc_and_sharpness_measures():
    labels = np.array([0, 0, 0, 1, 1])
    assert auroc(np.array([0.1, 0.2, 0.3, 0.8, 0.9]), labels) == 1.0
    assert auroc(np.array([0.9, 0.8, 0.3, 0.2, 0.1]), labels) == 0.0
    assert auroc(np.array([0.5] * 5), labels) == 0.5
    assert auroc(np.zeros(3), np.zeros(3)) is None
    frame, _ = Simulator().reset(seed=2)
    import cv2

    blurred = cv2.GaussianBlur(frame, (5, 5), 1.5)
    assert sharpness_ratio(frame[None], frame[None]) == pytest.approx(1.0)
    assert sharpness_ratio(blurred[None], frame[None]) < 0.6


def test_warp_anchor_is_the_previous_frame_or_held_for_k_steps():
    from drivedreamer_env.models.dream import WarpAnchor, dream_step
    from drivedreamer_env.models.proposal import warp_proposal
    from drivedreamer_env.models.sampler import Rollout

    wm = WorldModel.load()
    frame, _ = Simulator().reset(seed=4)
    tokens = wm.encode(frame[None])[None]  # (1, 1, h, w)
    action = torch.tensor([[8.0, 0.3]])
    for every in (1, 3):
        r = Rollout(wm.stpt, wm.sampler(decoding="warp", steps=2, warp_anchor_every=every), batch=1)
        r.observe(tokens)
        anchor = WarpAnchor.at(wm.decode(tokens)[:, 0])
        first = anchor.frames.copy()
        held = []
        for _ in range(4):
            step = dream_step(r, wm, anchor, action, 0.1, [torch.Generator().manual_seed(0)])
            if every == 1:  # the proposal is the previous frame warped by this step's motion
                want = warp_proposal(wm.tokenizer, torch.from_numpy(anchor.frames), action, 0.1, wm.camera)
                assert torch.equal(step.proposal.tokens, want.tokens)
            anchor = step.anchor
            held.append(np.array_equal(anchor.frames, first))
        if every == 3:  # the first frame is held for two more steps, then the third dreamt frame takes over
            assert held == [True, True, False, False]
            assert anchor.age.tolist() == [1] and float(anchor.pose[2][0]) == pytest.approx(0.03, abs=1e-6)
