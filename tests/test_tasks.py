"""The five tasks: shapes, preserved pixels for inpainting, CLI outputs, checkpoint mismatch errors."""

import json

import numpy as np
import pytest
import torch

from drivedreamer_env.cli import main
from drivedreamer_env.models.checkpoint import CheckpointError, save_component
from drivedreamer_env.models.sampler import SamplerConfig
from drivedreamer_env.models.stpt import STPT, STPTConfig
from drivedreamer_env.models.text import TextEncoderConfig
from drivedreamer_env.models.tokenizer import TokenizerConfig, VisualTokenizer
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.tasks.generation import generate
from drivedreamer_env.tasks.names import TASKS
from drivedreamer_env.tasks.recipes import pixel_mask_to_tokens

TOK = TokenizerConfig(height=32, width=64, patch=2, stem_channels=8, channels=(16, 16), fsq_levels=(5, 5, 5))
WM = STPTConfig(
    codebook_size=125, grid_h=4, grid_w=8, dim=32, layers=1, heads=2, context_frames=4,
    text=TextEncoderConfig(vocab_size=64, max_words=8, dim=16, heads=2),
)  # fmt: skip


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("ckpt")
    save_component(d, "tokenizer", VisualTokenizer(TOK), TOK)
    save_component(d, "world_model", STPT(WM), WM)
    return d


@pytest.fixture(scope="module")
def wm(ckpt):
    return WorldModel.load(ckpt, device="cpu")


def test_every_task_returns_frames_of_the_right_shape(wm):
    video = np.random.default_rng(0).integers(0, 255, (4, 48, 96, 3), dtype=np.uint8)
    s = SamplerConfig(steps=2)
    for task in TASKS:
        out = generate(wm, task, video=video, text="night, dense fog", num_frames=4, context_frames=2,
                       actions=np.tile([[8.0, 0.2]], (4, 1)), mask=np.ones((32, 64), bool), sampler=s)  # fmt: skip
        assert out.shape == (4, 32, 64, 3) and out.dtype == np.uint8, task


def test_inpaint_keeps_pixels_outside_the_mask(wm):
    video = np.random.default_rng(1).integers(0, 255, (3, 32, 64, 3), dtype=np.uint8)
    mask = np.zeros((32, 64), bool)
    mask[8:24, 16:40] = True
    out = generate(wm, "inpaint", video=video, mask=mask, sampler=SamplerConfig(steps=2))
    np.testing.assert_array_equal(out[:, ~mask], video[:, ~mask])
    tm = pixel_mask_to_tokens(np.broadcast_to(mask, (3, 32, 64)), (4, 8))
    assert tm[:, 1:3, 2:5].all() and not tm[:, 0].any()


def test_generation_is_seeded(wm):
    a = generate(wm, "text-to-video", text="day", num_frames=2, sampler=SamplerConfig(steps=2), seed=3)
    b = generate(wm, "text-to-video", text="day", num_frames=2, sampler=SamplerConfig(steps=2), seed=3)
    np.testing.assert_array_equal(a, b)


def test_bad_inputs_are_rejected(wm):
    with pytest.raises(ValueError, match="unknown task"):
        generate(wm, "video-to-music")
    with pytest.raises(ValueError, match="needs an input image"):
        generate(wm, "image-to-video")
    with pytest.raises(ValueError, match=r"actions must be finite \(T, 2\)"):
        generate(wm, "action-to-video", video=np.zeros((32, 64, 3), np.uint8), actions=np.full((4, 2), np.nan))


def test_mismatched_world_model_checkpoint_is_a_clear_error(ckpt, tmp_path):
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["world_model"]["dim"] = 48
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("tokenizer.safetensors", "world_model.safetensors"):
        (bad / name).write_bytes((ckpt / name).read_bytes())
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"world_model\.safetensors does not match .*config\.json"):
        WorldModel.load(bad, device="cpu")


@pytest.mark.parametrize("task", TASKS)
def test_cli_generate_writes_video_and_sheet(ckpt, tmp_path, task):
    args = ["generate", task, "--seed", "3", "--frames", "3", "--steps", "2", "--checkpoint", str(ckpt)]
    if task == "action-to-video":
        args += ["--turn", "left"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    for ext in ("mp4", "gif", "png", "json"):
        assert (tmp_path / f"{task}.{ext}").stat().st_size > 0


def test_world_model_eval_writes_every_key(ckpt, tmp_path):
    out = tmp_path / "wm_eval.json"
    args = ["eval", "world-model", "--checkpoint", str(ckpt), "--episodes", "2", "--steps", "2", "--out", str(out)]
    assert main(args) == 0
    result = json.loads(out.read_text())
    for key in ("tokenizer_psnr", "psnr@1", "psnr@4", "psnr@8", "copy_last_psnr@8", "delta_psnr_actions@8",
                "yaw_sign_accuracy", "t2v_style_accuracy", "yaw_estimator_validation", "goals",
                *(f"action_nll_gap@{k}" for k in range(1, 5))):  # fmt: skip
        assert key in result, key
    # the probes are validated on ground truth: the simulator's own left/right branches turn the right way
    assert result["yaw_estimator_validation"]["gt_pair_sign_accuracy"] == 1.0
    assert result["t2v_style_classifier_validation_accuracy"] > 0.5
    assert out.with_suffix(".png").is_file() and (tmp_path / "wm_eval_t2v.png").is_file()


def test_action_nll_gap_is_zero_for_the_same_actions_and_not_for_others(wm):
    from drivedreamer_env.eval.world_model_eval import action_nll_gap

    c = wm.stpt.cfg
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, c.codebook_size, (3, 6, c.grid_h, c.grid_w), generator=g)
    actions = np.random.default_rng(0).normal(size=(3, 6, 2)).astype(np.float32)
    texts = ["day, clear"] * 3
    assert action_nll_gap(wm, tokens, actions, actions.copy(), texts, context=3, ahead=3) == [0.0, 0.0, 0.0]
    gap = action_nll_gap(wm, tokens, actions, actions[::-1].copy(), texts, context=3, ahead=3)
    assert len(gap) == 3 and any(abs(v) > 0 for v in gap)
