"""The nuScenes adapter on a dataset the simulator exports in nuScenes format (built here in a temp dir).

Ground truth is the simulator's own actions: ``actions[t]`` is the speed and yaw rate that moved the ego from
frame t to t+1. The adapter must recover them from the devkit's ego poses and from the CAN bus files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nuscenes")

from drivedreamer_env.cli import main
from drivedreamer_env.data.captions import normalize_caption
from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.ego_motion import SignalCoverageError, frame_actions, signal_at_step_midpoints
from drivedreamer_env.data.shards import ShardSource
from drivedreamer_env.data.windowing import resample
from drivedreamer_env.nuscenes.reader import NuScenesError, NuScenesSource, NuScenesWarning
from drivedreamer_env.nuscenes.schema import NUSCENES_MINI_SCENES
from drivedreamer_env.nuscenes.writer import export_nuscenes
from drivedreamer_env.sim.config import CameraConfig, SimConfig
from drivedreamer_env.sim.record import record_episode
from drivedreamer_env.sim.simulator import Simulator
from drivedreamer_env.sources import open_source
from drivedreamer_env.units import step_speed_yaw_rate

CAM = CameraConfig(width=96, height=54)  # 16:9, like nuScenes: the adapter centre-crops to 2:1
LEFT, ARC = 6, 7  # scene indices of the constant-steering left turn and the jittered right arc
MINI_VAL = 8  # index of scene-0103, the first mini_val scene


def _left_turn(sim: Simulator, seed: int, steps: int = 30) -> Clip:
    """Constant left steering from the episode's start (meta as `record_episode` writes it)."""
    base = record_episode(sim, seed, 2)
    frame, _ = sim.reset(seed)
    frames, times, poses, actions, steer = [], [], [], [], []
    for _ in range(steps):
        st = sim.state
        frames.append(frame)
        times.append(st.time_s)
        poses.append((st.ego.x, st.ego.y, st.ego.yaw))
        frame = sim.step([0.25, -0.2]).frame  # +0.25 steering = left
        actions.append((sim.state.ego.speed, sim.state.ego.yaw_rate))
        steer.append(sim.state.ego.steer)
    meta = {**base.meta, "poses": np.array(poses), "labels": {"steer_rad": np.array(steer)}}
    return Clip(np.stack(frames), np.array(times), np.array(actions, np.float32), base.text, meta)


def _arc(n: int = 40, speed: float = 7.0, yaw_rate: float = -0.15, jitter_s: float = 0.02) -> Clip:
    """A right-turning arc with unevenly spaced frames (exact poses), like real sweeps."""
    rng = np.random.default_rng(3)
    t = 50.0 + np.arange(n) * 0.1 + rng.uniform(-jitter_s, jitter_s, n)
    yaw = 0.3 + yaw_rate * (t - t[0])
    r = speed / yaw_rate
    poses = np.stack([r * (np.sin(yaw) - np.sin(0.3)), -r * (np.cos(yaw) - np.cos(0.3)), yaw], axis=-1)
    frames = np.broadcast_to(np.linspace(0, 255, CAM.width, dtype=np.uint8)[None, None, :, None], (n, 54, 96, 3))
    meta = {
        "poses": poses,
        "intrinsics": [[48.0, 0, 47.5], [0, 48.0, 26.5], [0, 0, 1]],
        "camera": {"x_m": 1.5, "height_m": 1.5, "pitch_rad": 0.05},
    }
    return Clip(frames.copy(), t, np.tile([speed, yaw_rate], (n, 1)), "night, rain, parked cars", meta)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Clip]]:
    sim = Simulator(SimConfig(camera=CAM))
    clips = [record_episode(sim, seed, 40) for seed in (0, 2, 3, 4, 8, 6)]
    clips += [_left_turn(sim, 11), _arc(), record_episode(sim, 7, 30)]  # the last is scene-0103 (mini_val)
    assert all(len(c) >= 20 for c in clips)
    return export_nuscenes(clips, tmp_path_factory.mktemp("ns") / "nuscenes"), clips


@pytest.fixture(scope="module")
def scenes(export) -> dict[str, list[Clip]]:
    """Whole scenes at the simulator's 10 Hz through each action source."""
    root, _ = export
    return {a: list(NuScenesSource(root, fps=10.0, resolution=(32, 64), actions=a)) for a in ("ego_pose", "can_bus")}


def _close(est: np.ndarray, true: np.ndarray, what: str) -> None:
    """Speed within 1%; yaw rate within 2% or 0.005 rad/s, whichever is larger."""
    speed_err = np.abs(est[:, 0] - true[:, 0]) / np.maximum(np.abs(true[:, 0]), 1e-3)
    yaw_err = np.abs(est[:, 1] - true[:, 1])
    assert speed_err.max() <= 0.01, f"{what}: speed off by {speed_err.max():.2%}"
    assert np.all(yaw_err <= np.maximum(0.02 * np.abs(true[:, 1]), 0.005)), f"{what}: yaw rate off by {yaw_err.max()}"


def test_devkit_loads_and_clips_have_the_requested_frames_fps_and_resolution(export):
    root, clips = export
    source = NuScenesSource(root, "v1.0-mini", fps=5.0, frames=8, resolution=(32, 48))
    out = list(source)
    assert len(out) == len(source) == source.report.clips > len(clips)
    for clip in out:
        assert len(clip) == 8 and clip.resolution == (32, 48) and clip.frames.dtype == np.uint8
        np.testing.assert_allclose(np.diff(clip.timestamps), 0.2, atol=1e-9)
        assert clip.meta["source"] == "nuscenes" and clip.meta["actions_from"] == "ego_pose"
        assert np.asarray(clip.meta["intrinsics"]).shape == (3, 3)
    names = [c.meta["scene"] for c in out]
    for clip in out:  # the camera mount comes back from calibrated_sensor (what warp proposals reproject with)
        written = clips[list(NUSCENES_MINI_SCENES).index(clip.meta["scene"])].meta["camera"]
        for key in ("height_m", "x_m", "pitch_rad"):
            assert clip.meta["camera"][key] == pytest.approx(written[key], abs=1e-6)
    assert sorted(set(names)) == sorted(NUSCENES_MINI_SCENES[: len(clips)])
    by_scene = {c.meta["scene"]: c for c in out}
    assert by_scene["scene-0061"].text == clips[0].text  # a simulator caption is already normalised
    assert by_scene[NUSCENES_MINI_SCENES[ARC]].text == "night, light rain, parked cars"


def test_ego_pose_actions_match_the_simulator(export, scenes):
    _, clips = export
    for clip, truth in zip(scenes["ego_pose"], clips, strict=True):
        assert len(clip) == len(truth)
        # the last frame has no next pose: its row repeats, as the Clip contract says
        _close(clip.actions[:-1], truth.actions[:-1], clip.meta["scene"])
    # resampled to 5 Hz: exact time averages of the same steps
    for clip, truth in zip(NuScenesSource(export[0], fps=5.0, resolution=(32, 64)), clips, strict=True):
        want = resample(truth.slice(0, len(truth) - 1), 5.0).actions
        _close(clip.actions[: len(want) - 1], want[:-1], clip.meta["scene"] + " at 5 Hz")


def test_can_bus_paths_agree_with_ego_pose(export, scenes):
    root, _ = export
    steering = list(NuScenesSource(root, fps=10.0, resolution=(32, 64), actions="can_steering"))
    for pose, can, steer in zip(scenes["ego_pose"], scenes["can_bus"], steering, strict=True):
        assert can.meta["actions_from"] == "can_bus" and steer.meta["actions_from"] == "can_steering"
        _close(can.actions, pose.actions, f"{pose.meta['scene']} can_bus")
        _close(steer.actions, pose.actions, f"{pose.meta['scene']} can_steering")


def test_a_left_turn_is_a_positive_yaw_rate(scenes):
    for source in ("ego_pose", "can_bus"):
        left, right = scenes[source][LEFT], scenes[source][ARC]
        assert np.all(left.actions[:, 1] > 0.01), source
        assert np.all(right.actions[:, 1] < -0.1), source
        # and the camera sees the world swing right: the recovered heading turns counter-clockwise
        poses = np.asarray(left.meta["poses"])
        assert poses[-1, 2] - poses[0, 2] > 0.3


def test_uneven_sweep_spacing_is_used_not_assumed(export, scenes):
    _, clips = export
    source = NuScenesSource(export[0], fps=100.0, resolution=(32, 64))
    raw = source.scene_clip(source.scenes[ARC])  # at 100 Hz every source frame survives, at its real time
    assert np.std(np.diff(clips[ARC].timestamps)) > 0.005
    np.testing.assert_allclose(raw.actions[:, 0], 7.0, rtol=1e-4)
    np.testing.assert_allclose(raw.actions[:, 1], -0.15, rtol=1e-4)


def test_a_scene_without_can_files_falls_back_with_a_warning(export, tmp_path):
    root = Path(shutil.copytree(export[0], tmp_path / "ns"))
    scene = NUSCENES_MINI_SCENES[1]
    for path in root.glob(f"can_bus/{scene}_*.json"):
        path.unlink()
    source = NuScenesSource(root, fps=10.0, resolution=(32, 64), actions="can_bus")
    with pytest.warns(NuScenesWarning, match=f"{scene}: no usable CAN bus data"):
        out = {c.meta["scene"]: c for c in source}
    assert list(source.report.can_fallbacks) == [scene]
    assert out[scene].meta["actions_from"] == "ego_pose" and out["scene-0061"].meta["actions_from"] == "can_bus"
    shutil.rmtree(root / "can_bus")  # no CAN expansion at all: every scene falls back
    with pytest.warns(NuScenesWarning, match="CAN bus directory not found"):
        assert all(c.meta["actions_from"] == "ego_pose" for c in NuScenesSource(root, actions="can_steering"))


def test_bad_input_errors_name_the_path_or_table(export, tmp_path):
    root = export[0]
    with pytest.raises(NuScenesError, match=r"dataroot not found: .*nowhere"):
        NuScenesSource(tmp_path / "nowhere")
    with pytest.raises(NuScenesError, match=r"unknown nuScenes version 'v1.0-trainval'.*\['v1.0-mini'\]"):
        NuScenesSource(root, "v1.0-trainval")
    broken = Path(shutil.copytree(root, tmp_path / "ns"))
    (broken / "v1.0-mini" / "ego_pose.json").unlink()
    with pytest.raises(NuScenesError, match=r"missing table\(s\) \['ego_pose'\].*ego_pose.json"):
        NuScenesSource(broken)
    with pytest.raises(NuScenesError, match="unknown split 'nope'"):
        NuScenesSource(root, split="nope")
    with pytest.raises(NuScenesError, match="split 'val' belongs to a \\*trainval version"):
        NuScenesSource(root, split="val")
    with pytest.raises(NuScenesError, match="no channel 'CAM_BACK'"):
        NuScenesSource(root, channel="CAM_BACK")


def test_a_missing_image_is_skipped_counted_and_reported(export, tmp_path):
    root = Path(shutil.copytree(export[0], tmp_path / "ns"))
    sweep = sorted((root / "sweeps" / "CAM_FRONT").glob("scene-0061__*.jpg"))
    sweep[3].unlink()
    source = NuScenesSource(root, fps=10.0, resolution=(32, 64), split="mini_train")
    with pytest.warns(NuScenesWarning, match=f"scene-0061: skipped 1 missing .*{sweep[3].name}"):
        out = list(source)
    assert source.report.missing_images == [str(sweep[3])]
    assert out[0].meta["missing_images"] == 1 and len(out[0]) == len(export[1][0])  # the gap is resampled over
    _close(out[0].actions[:-1], export[1][0].actions[:-1], "with a missing frame")


def test_splits_come_from_the_devkit(export):
    root, clips = export
    val = list(NuScenesSource(root, split="mini_val"))
    assert [c.meta["scene"] for c in val] == ["scene-0103"]
    assert len(NuScenesSource(root, split="mini_train")) == MINI_VAL
    assert len(val[0]) == len(clips[MINI_VAL])


def test_cli_writes_shards_and_a_manifest_that_nuscenes_specs_read(export, tmp_path):
    root, clips = export
    out = tmp_path / "clips"
    args = ["data", "nuscenes", "--root", str(root), "--version", "v1.0-mini", "--split", "mini_train"]
    assert main([*args, "--out", str(out), "--height", "32", "--width", "64", "--actions", "can_bus"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"] == "nuscenes" and manifest["actions"] == "can_bus" and manifest["split"] == "mini_train"
    assert len(manifest["episodes"]) == MINI_VAL and manifest["report"]["missing_images"] == 0
    left = manifest["episodes"][LEFT]
    assert left["scene"] == NUSCENES_MINI_SCENES[LEFT] and left["yaw_rate_rps"]["min"] > 0
    assert left["heading_change_rad"] > 0.3 and left["distance_m"] > 0
    assert manifest["episodes"][0]["speed_mps"]["mean"] == pytest.approx(clips[0].actions[:, 0].mean(), rel=0.01)
    shards = open_source(f"nuscenes:{out}")
    assert isinstance(shards, ShardSource) and len(shards) == MINI_VAL
    first = next(iter(shards))
    assert first.resolution == (32, 64) and first.meta["scene"] == "scene-0061"
    direct = open_source(f"nuscenes:{root}?split=mini_val&frames=4&height=16&width=32")
    assert isinstance(direct, NuScenesSource) and direct.version == "v1.0-mini"
    assert {c.resolution for c in direct} == {(16, 32)}
    assert main(["data", "nuscenes", "--root", str(tmp_path / "none"), "--out", str(out)]) == 2


def test_step_rates_are_exact_on_arcs_and_signed_when_reversing():
    t = np.cumsum([0.0, 0.08, 0.09, 0.07, 0.1])
    yaw = 3.0 + 0.4 * t  # crosses +pi: unwrapped
    r = 5.0 / 0.4
    xy = np.stack([r * (np.sin(yaw) - np.sin(3.0)), -r * (np.cos(yaw) - np.cos(3.0))], axis=-1)
    speed, rate = step_speed_yaw_rate(t, xy, np.angle(np.exp(1j * yaw)))
    np.testing.assert_allclose(speed, 5.0, rtol=1e-9)
    np.testing.assert_allclose(rate, 0.4, rtol=1e-9)
    back, _ = step_speed_yaw_rate([0.0, 0.1, 0.2], [[0.0, 0.0], [-0.5, 0.0], [-1.0, 0.0]], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(back, -5.0)  # facing +x, moving -x: reversing


def test_frame_actions_merge_steps_and_signals_need_coverage():
    t = np.array([0.0, 0.1, 0.3, 0.4])
    steps = np.array([[1.0, 0.0], [2.0, 0.1], [4.0, 0.2]])
    np.testing.assert_allclose(frame_actions(t, steps, [0, 2, 3]), [[5 / 3, 0.2 / 3], [4.0, 0.2], [4.0, 0.2]])
    np.testing.assert_allclose(signal_at_step_midpoints(t, [0.0, 1.0], [0.0, 10.0]), [0.5, 2.0, 3.5])
    with pytest.raises(SignalCoverageError, match="vehicle_speed: messages span"):
        signal_at_step_midpoints(t, [5.0, 6.0], [1.0, 1.0], "vehicle_speed")
    with pytest.raises(SignalCoverageError, match="no messages"):
        signal_at_step_midpoints(t, [], [])


def test_caption_normalisation_uses_the_simulator_vocabulary():
    sim = "dusk, light fog, rural two-lane road curving left, light traffic"
    assert normalize_caption(sim) == sim
    assert normalize_caption("Night, rain, parked cars, peds") == "night, light rain, parked cars, peds"
    assert (
        normalize_caption("Heavy rain, intersection, heavy traffic") == "day, heavy rain, intersection, heavy traffic"
    )
    assert normalize_caption("Wait at intersection, peds") == "day, clear, wait at intersection, peds"


def test_the_devkit_is_imported_only_when_a_dataroot_is_read():
    code = (
        "import sys\n"
        "import drivedreamer_env.cli, drivedreamer_env.sources, drivedreamer_env.sources.token_cache\n"
        "import drivedreamer_env.nuscenes.reader, drivedreamer_env.nuscenes.writer, drivedreamer_env.nuscenes.shards\n"
        "drivedreamer_env.cli.build_parser()\n"
        "sys.exit(int('nuscenes' in sys.modules))\n"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
