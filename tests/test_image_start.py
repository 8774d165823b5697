"""An image start keeps the photo: its first observation is the tokenizer's reconstruction (exact tokens), the
context repeats the image under a stopped-ego history, and nothing is dreamt before the first action."""

import numpy as np
import pytest
import torch

from drivedreamer_env.envs.starts import IMAGE_START_SPEED_MPS, image_start
from drivedreamer_env.envs.world_dreamer import WorldDreamerDriveEnv
from drivedreamer_env.models.sampler import Rollout


def _photo() -> np.ndarray:
    """A smooth (48, 96, 3) picture in another size than the tiny model's 32 x 64 (resized and cropped)."""
    y, x = np.mgrid[0:48, 0:96]
    img = np.stack([x * 2.5, y * 5.0, 128 + 60 * np.sin(x / 7.0) * np.cos(y / 5.0)], axis=-1)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def env(tiny_checkpoint):
    env = WorldDreamerDriveEnv(checkpoint=str(tiny_checkpoint), device="cpu", sampling_steps=2, context_frames=5)
    yield env
    env.close()


def test_image_start_first_observation_is_the_reconstruction(env, monkeypatch):
    photo = _photo()
    wm = env.wm
    tokens = wm.encode(photo)  # (1, h, w)

    def no_dreaming(*args, **kwargs):
        raise AssertionError("an image start must not dream frames before the first action")

    monkeypatch.setattr(Rollout, "sample", no_dreaming)
    seen = {}
    reset_rows = env.core.rollout.reset_rows

    def spy(rows, toks, acts, text_ids):
        seen["tokens"], seen["actions"] = toks.clone(), acts.clone()
        return reset_rows(rows, toks, acts, text_ids)

    monkeypatch.setattr(env.core.rollout, "reset_rows", spy)
    obs, info = env.reset(seed=0, options={"image": photo, "text": "day, clear"})
    c = env.core.context_frames
    # the whole context is the image's own tokens, exactly, under a stopped ego with zero yaw rate
    assert seen["tokens"].shape == (1, c, *tokens.shape[1:])
    assert torch.equal(seen["tokens"][0], tokens.expand(c, -1, -1))
    assert torch.equal(seen["actions"][0], torch.zeros(c - 1, 2))
    np.testing.assert_array_equal(obs, wm.decode(tokens[None])[0, 0])  # the reconstruction, pixel for pixel
    assert info["start"] == {"kind": "image", "context": "repeated", "speed_mps": IMAGE_START_SPEED_MPS}
    assert info["speed"] == 0.0 and info["yaw_rate"] == 0.0 and np.array_equal(info["pose"], np.zeros(3))
    monkeypatch.undo()
    assert env.step(np.array([0.5, -0.2], np.float32))[0].shape == obs.shape  # the first dreamt frame follows


def test_image_start_from_a_file_and_a_moving_history(env, tmp_path):
    import cv2

    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), _photo()[..., ::-1])
    start = image_start(path, speed_mps=8.0)
    tokens, actions, ego = env.core._fill_context(start, torch.Generator().manual_seed(0))
    c = env.core.context_frames
    assert torch.equal(tokens, env.wm.encode(_photo()).expand(c, -1, -1))
    assert torch.equal(actions, torch.tensor([[8.0, 0.0]]).expand(c - 1, -1))
    assert (ego.x, ego.y, ego.speed) == (0.0, 0.0, 8.0)  # the frames do not move, so neither does the ego


def test_image_start_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="speed_mps"):
        image_start(_photo(), speed_mps=-1.0)
    with pytest.raises(ValueError, match="speed_mps"):
        image_start(_photo(), speed_mps=float("nan"))
    with pytest.raises(ValueError, match="uint8"):
        image_start(_photo().astype(np.float32))
    bad = tmp_path / "not_an_image.jpg"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="cannot read start image"):
        image_start(bad)


def test_turn_agreement_needs_the_sign_and_the_size():
    from drivedreamer_env.eval.counterfactual import turn_agreement

    cmd = np.deg2rad(16.3)
    assert not turn_agreement(np.deg2rad(0.4), cmd, cmd).agrees  # the right sign, a fortieth of the size
    assert not turn_agreement(-cmd, cmd, cmd).agrees
    hit = turn_agreement(np.deg2rad(12.0), cmd, cmd)
    assert hit.agrees and hit.gain == pytest.approx(12.0 / 16.3)
    assert not turn_agreement(np.deg2rad(25.0), cmd, cmd).agrees  # more than 50 % too far
    straight = turn_agreement(0.05, 0.0, 0.0)
    assert straight.agrees and straight.gain is None
    assert not turn_agreement(0.2, 0.0, 0.0).agrees


def test_counterfactual_on_an_image_start_says_commanded(tiny_checkpoint):
    from drivedreamer_env.cli.counterfactual import format_table
    from drivedreamer_env.eval.counterfactual import run_counterfactual

    kwargs = {"checkpoint": str(tiny_checkpoint), "device": "cpu", "sampling_steps": 1, "context_frames": 5}
    report = run_counterfactual(_photo(), {"left": 0.5, "right": -0.5}, 4, speed=-0.2, env_kwargs=kwargs,
                                progress=False)  # fmt: skip
    m = report.metrics()
    assert m["heading_reference"] == "commanded" and m["start"]["kind"] == "image"
    table = format_table(m)
    assert "commanded [deg]" in table and "heading true" not in table and "no ground truth" in table
    for b in m["branches"].values():  # no truth: the agreement is with the command, by the shared rule
        assert "psnr_db" not in b and "gt_heading_change_est_rad" not in b
        assert abs(b["heading_change_rad"]) > 0.0  # the stopped ego starts moving and turning
    assert m["branches"]["left"]["heading_change_rad"] > 0 > m["branches"]["right"]["heading_change_rad"]
