"""Your own footage, the data side: video spec options (start/end, fps, text, hfov, wheelbase), several --data
sources with weights, the validation split in windows, and logs that read well in a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import imageio
import numpy as np
import pytest
from tiny_configs import TINY_TOKENIZER, TINY_WM_TRAIN_YAML

from drivedreamer_env.cli import main
from drivedreamer_env.data.split import split_windows
from drivedreamer_env.data.tokens import TokenShardSource, write_token_clip, write_token_manifest
from drivedreamer_env.data.video import VideoSourceError
from drivedreamer_env.models.checkpoint import save_component
from drivedreamer_env.models.reprojection import CameraModel
from drivedreamer_env.models.tokenizer import VisualTokenizer
from drivedreamer_env.sources import DataSpecError, open_source
from drivedreamer_env.sources.multi import DataSpec, parse_data_specs
from drivedreamer_env.sources.token_cache import resolve_token_dir
from drivedreamer_env.training.token_data import TokenDataModule
from drivedreamer_env.training.world_model_config import WorldModelTrainConfig

H, W, N_FRAMES, FPS = 64, 128, 20, 10.0
TOK = TINY_TOKENIZER
WM_YAML = TINY_WM_TRAIN_YAML.replace("MAX", "4") + "log_every: 2\n"


def bar_frame(i: int) -> np.ndarray:
    """Frame i: a white vertical bar at columns [6i, 6i + 6) on red (its index is readable after decoding)."""
    frame = np.zeros((H, W, 3), np.uint8)
    frame[..., 0] = 255
    frame[:, 6 * i : 6 * i + 6] = 255
    return frame


def bar_index(frame: np.ndarray) -> int:
    return int(np.argmax(frame[H // 2, : 6 * N_FRAMES, 1].astype(int).reshape(-1, 6).sum(axis=1)))


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("footage") / "drive.mp4"
    with imageio.get_writer(path, fps=FPS, codec="libx264", quality=9, macro_block_size=16) as writer:
        for i in range(N_FRAMES):
            writer.append_data(bar_frame(i))
    return path


@pytest.fixture(scope="module")
def tokenizer_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tok")
    save_component(root, "tokenizer", VisualTokenizer(TOK), TOK)
    return root


# ------------------------------------------------------------------------------------------------ video specs


def test_start_and_end_select_frames_by_index_and_by_seconds(mp4: Path) -> None:
    clip = next(iter(open_source(f"video:{mp4}?start=3&end=8")))
    np.testing.assert_allclose(clip.timestamps, np.arange(3, 8) / FPS)
    assert [bar_index(f) for f in clip.frames] == [3, 4, 5, 6, 7] and clip.meta["start_frame"] == 3
    clip = next(iter(open_source(f"video:{mp4}?start=0.5s&end=1.2s")))
    np.testing.assert_allclose(clip.timestamps, np.arange(5, 12) / FPS)
    assert bar_index(clip.frames[0]) == 5
    clip = next(iter(open_source(f"video:{mp4}?start=15")))  # no end: to the last frame
    np.testing.assert_allclose(clip.timestamps, np.arange(15, N_FRAMES) / FPS)


def test_fps_resamples_a_video_and_averages_the_actions(mp4: Path, tmp_path: Path) -> None:
    t = np.arange(N_FRAMES) / FPS
    speed = 1.0 + np.arange(N_FRAMES)  # a different speed every frame: the average over a 5 Hz step is visible
    csv = tmp_path / "a.csv"
    csv.write_text("timestamp,speed,yaw_rate\n" + "".join(f"{ti},{v},0\n" for ti, v in zip(t, speed, strict=True)))
    clip = next(iter(open_source(f"video:{mp4}?actions={csv}&fps=5")))
    np.testing.assert_allclose(clip.timestamps, np.arange(10) / 5.0)
    assert [bar_index(f) for f in clip.frames] == list(range(0, N_FRAMES, 2))
    np.testing.assert_allclose(clip.actions[:-1, 0], (speed[0:-2:2] + speed[1:-1:2]) / 2, rtol=1e-5)
    with pytest.raises(VideoSourceError, match=r"drive.mp4: cannot resample a 10 Hz clip to fps=25.*fps <= 10"):
        next(iter(open_source(f"video:{mp4}?fps=25")))


def test_text_hfov_and_wheelbase_options(mp4: Path, tmp_path: Path) -> None:
    clip = next(iter(open_source(f"video:{mp4}?text=a wet road, at night&hfov=60&camera_height=1.3")))
    assert clip.text == "a wet road, at night"
    cam = CameraModel.from_meta(clip.meta, clip.resolution)
    want = CameraModel.from_hfov(W, H, 60.0, 1.3, 0.0, 1.5)  # what `data tokenize --hfov 60` assumes
    assert cam == want and clip.meta["camera_assumed"] is True
    rows = "".join(f"{i / FPS},10.0,0.1\n" for i in range(N_FRAMES))
    (tmp_path / "s.csv").write_text("timestamp,speed,steering_angle\n" + rows)
    clip = next(iter(open_source(f"video:{mp4}?actions={tmp_path / 's.csv'}&wheelbase=2.0")))
    np.testing.assert_allclose(clip.actions[:, 1], 10.0 * np.tan(0.1) / 2.0, rtol=1e-5)  # bicycle model, L = 2 m


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=3m", r"start='3m': expected a frame index \(e.g. start=180\) or seconds \(e.g. start=18s\)"),
        ("start=-2", r"start='-2' is negative"),
        ("start=8&end=3", r"end \(frame 3\) must come after start \(frame 8\)"),
        ("start=50", r"start=frame 50 end=None selects no frame of this clip \(frames 0-19, 1.90 s\)"),
        ("hfov=200", r"hfov=200: the horizontal field of view must be in \(0, 180\) degrees"),
        ("camera_pitch=5", r"\['camera_pitch'\] describe the camera of hfov=DEG; give hfov too"),
        ("wheelbase=0", r"wheelbase=0: the wheelbase must be positive"),
        ("fps=x", r"option fps='x' is not a float"),
        ("begin=3", r"unknown option 'begin'; the options here are \['actions', 'camera_height'"),
    ],
)
def test_bad_video_specs_say_what_is_wrong(mp4: Path, query: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        next(iter(open_source(f"video:{mp4}?{query}")))


def test_data_lists_weights_and_their_errors(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    assert parse_data_specs([f"{a},{b}"]) == [DataSpec(str(a)), DataSpec(str(b))]
    assert parse_data_specs([f"sim:{a}@0.3", f"video:{b}?text=a, b@0.7"]) == [
        DataSpec(f"sim:{a}", 0.3), DataSpec(f"video:{b}?text=a, b", 0.7),
    ]  # fmt: skip
    with pytest.raises(DataSpecError, match=r"weight -1 must be a positive number, e.g. sim:DIR@0.3"):
        parse_data_specs([f"sim:{a}@-1"])
    with pytest.raises(DataSpecError, match=r"weights are given for some sources but not for \['sim:.*b'\]"):
        parse_data_specs([f"sim:{a}@2", f"sim:{b}"])
    with pytest.raises(DataSpecError, match=r"weights \(@W\) apply to training"):
        main_args = ["data", "tokenize", "--checkpoint", str(a), "--data", f"sim:{a}@1", "--out", str(tmp_path / "t")]
        from drivedreamer_env.sources.tokenize import tokenize_source

        tokenize_source(VisualTokenizer(TOK), f"sim:{a}@1", tmp_path / "t", "x")
    assert main(main_args) == 2  # the CLI turns it into one line on stderr


# ------------------------------------------------------------------------------- fps on the train / eval paths


def test_fps_on_a_video_spec_reaches_the_train_and_eval_paths(mp4: Path, tokenizer_ckpt: Path, tmp_path: Path):
    from drivedreamer_env.eval.clip_eval import clip_windows
    from drivedreamer_env.models.world_model import WorldModel

    for fps in (10.0, 5.0):
        spec = f"video:{mp4}?fps={fps:g}"
        tokens = resolve_token_dir(spec, tokenizer_ckpt, tmp_path / "cache")  # what `train world-model` trains on
        (clip,) = list(TokenShardSource(tokens))
        np.testing.assert_allclose(np.diff(clip.timestamps), 1.0 / fps, rtol=1e-6)
        *_, dt_s = clip_windows(WorldModel.load(None, device="cpu"), spec, 4, 8)  # `eval world-model --data`
        assert dt_s == pytest.approx(1.0 / fps)


# ------------------------------------------------------------------------------------- several sources, split


def _token_dir(root: Path, speed: float, clips: int, frames: int, tokenizer: Path | str = "tok") -> Path:
    episodes = []
    for i in range(clips):
        name = f"clip_{i:06d}.safetensors"
        tokens = np.full((frames, TOK.grid[0], TOK.grid[1]), i, np.int64)
        actions = np.tile([speed, 0.0], (frames, 1)).astype(np.float32)
        write_token_clip(root / name, tokens, actions, np.arange(frames) / 10.0, "", {}, None)
        episodes.append({"file": name, "frames": frames, "caption": "", "events": False})
    from dataclasses import asdict

    write_token_manifest(root, episodes, "test", None, str(tokenizer), asdict(TOK))
    return root


def test_two_sources_both_reach_training_in_their_weighted_shares(tmp_path: Path) -> None:
    a = _token_dir(tmp_path / "a", speed=1.0, clips=1, frames=40)
    b = _token_dir(tmp_path / "b", speed=2.0, clips=3, frames=40)
    cfg = WorldModelTrainConfig(frames=4, batch_size=2, max_steps=200)
    cfg.model.codebook_size, (cfg.model.grid_h, cfg.model.grid_w) = TOK.codebook_size, TOK.grid
    for shares, share_a in ((None, 0.25), ([0.7, 0.3], 0.7)):
        dm = TokenDataModule([str(a), str(b)], cfg, seed=0, shares=shares)
        dm.setup()
        speeds = np.array([float(dm.train[i]["actions"][0, 0]) for i in range(400)])
        assert set(np.unique(speeds)) == {1.0, 2.0}
        assert np.mean(speeds == 1.0) == pytest.approx(share_a, abs=0.07)
    assert "validation: 2 of 40 4-frame windows (5.0 %)" in dm.split_line


def test_validation_is_counted_in_windows_from_every_clip() -> None:
    split = split_windows([40, 400], window=4, fraction=0.1)  # 10 + 100 windows
    assert split.val_windows == 11 and split.val_frames == [4, 40] and split.train_frames == [36, 360]
    single = split_windows([180], window=1, fraction=0.05)
    assert single.val_frames == [9] and "9 of 180 frames (5.0 %)" in single.describe("frames")
    assert split_windows([4, 4], window=4, fraction=0.5).val_windows == 0  # each clip keeps its one window
    with pytest.raises(ValueError, match=r"--val-fraction must be in \[0, 1\)"):
        split_windows([40], 4, 1.0)


# ---------------------------------------------------------------------------------------------------- logs


def test_a_redirected_training_run_logs_plain_lines_a_loss_curve_and_a_short_state(
    tmp_path: Path, tokenizer_ckpt: Path
) -> None:
    a = _token_dir(tmp_path / "a", speed=1.0, clips=2, frames=12, tokenizer=tokenizer_ckpt)
    b = _token_dir(tmp_path / "b", speed=2.0, clips=1, frames=12, tokenizer=tokenizer_ckpt)
    (tmp_path / "wm.yaml").write_text(WM_YAML)
    out = tmp_path / "wm"
    cmd = [sys.executable, "-m", "drivedreamer_env.cli", "train", "world-model", "--config", str(tmp_path / "wm.yaml"),
           "--data", f"{a},{b}", "--out", str(out), "--threads", "1"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    log = run.stdout + run.stderr
    assert "\r" not in log
    assert "step 2/4  loss " in run.stdout and "step 4/4  loss " in run.stdout and "steps/s  ETA " in run.stdout
    assert "validation: " in run.stdout
    assert "litlogger" not in log and "LeafSpec" not in log
    rows = (out / "loss_curve.csv").read_text().splitlines()
    assert rows[0].startswith("step,elapsed_s,train/") and {r.split(",")[0] for r in rows[1:]} == {"2", "4"}
    state = json.loads((out / "train_state" / "state.json").read_text())
    assert state["step"] == 4 and state["optimizers"] == 1 and "param_groups" not in json.dumps(state)
    assert json.loads((out / "meta.json").read_text())["world_model_training"]["data"] == f"{a},{b}"
