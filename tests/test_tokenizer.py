"""Tokenizer contracts: shapes and dtypes, token range, gradients through FSQ, checkpoints, fast_dev_run."""

import json

import pytest
import torch

from drivedreamer_env.models.checkpoint import CheckpointError, load_tokenizer, save_component
from drivedreamer_env.models.tokenizer import TokenizerConfig, VisualTokenizer, frames_to_float

SMALL = TokenizerConfig(height=32, width=64, patch=2, stem_channels=8, channels=(16, 16), fsq_levels=(5, 5, 5))


def _frames(b: int = 2, t: int = 3, cfg: TokenizerConfig = SMALL) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (b, t, cfg.height, cfg.width, 3), dtype=torch.uint8, generator=g)


@pytest.mark.parametrize("quantizer", ["fsq", "vq"])
def test_shapes_dtypes_and_token_range(quantizer):
    cfg = TokenizerConfig(**{**SMALL.__dict__, "quantizer": quantizer, "vq_codebook_size": 64, "vq_dim": 4})
    model = VisualTokenizer(cfg).eval()
    frames = _frames(cfg=cfg)
    enc = model.encode(frames)
    assert enc.tokens.shape == (2, 3, 4, 8) and enc.tokens.dtype == torch.int64
    assert cfg.grid == (4, 8) and cfg.downsample == 8
    assert int(enc.tokens.min()) >= 0 and int(enc.tokens.max()) < cfg.codebook_size
    assert enc.z.shape == enc.z_quantized.shape == (2, 3, cfg.latent_dim, 4, 8)
    out = model.decode(enc.tokens)
    assert out.shape == frames.shape and out.dtype == torch.uint8
    # decoding tokens equals decoding the quantized latents: tokens carry all the information
    torch.testing.assert_close(model.tokens_to_latents(enc.tokens), enc.z_quantized)
    with pytest.raises(ValueError, match="token ids must be in"):
        model.decode(enc.tokens + cfg.codebook_size)
    with pytest.raises(ValueError, match=r"frames must be \(B, T, 32, 64, 3\)"):
        model.encode(frames[:, :, :16])


def test_single_image_and_video_share_the_code_path():
    model = VisualTokenizer(SMALL).eval()
    frames = _frames(b=1, t=3)
    video = model.encode(frames).tokens
    single = torch.cat([model.encode(frames[:, i : i + 1]).tokens for i in range(3)], dim=1)
    assert torch.equal(video, single)


def test_gradients_reach_the_encoder_through_the_quantizer():
    model = VisualTokenizer(SMALL)
    x = frames_to_float(_frames())
    recon, _ = model(x)
    (recon - x).abs().mean().backward()
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_checkpoint_reloads_to_identical_outputs(tmp_path):
    model = VisualTokenizer(SMALL).eval()
    save_component(tmp_path, "tokenizer", model, SMALL)
    back = load_tokenizer(tmp_path)
    frames = _frames()
    assert torch.equal(model.encode(frames).tokens, back.encode(frames).tokens)
    assert torch.equal(model.decode(model.encode(frames).tokens), back.decode(back.encode(frames).tokens))
    assert not list(tmp_path.glob("*.tmp*")), "atomic writes leave no temp files"


def test_mismatched_checkpoint_names_tensor_file_and_config(tmp_path):
    save_component(tmp_path, "tokenizer", VisualTokenizer(SMALL), SMALL)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["tokenizer"]["stem_channels"] = 16  # the tensors were saved for 8
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"tokenizer\.safetensors does not match .*config\.json.*shape"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt tensor file"):
        load_tokenizer(tmp_path)
    cfg["tokenizer"]["typo_key"] = 1
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="typo_key"):
        load_tokenizer(tmp_path)


@pytest.fixture(scope="module")
def sim_shards(tmp_path_factory):
    from drivedreamer_env.cli import main

    out = tmp_path_factory.mktemp("shards")
    assert main(["data", "sim", "--episodes", "3", "--steps", "12", "--out", str(out)]) == 0
    return out


def _tiny_yaml(tmp_path, max_steps: int, every: int):
    path = tmp_path / "tok.yaml"
    path.write_text(
        "model: {height: 64, width: 128, patch: 2, stem_channels: 8, channels: [16, 16], fsq_levels: [5, 5, 5]}\n"
        f"batch_size: 4\nmax_steps: {max_steps}\ncheckpoint_every: {every}\nwarmup_steps: 2\nval_fraction: 0.34\n"
    )
    return path


def _fast_dev_run(monkeypatch, capsys, args: list[str], out) -> None:
    """Run ``train tokenizer ... --fast-dev-run`` and check its promise: one batch of train and val, nothing saved."""
    from drivedreamer_env.cli import main
    from drivedreamer_env.training.tokenizer_module import TokenizerModule

    calls = {"training_step": 0, "validation_step": 0}

    def counting(name: str):
        original = getattr(TokenizerModule, name)

        def counted(self, *args, **kwargs):
            calls[name] += 1
            return original(self, *args, **kwargs)

        return counted

    for name in calls:
        monkeypatch.setattr(TokenizerModule, name, counting(name))
    assert main([*args, "--out", str(out), "--fast-dev-run"]) == 0
    assert calls == {"training_step": 1, "validation_step": 1}
    assert "{'steps': 1}" in capsys.readouterr().out
    assert not out.exists() or not any(out.rglob("*")), sorted(out.rglob("*"))


def test_fast_dev_run_on_simulator_data(tmp_path, sim_shards, monkeypatch, capsys):
    args = ["train", "tokenizer", "--config", str(_tiny_yaml(tmp_path, 5, 5)), "--data", f"sim:{sim_shards}"]
    _fast_dev_run(monkeypatch, capsys, args, tmp_path / "ck")


def test_training_resumes_from_its_last_checkpoint_and_eval_reports(tmp_path, sim_shards):
    from drivedreamer_env.cli import main
    from drivedreamer_env.training.state import STATE_DIR

    out = tmp_path / "ck"
    args = ["train", "tokenizer", "--config", str(_tiny_yaml(tmp_path, 6, 3)), "--data", f"sim:{sim_shards}"]
    assert main([*args, "--out", str(out), "--max-steps", "3"]) == 0
    state = json.loads((out / STATE_DIR / "state.json").read_text())
    assert state["step"] == 3
    first = (out / "tokenizer.safetensors").read_bytes()
    assert main([*args, "--out", str(out)]) == 0  # resumes and runs the remaining 3 steps
    state = json.loads((out / STATE_DIR / "state.json").read_text())
    assert state["step"] == 6
    from safetensors.torch import load_file

    optim = load_file(str(out / STATE_DIR / "optim_0.safetensors"))
    assert any(k.endswith(".exp_avg") for k in optim) and any(k.endswith(".step") for k in optim)
    assert (out / "tokenizer.safetensors").read_bytes() != first
    meta = json.loads((out / "meta.json").read_text())
    assert meta["tokenizer_training"]["steps"] == 6
    res = tmp_path / "eval.json"
    assert main(["eval", "tokenizer", "--checkpoint", str(out), "--data", f"sim:{sim_shards}", "--out", str(res)]) == 0
    result = json.loads(res.read_text())
    assert 0 < result["code_usage"] <= 1 and result["psnr"] > 5 and -1 <= result["ssim"] <= 1
    assert res.with_suffix(".png").is_file()


def test_same_training_command_runs_on_a_folder_of_frames(tmp_path, monkeypatch, capsys):
    """A folder of camera frames at another resolution (as a dashcam dump would be) trains unchanged."""
    import cv2
    import numpy as np

    folder = tmp_path / "dashcam"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        img = np.full((90, 160, 3), 90, np.uint8)
        img[45:, :] = rng.integers(40, 80)  # road below the horizon
        cv2.circle(img, (20 + 10 * i, 30), 6, (255, 255, 255), -1)
        cv2.imwrite(str(folder / f"frame_{i:04d}.jpg"), img)
    args = ["train", "tokenizer", "--config", str(_tiny_yaml(tmp_path, 5, 5)), "--data", str(folder)]
    _fast_dev_run(monkeypatch, capsys, args, tmp_path / "ck")
