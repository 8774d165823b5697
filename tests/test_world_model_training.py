"""World-model training path: tokenize a clip source, fast_dev_run, resume and --init fine-tuning."""

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_configs import TINY_TOKENIZER, TINY_WM_TRAIN_YAML

from drivedreamer_env.cli import main
from drivedreamer_env.data.tokens import TokenShardSource
from drivedreamer_env.models.checkpoint import save_component
from drivedreamer_env.models.tokenizer import VisualTokenizer

TOK = TINY_TOKENIZER
YAML = TINY_WM_TRAIN_YAML


@pytest.fixture(scope="module")
def token_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("wm")
    assert main(["data", "sim", "--episodes", "3", "--steps", "10", "--out", str(root / "sim")]) == 0
    save_component(root / "tok", "tokenizer", VisualTokenizer(TOK), TOK)
    args = ["data", "tokenize", "--checkpoint", str(root / "tok"), "--data", f"sim:{root / 'sim'}"]
    assert main([*args, "--out", str(root / "tokens")]) == 0
    return root


def _yaml(tmp_path, max_steps: int):
    path = tmp_path / "wm.yaml"
    path.write_text(YAML.replace("MAX", str(max_steps)))
    return str(path)


def test_tokenized_shards_match_the_tokenizer(token_dir):
    src = TokenShardSource(token_dir / "tokens")
    clips = list(src)
    assert len(clips) == 3 and src.manifest["tokenizer"]["height"] == 32
    assert clips[0].tokens.shape[1:] == (4, 8) and clips[0].tokens.max() < 125
    assert clips[0].events is not None and clips[0].events.shape == (len(clips[0].tokens), 2)
    assert clips[0].text and clips[0].actions.shape == (len(clips[0].tokens), 2)


def count_steps(monkeypatch, cls) -> dict[str, int]:
    """Count the calls of ``cls``'s training and validation steps from now on."""
    calls = {"training_step": 0, "validation_step": 0}

    def counting(name: str):
        original = getattr(cls, name)

        def counted(self, *args, **kwargs):
            calls[name] += 1
            return original(self, *args, **kwargs)

        return counted

    for name in calls:
        monkeypatch.setattr(cls, name, counting(name))
    return calls


def test_fast_dev_run(token_dir, tmp_path, monkeypatch, capsys):
    """--fast-dev-run: one batch of train and val, nothing saved (not even the copied tokenizer)."""
    from drivedreamer_env.training.world_model_module import WorldModelModule

    calls = count_steps(monkeypatch, WorldModelModule)
    out = tmp_path / "wm"
    args = ["train", "world-model", "--config", _yaml(tmp_path, 4), "--data", f"tokens:{token_dir / 'tokens'}"]
    assert main([*args, "--out", str(out), "--fast-dev-run"]) == 0
    assert calls == {"training_step": 1, "validation_step": 1}
    assert "{'steps': 1}" in capsys.readouterr().out
    assert not out.exists() or not any(out.rglob("*")), sorted(out.rglob("*"))
    assert not (token_dir / "tokens" / "train_state").exists()


def test_resume_and_init(token_dir, tmp_path):
    out = tmp_path / "wm"
    args = ["train", "world-model", "--config", _yaml(tmp_path, 4), "--data", str(token_dir / "tokens")]
    assert main([*args, "--out", str(out), "--max-steps", "2"]) == 0
    assert json.loads((out / "train_state" / "state.json").read_text())["step"] == 2
    assert main([*args, "--out", str(out)]) == 0
    assert json.loads((out / "train_state" / "state.json").read_text())["step"] == 4
    cfg = json.loads((out / "config.json").read_text())
    assert {"tokenizer", "world_model"} <= set(cfg) and cfg["world_model"]["codebook_size"] == 125
    assert (out / "tokenizer.safetensors").is_file() and (out / "world_model.safetensors").is_file()
    fine = tmp_path / "fine"
    assert main([*args, "--out", str(fine), "--init", str(out), "--max-steps", "2"]) == 0
    assert json.loads((fine / "meta.json").read_text())["world_model_training"]["init"] == str(out)


def test_warm_start_grows_the_architecture(token_dir, tmp_path, capsys):
    """--warm-start loads a model without action_input into one with it; a foreign architecture is refused."""
    from safetensors.torch import load_file

    base = tmp_path / "base"
    args = ["train", "world-model", "--data", str(token_dir / "tokens"), "--max-steps", "2"]
    assert main([*args, "--config", _yaml(tmp_path, 2), "--out", str(base)]) == 0
    grown_yaml = tmp_path / "grown.yaml"
    grown_yaml.write_text(YAML.replace("MAX", "2").replace("  dim: 32\n", "  dim: 32\n  action_input: true\n"))
    grown = tmp_path / "grown"
    assert main([*args, "--config", str(grown_yaml), "--out", str(grown), "--warm-start", str(base)]) == 0
    meta = json.loads((grown / "meta.json").read_text())["world_model_training"]
    assert meta["warm_start"] == str(base) and meta["warm_start_steps"] == 2
    assert meta["new_tensors"] and all(k.startswith("action_in") for k in meta["new_tensors"])
    assert json.loads((grown / "config.json").read_text())["world_model"]["action_input"]
    grown_keys, base_keys = (set(load_file(str(d / "world_model.safetensors"))) for d in (grown, base))
    assert grown_keys > base_keys
    resumed = [*args[:-1], "3", "--config", str(grown_yaml), "--out", str(grown), "--warm-start", str(base)]
    assert main(resumed) == 0  # resumes its own state; the record of what was grown stays
    meta = json.loads((grown / "meta.json").read_text())["world_model_training"]
    assert meta["steps"] == 3 and meta["new_tensors"] and meta["warm_start"] == str(base)
    wider = tmp_path / "wider.yaml"
    wider.write_text(YAML.replace("MAX", "2").replace("dim: 32", "dim: 64"))
    assert main([*args, "--config", str(wider), "--out", str(tmp_path / "wide"), "--warm-start", str(base)]) == 2
    err = capsys.readouterr().err
    assert "cannot warm-start" in err and "shape" in err


def test_frame_stride_keeps_every_kth_frame_with_mean_actions_and_records_the_period(token_dir, tmp_path):
    from drivedreamer_env.data.tokens import TokenShardSource
    from drivedreamer_env.models.world_model import WorldModel
    from drivedreamer_env.training.token_data import stride_token_clip

    clip = next(iter(TokenShardSource(token_dir / "tokens")))
    phases = stride_token_clip(clip, 2)
    assert [len(p.tokens) for p in phases] == [len(clip.tokens[0::2]), len(clip.tokens[1::2])]
    np.testing.assert_array_equal(phases[1].tokens, clip.tokens[1::2])
    np.testing.assert_allclose(phases[1].timestamps, clip.timestamps[1::2])
    np.testing.assert_allclose(phases[0].actions[0], clip.actions[0:2].mean(0), rtol=1e-6)
    if clip.events is not None:
        np.testing.assert_array_equal(phases[1].events[0], clip.events[0:2].max(0))
    out = tmp_path / "wm"
    yaml = tmp_path / "stride.yaml"
    yaml.write_text(Path(_yaml(tmp_path, 1)).read_text() + "frame_stride: 2\n")
    assert main(["train", "world-model", "--config", str(yaml), "--data", str(token_dir / "tokens"), "--out",
                 str(out)]) == 0  # fmt: skip
    period = float(np.median(np.diff(clip.timestamps)))
    assert json.loads((out / "config.json").read_text())["frame_dt_s"] == pytest.approx(2 * period, abs=1e-6)
    assert WorldModel.load(out).frame_dt_s == pytest.approx(2 * period, abs=1e-6)
    with pytest.raises(ValueError, match="frame_stride > 1 needs proposals"):
        from drivedreamer_env.models.masking import MaskConfig
        from drivedreamer_env.training.world_model_config import WorldModelTrainConfig

        WorldModelTrainConfig(masking=MaskConfig(warp=0.3), frame_stride=2)
