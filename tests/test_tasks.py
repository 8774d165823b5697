"""The five tasks: shapes, preserved pixels and context frames, CLI outputs and inputs, checkpoint mismatch errors."""

import json

import cv2
import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from drivedreamer_env.cli import main
from drivedreamer_env.cli.counterfactual import BRANCH_STEER_NORMALIZED
from drivedreamer_env.cli.generate import TURN_YAW_RATE_RADPS, parse_mask, preset_actions
from drivedreamer_env.eval.controllability import TURN_STEER_NORMALIZED
from drivedreamer_env.models.checkpoint import CheckpointError, save_component
from drivedreamer_env.models.sampler import SamplerConfig
from drivedreamer_env.models.tokenizer import TokenizerConfig
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.sim.ego import integrate_pose
from drivedreamer_env.tasks.generation import generate
from drivedreamer_env.tasks.names import TASKS
from drivedreamer_env.tasks.recipes import RECIPES, pixel_mask_to_tokens
from drivedreamer_env.units import VehicleGeometry, normalized_to_physical, steering_to_yaw_rate


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint):
    return tiny_checkpoint


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


def test_every_name_has_a_recipe():
    assert tuple(RECIPES) == TASKS


@pytest.mark.parametrize(("task", "given"), [("action-to-video", 2), ("image-to-video", 1)])
def test_causal_tasks_keep_their_given_frames(wm, task, given):
    """The given frames come back as the tokenizer reconstructs them; only the frames after them are dreamt."""
    video = np.random.default_rng(2).integers(0, 255, (4, 32, 64, 3), dtype=np.uint8)
    out = generate(wm, task, video=video, num_frames=4, context_frames=2,
                   actions=np.tile([[8.0, 0.2]], (4, 1)), sampler=SamplerConfig(steps=2))  # fmt: skip
    reconstruction = wm.decode(wm.encode(video))
    np.testing.assert_array_equal(out[:given], reconstruction[:given])
    assert not np.array_equal(out[given:], reconstruction[given:])


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


def test_a_shared_submodule_is_saved_once_and_loads_into_every_alias(tmp_path):
    """Modules that register one submodule twice (an actor and a critic sharing a feature extractor) save."""
    from torch import nn

    from drivedreamer_env.models.checkpoint import load_state_strict, unique_state

    def build() -> nn.Module:
        m = nn.Module()
        m.shared = nn.Linear(3, 2)
        m.alias = m.shared
        m.own = nn.Linear(2, 1)
        return m

    torch.manual_seed(0)
    src = build()
    assert sorted(unique_state(src)) == ["own.bias", "own.weight", "shared.bias", "shared.weight"]
    save_component(tmp_path, "net", src, TokenizerConfig())  # any dataclass config
    dst = build()
    load_state_strict(dst, tmp_path / "net.safetensors", tmp_path / "config.json")
    assert dst.alias is dst.shared and torch.equal(dst.alias.weight, src.shared.weight)
    assert torch.equal(dst.own.weight, src.own.weight)


def _cells(sheet: np.ndarray, row: int, frames: int, hw: tuple[int, int], label_w: int, up: int = 2) -> np.ndarray:
    """The (frames, h, w, 3) tiles of one row of an upscaled :func:`contact_sheet` (gap 2)."""
    h, w = hw
    y = (2 + row * (h + 2)) * up
    xs = [(label_w + 2 + j * (w + 2)) * up for j in range(frames)]
    return np.stack([sheet[y : y + h * up : up, x : x + w * up : up] for x in xs])


@pytest.mark.parametrize("task", TASKS)
def test_cli_generate_writes_video_and_sheet(ckpt, tmp_path, task):
    args = ["generate", task, "--seed", "3", "--frames", "3", "--steps", "2", "--checkpoint", str(ckpt)]
    if task == "action-to-video":
        args += ["--turn", "left"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    info = json.loads((tmp_path / f"{task}.json").read_text())
    assert set(info) == {"task", "text", "frames", "checkpoint", "input", "given_frames", "kept_frames",
                         "generated_frames", "generated_token_share", "input_reconstruction_psnr_db",
                         "input_reconstruction_psnr_db_per_frame", "sampler", "sample_seed"}  # fmt: skip
    assert info["task"] == task and info["frames"] == 3 and info["checkpoint"] == str(ckpt)
    assert info["input"] == "seed:3" and info["sample_seed"] == 0
    assert info["sampler"]["steps"] == 2 and info["sampler"]["guidance_scale"] == 1.0
    assert isinstance(info["text"], str) and info["text"]  # the simulator scene's caption
    # given: image-to-video its first frame, action-to-video its --context 2, inpaint / stylize every frame
    given_n = {"image-to-video": 1, "action-to-video": 2, "text-to-video": 0, "inpaint": 3, "stylize": 3}[task]
    kept_n = given_n if task in ("image-to-video", "action-to-video") else 0
    assert (info["given_frames"], info["kept_frames"], info["generated_frames"]) == (given_n, kept_n, 3 - kept_n)
    assert 0.0 < info["generated_token_share"] <= 1.0
    assert len(info["input_reconstruction_psnr_db_per_frame"]) == given_n
    # the sheet (lossless, upscaled 2x): the given frames, their reconstruction, the output; 32 x 64 frames
    sheet = cv2.imread(str(tmp_path / f"{task}.png"))[..., ::-1]
    rows = 3 if given_n else 1
    label_w = 8 * len("reconstruction" if given_n else "generated") + 8
    assert sheet.shape == (2 * (rows * (32 + 2) + 2), 2 * (label_w + 3 * (64 + 2) + 2), 3)
    generated = _cells(sheet, rows - 1, 3, (32, 64), label_w)
    assert generated.std() > 0
    if not given_n:
        assert info["input_reconstruction_psnr_db"] is None
    else:
        given, recon = (_cells(sheet, r, given_n, (32, 64), label_w) for r in (0, 1))
        assert given.std() > 0
        # the JSON's PSNR is that of the reconstruction row against the input row
        mse = ((given.astype(float) - recon.astype(float)) ** 2).reshape(given_n, -1).mean(axis=1)
        np.testing.assert_allclose(10 * np.log10(255.0**2 / mse), info["input_reconstruction_psnr_db_per_frame"],
                                   atol=2e-3)  # fmt: skip
        assert info["input_reconstruction_psnr_db"] == pytest.approx(np.mean(10 * np.log10(255.0**2 / mse)), abs=2e-3)
        if kept_n:  # the kept frames are output as their reconstruction
            assert np.abs(generated[:kept_n].astype(int) - recon[:kept_n].astype(int)).max() <= 1
    if task == "inpaint":  # the default box:0.3,0.4,0.7,1.0; outside it the input pixels are kept exactly
        keep = ~parse_mask("box:0.3,0.4,0.7,1.0", (32, 64))
        np.testing.assert_array_equal(generated[:, keep], given[:, keep])
    # the videos show the generated frames: MP4 upscaled 3x, GIF 2x, both lossy, so compared on average at the
    # centre of each upscaled pixel (about 2 grey levels for H.264, 8 for the GIF palette; 30 for another frame)
    mp4 = np.stack(imageio.mimread(tmp_path / f"{task}.mp4"))
    gif = np.stack(imageio.mimread(tmp_path / f"{task}.gif"))[..., :3]
    assert mp4.shape == (3, 96, 192, 3) and gif.shape == (3, 64, 128, 3)
    for video, up, tolerance in ((mp4, 3, 6.0), (gif, 2, 12.0)):
        err = np.abs(video[:, up // 2 :: up, up // 2 :: up].astype(float) - generated).mean()
        assert err < tolerance, (task, up, err)


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
    from drivedreamer_env.eval.fidelity import action_nll_gap

    c = wm.stpt.cfg
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, c.codebook_size, (3, 6, c.grid_h, c.grid_w), generator=g)
    actions = np.random.default_rng(0).normal(size=(3, 6, 2)).astype(np.float32)
    texts = ["day, clear"] * 3
    assert action_nll_gap(wm, tokens, actions, actions.copy(), texts, context=3, ahead=3) == [0.0, 0.0, 0.0]
    gap = action_nll_gap(wm, tokens, actions, actions[::-1].copy(), texts, context=3, ahead=3)
    assert len(gap) == 3 and any(abs(v) > 0 for v in gap)


def test_turn_constants_turn_left_with_positive_values():
    """Canonical frame: a left turn is a positive yaw rate and a positive normalised steering."""
    turns = TURN_YAW_RATE_RADPS
    assert turns["left"] > 0 and turns["straight"] == 0 and turns["right"] == -turns["left"]
    actions = preset_actions("left", 5)
    np.testing.assert_array_equal(actions, np.tile([[8.0, TURN_YAW_RATE_RADPS["left"]]], (5, 1)))
    x, y, yaw = integrate_pose(0.0, 0.0, 0.0, *actions[0], dt=1.0)  # 1 s of the left preset from the origin
    assert x > 0 and y > 0 and yaw > 0  # forward and to the left (y left)
    geometry = VehicleGeometry()
    for name, steer in BRANCH_STEER_NORMALIZED.items():
        mirror = name.replace("left", "right") if "left" in name else name.replace("right", "left")
        assert BRANCH_STEER_NORMALIZED[mirror] == -steer
        steer_rad, speed_mps = normalized_to_physical([steer, -0.2], geometry)
        yaw_rate = float(steering_to_yaw_rate(steer_rad, speed_mps, geometry.wheelbase_m))
        assert np.sign(yaw_rate) == np.sign(steer) == (1 if "left" in name else -1 if "right" in name else 0)
    assert TURN_STEER_NORMALIZED > 0  # the world-model evaluation's "left" branch steers +TURN_STEER_NORMALIZED


@pytest.mark.parametrize(
    ("spec", "rows", "cols", "token_rows", "token_cols"),
    [
        # rows floor(0.4 * 32) = 12 .. 32, columns floor(0.3 * 64) = 19 .. ceil(0.7 * 64) = 45
        ("box:0.3,0.4,0.7,1.0", (12, 32), (19, 45), (1, 4), (2, 6)),
        ("box:0,0,0.5,0.5", (0, 16), (0, 32), (0, 2), (0, 4)),  # the top-left quarter
        ("box:0.25,0.5,0.75,1", (16, 32), (16, 48), (2, 4), (2, 6)),
        ("box:0,0,1,1", (0, 32), (0, 64), (0, 4), (0, 8)),
    ],
)
def test_parse_mask_box_fractions_select_the_right_pixels_and_tokens(spec, rows, cols, token_rows, token_cols):
    """x is the width fraction, y the height fraction; on the 4 x 8 token grid (8 x 8 pixels per token) a token
    is masked if any of its pixels is."""
    mask = parse_mask(spec, (32, 64))
    expected = np.zeros((32, 64), bool)
    expected[slice(*rows), slice(*cols)] = True
    np.testing.assert_array_equal(mask, expected)
    expected_tokens = np.zeros((4, 8), bool)
    expected_tokens[slice(*token_rows), slice(*token_cols)] = True
    np.testing.assert_array_equal(pixel_mask_to_tokens(mask[None], (4, 8))[0], expected_tokens)


def test_parse_mask_reads_an_image_and_rejects_bad_specs(tmp_path):
    img = np.zeros((16, 32), np.uint8)
    img[:, 16:] = 255  # the right half, at another resolution than the model's
    cv2.imwrite(str(tmp_path / "mask.png"), img)
    mask = parse_mask(str(tmp_path / "mask.png"), (32, 64))
    assert mask.shape == (32, 64) and mask[:, 32:].all() and not mask[:, :32].any()
    with pytest.raises(ValueError, match="expected box:x0,y0,x1,y1"):
        parse_mask("box:0,0,1", (32, 64))
    with pytest.raises(ValueError, match="not a readable image"):
        parse_mask(str(tmp_path / "missing.png"), (32, 64))


def test_cli_generate_image_to_video_from_a_photo_reports_its_reconstruction(ckpt, wm, tmp_path):
    """A photo in another size: the metrics and the sheet's input row are the photo at the model's resolution."""
    y, x = np.mgrid[0:48, 0:96]
    photo = np.clip(np.stack([x * 2.5, y * 5.0, 100 + 0 * x], -1), 0, 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), photo[..., ::-1])
    out = tmp_path / "gen"
    args = ["generate", "image-to-video", "--image", str(path), "--frames", "3", "--steps", "2"]
    assert main([*args, "--checkpoint", str(ckpt), "--out", str(out)]) == 0
    info = json.loads((out / "image-to-video.json").read_text())
    assert info["input"] == f"image:{path}" and (info["given_frames"], info["kept_frames"]) == (1, 1)
    ref = wm.prepare(photo)
    recon = wm.decode(wm.encode(ref)[None])[0]
    want = 10 * np.log10(255.0**2 / ((ref.astype(float) - recon.astype(float)) ** 2).mean())
    assert info["input_reconstruction_psnr_db"] == pytest.approx(want, abs=2e-3)
    sheet = cv2.imread(str(out / "image-to-video.png"))[..., ::-1]
    label_w = 8 * len("reconstruction") + 8
    np.testing.assert_array_equal(_cells(sheet, 0, 1, (32, 64), label_w)[0], ref[0])
    np.testing.assert_array_equal(_cells(sheet, 1, 1, (32, 64), label_w)[0], recon[0])
    assert not list(out.glob(".*tmp*"))  # atomic writes leave no temporary files behind
