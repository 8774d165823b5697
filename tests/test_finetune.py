"""Fine-tuning on your own footage: `train tokenizer --init` with simulator replay (resumes, keeps the architecture,
carries the world model along), the stand-in footage generator, and vision-only clips training with the null action.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_configs import TINY_TOKENIZER, TINY_WORLD_MODEL

from drivedreamer_env.cli import main
from drivedreamer_env.data.tokens import TokenClip
from drivedreamer_env.models.checkpoint import read_config
from drivedreamer_env.sim.footage import write_footage_video
from drivedreamer_env.sources import open_source
from drivedreamer_env.training.state import STATE_DIR
from drivedreamer_env.training.token_data import TokenWindows
from drivedreamer_env.training.world_model_config import WorldModelTrainConfig
from drivedreamer_env.training.world_model_module import WorldModelModule

FINETUNE_YAML = "batch_size: 4\nmax_steps: 4\ncheckpoint_every: 2\nwarmup_steps: 1\nval_fraction: 0.2\n"


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A short stand-in dashcam mp4 at the tiny tokenizer's resolution, and its true actions."""
    path = tmp_path_factory.mktemp("footage") / "clip.mp4"
    clip = write_footage_video(path, frames=16, width=TINY_TOKENIZER.width, height=TINY_TOKENIZER.height)
    return path, clip.actions


def test_footage_is_a_readable_video_in_its_own_look(footage: tuple[Path, np.ndarray]) -> None:
    path, actions = footage
    (clip,) = list(open_source(f"video:{path}"))
    assert clip.frames.shape == (16, TINY_TOKENIZER.height, TINY_TOKENIZER.width, 3)
    assert np.allclose(np.diff(clip.timestamps), 0.1, atol=1e-3)
    assert actions.shape == (16, 2) and actions[:, 0].min() > 0  # the drive moves
    bonnet = clip.frames[:, -2:].astype(float)  # the bottom rows show the dark bonnet, not the road
    assert bonnet.mean() < 80 and bonnet.std(axis=(1, 2, 3)).mean() < 20


def test_tokenizer_init_finetunes_resumes_and_keeps_the_architecture(
    tmp_path: Path, tiny_checkpoint: Path, footage: tuple[Path, np.ndarray]
) -> None:
    replay, out, config = tmp_path / "replay", tmp_path / "ft", tmp_path / "ft.yaml"
    assert main(["data", "sim", "--episodes", "1", "--steps", "10", "--out", str(replay)]) == 0
    config.write_text(FINETUNE_YAML)  # no model section: the architecture comes from --init
    args = ["train", "tokenizer", "--init", str(tiny_checkpoint), "--config", str(config),
            "--data", f"video:{footage[0]}", "--replay", f"sim:{replay}", "--out", str(out)]  # fmt: skip
    assert main([*args, "--max-steps", "2"]) == 0
    assert json.loads((out / STATE_DIR / "state.json").read_text())["step"] == 2
    first = (out / "tokenizer.safetensors").read_bytes()
    assert main(args) == 0  # resumes from its own step-2 state, not from --init again
    assert json.loads((out / STATE_DIR / "state.json").read_text())["step"] == 4
    assert (out / "tokenizer.safetensors").read_bytes() not in (
        first,
        (tiny_checkpoint / "tokenizer.safetensors").read_bytes(),
    )
    assert read_config(out)["tokenizer"] == read_config(tiny_checkpoint)["tokenizer"]
    # the world model travels along unchanged, so `train world-model --init OUT` continues from a whole checkpoint
    assert (out / "world_model.safetensors").read_bytes() == (tiny_checkpoint / "world_model.safetensors").read_bytes()
    assert read_config(out)["world_model"] == read_config(tiny_checkpoint)["world_model"]
    meta = json.loads((out / "meta.json").read_text())["tokenizer_training"]
    assert meta["steps"] == 4 and meta["init"] == str(tiny_checkpoint) and meta["replay_share"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("init", "replay", "message"),
    [(False, "sim:x", "--replay mixes in frames while fine-tuning"), (True, "sim:x@1.5", "replay share 1.5")],
)
def test_bad_finetune_arguments_say_what_is_wrong(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture, init: bool, replay: str, message: str
) -> None:
    (tmp_path / "ft.yaml").write_text(FINETUNE_YAML)
    first = ["--init", str(tiny_checkpoint)] if init else []
    args = ["train", "tokenizer", *first, "--config", str(tmp_path / "ft.yaml"), "--data", "sim:x", "--replay", replay]
    assert main([*args, "--out", str(tmp_path / "o")]) != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _clip(has_actions: bool) -> TokenClip:
    g = np.random.default_rng(0)
    tokens = g.integers(0, TINY_WORLD_MODEL.codebook_size, (6, TINY_WORLD_MODEL.grid_h, TINY_WORLD_MODEL.grid_w))
    actions = np.tile(np.float32([5.0, 0.2]), (6, 1)) if has_actions else np.zeros((6, 2), np.float32)
    return TokenClip(tokens, actions, np.arange(6) * 0.1, "a road", None, {"has_actions": has_actions})


def test_vision_only_clips_train_with_the_null_action(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clip without recorded actions (plain video) takes the null action on every sample, one with actions
    only at the configured dropout rate: its zero rows must not teach "stopped and straight"."""
    windows = TokenWindows([_clip(True), _clip(False)], 4, TINY_WORLD_MODEL, samples=8)
    items = [windows[i] for i in range(8)]
    assert {bool(it["has_actions"]) for it in items} == {True, False}
    batch = {k: torch.stack([it[k] for it in items]) for k in items[0]}
    cfg = WorldModelTrainConfig(model=TINY_WORLD_MODEL, frames=4, batch_size=8, cond_dropout=0.0)
    module = WorldModelModule(cfg)
    seen = {}
    forward = module.model.forward

    def spy(*args, **kwargs):
        seen["drop_actions"] = kwargs["drop_actions"].clone()
        return forward(*args, **kwargs)

    monkeypatch.setattr(module.model, "forward", spy)
    module._common_step(batch, seed=0, dropout=True)
    assert torch.equal(seen["drop_actions"], ~batch["has_actions"])


def test_world_model_init_trains_on_vision_only_video(
    tmp_path: Path, tiny_checkpoint: Path, footage: tuple[Path, np.ndarray], capsys: pytest.CaptureFixture
) -> None:
    """`train world-model --init` on a plain mp4 (no actions): encoded with the checkpoint's tokenizer, trained
    with the null action, and the checkpoint keeps its architecture."""
    config, out = tmp_path / "wm.yaml", tmp_path / "wm"
    config.write_text(
        "frames: 4\nbatch_size: 2\nwarmup_steps: 1\nmax_steps: 2\ncheckpoint_every: 2\nval_fraction: 0.2\n"
    )
    args = ["train", "world-model", "--init", str(tiny_checkpoint), "--config", str(config),
            "--data", f"video:{footage[0]}", "--out", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert json.loads((out / STATE_DIR / "state.json").read_text())["step"] == 2
    assert read_config(out)["world_model"] == read_config(tiny_checkpoint)["world_model"]
