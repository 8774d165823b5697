"""Fine-tuning on nuScenes-format data: `--init CKPT --data nuscenes:DIR`, the token cache, clip evaluation and
2-process DDP on CPU (gloo) through Lightning."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

pytest.importorskip("nuscenes")

from drivedreamer_env.cli import main
from drivedreamer_env.eval.clip_eval import evaluate_clips
from drivedreamer_env.models.checkpoint import save_component
from drivedreamer_env.models.sampler import SamplerConfig
from drivedreamer_env.models.stpt import STPT, STPTConfig
from drivedreamer_env.models.text import TextEncoderConfig
from drivedreamer_env.models.tokenizer import TokenizerConfig, VisualTokenizer
from drivedreamer_env.nuscenes.reader import NuScenesError
from drivedreamer_env.nuscenes.writer import export_nuscenes
from drivedreamer_env.sim.config import CameraConfig, SimConfig
from drivedreamer_env.sim.record import record_episodes

REPO = Path(__file__).resolve().parents[1]
TOK = TokenizerConfig(height=32, width=64, patch=2, stem_channels=8, channels=(16, 16), fsq_levels=(5, 5, 5))
WM = STPTConfig(
    codebook_size=125, grid_h=4, grid_w=8, dim=32, layers=1, heads=2, context_frames=8, action_input=True,
    text=TextEncoderConfig(vocab_size=64, max_words=8, dim=16, layers=1, heads=2),
)  # fmt: skip


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 4-scene nuScenes export, its clip shards (3 mini_train scenes) and an untrained init checkpoint."""
    root = tmp_path_factory.mktemp("ft")
    clips = list(record_episodes(SimConfig(camera=CameraConfig(width=72, height=40)), [0, 1, 2, 3], 24))
    dataroot = export_nuscenes(clips, root / "nuscenes")
    args = ["data", "nuscenes", "--root", str(dataroot), "--height", "32", "--width", "64", "--out"]
    assert main([*args, str(root / "clips")]) == 0
    save_component(root / "init", "tokenizer", VisualTokenizer(TOK), TOK)
    save_component(root / "init", "world_model", STPT(WM), WM)
    return {"root": root, "dataroot": dataroot, "clips": root / "clips", "init": root / "init"}


def test_finetune_from_init_on_nuscenes_clips_caches_the_tokens(setup, tmp_path):
    out = tmp_path / "fine"
    args = ["train", "world-model", "--init", str(setup["init"]), "--data", f"nuscenes:{setup['clips']}"]
    assert main([*args, "--out", str(out), "--max-steps", "2", "--batch-size", "2"]) == 0  # configs/.../finetune.yaml
    caches = list((setup["clips"] / "tokens").iterdir())
    assert len(caches) == 1
    tokens = json.loads((caches[0] / "manifest.json").read_text())
    assert tokens["tokenizer_checkpoint"] == str(setup["init"]) and len(tokens["episodes"]) == 4
    meta = json.loads((out / "meta.json").read_text())["world_model_training"]
    assert meta["steps"] == 2 and meta["init"] == str(setup["init"]) and meta["tokens"] == str(caches[0])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["world_model"]["dim"] == 32 and cfg["world_model"]["action_input"]  # the init's architecture
    before = load_file(str(setup["init"] / "world_model.safetensors"))
    after = load_file(str(out / "world_model.safetensors"))
    assert before.keys() == after.keys() and any(not np.array_equal(before[k], after[k]) for k in before)
    stamp = (caches[0] / "manifest.json").stat().st_mtime_ns
    assert main([*args, "--out", str(tmp_path / "again"), "--max-steps", "1", "--batch-size", "2"]) == 0
    assert list((setup["clips"] / "tokens").iterdir()) == caches  # reused, not re-encoded
    assert (caches[0] / "manifest.json").stat().st_mtime_ns == stamp


def test_a_clip_source_needs_a_tokenizer_and_a_matching_grid(setup, tmp_path, capsys):
    clips = shutil.copytree(setup["clips"], tmp_path / "clips", ignore=shutil.ignore_patterns("tokens"))
    base = ["train", "world-model", "--data", f"nuscenes:{clips}", "--out", str(tmp_path / "x")]
    assert main(base) == 2
    assert "--config is required" in capsys.readouterr().err
    assert main([*base, "--config", str(REPO / "configs/world_model/finetune.yaml")]) == 2
    assert "is a clip source: pass --init" in capsys.readouterr().err
    other = TokenizerConfig(height=32, width=64, patch=2, stem_channels=8, channels=(16,), fsq_levels=(5, 5, 5))
    save_component(tmp_path / "other", "tokenizer", VisualTokenizer(other), other)
    save_component(tmp_path / "other", "world_model", STPT(WM), WM)
    assert main([*base, "--init", str(tmp_path / "other"), "--max-steps", "1"]) == 2
    assert "predicts 125 codes on a 4x8 grid, but the token shards" in capsys.readouterr().err


def test_clip_evaluation_on_held_out_scenes(setup, tmp_path):
    spec = f"nuscenes:{setup['dataroot']}?split=mini_val&height=32&width=64"  # none: 4 scenes are all mini_train
    with pytest.raises(NuScenesError, match=r"no scene .* is in split 'mini_val'"):
        evaluate_clips(setup["init"], spec, tmp_path / "r.json")
    out = tmp_path / "eval.json"
    result = evaluate_clips(
        setup["init"], f"nuscenes:{setup['clips']}", out, context=2, horizon=4, max_windows=4,
        sampler=SamplerConfig(steps=2), device="cpu",
    )  # fmt: skip
    assert result["windows"] == 4 and out.is_file() and out.with_suffix(".png").is_file()
    assert 0.0 <= result["token_accuracy@1"] <= 1.0 and result["token_nll@1"] > 0
    assert all(np.isfinite(result[k]) for k in ("tokenizer_psnr", "psnr@1", "psnr@4", "copy_last_psnr@4"))
    assert "delta_psnr_actions@4" in result


@pytest.mark.slow
def test_two_process_ddp_on_cpu(setup, tmp_path):
    """`--trainer.devices 2 --trainer.strategy ddp` on CPU: Lightning launches 2 processes (gloo)."""
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "drivedreamer_env.cli", "train", "world-model", "--init", str(setup["init"]),
        "--data", f"nuscenes:{setup['clips']}", "--out", str(out), "--max-steps", "3", "--batch-size", "2",
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    run = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    state = json.loads((out / "train_state" / "state.json").read_text())
    assert state["step"] == 3  # optimizer steps, not steps x processes
    meta = json.loads((out / "meta.json").read_text())["world_model_training"]
    assert meta["strategy"] == "ddp" and meta["world_size"] == 2 and meta["steps"] == 3
    assert (out / "world_model.safetensors").is_file() and (out / "tokenizer.safetensors").is_file()
