"""Round trip: simulator-like episodes -> nuScenes on-disk format -> the official devkit reads them back."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("nuscenes")

from nuscenes.can_bus.can_bus_api import NuScenesCanBus
from nuscenes.nuscenes import NuScenes
from nuscenes.utils.geometry_utils import view_points
from nuscenes.utils.splits import create_splits_scenes
from pyquaternion import Quaternion

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.nuscenes.schema import CAN_BLACKLIST, NUSCENES_MINI_SCENES, TABLES
from drivedreamer_env.nuscenes.writer import NuScenesExportError, export_nuscenes
from drivedreamer_env.nuscenes.writer.constants import MARKER_FILE
from drivedreamer_env.nuscenes.writer.episode import select_keyframes
from drivedreamer_env.nuscenes.writer.naming import scene_names
from drivedreamer_env.sim.ego import integrate_pose
from drivedreamer_env.units import (
    VehicleGeometry,
    quaternion_to_yaw,
    road_wheel_rad_to_steering_wheel_deg,
    wrap_angle,
    yaw_rate_to_steering,
)

H, W = 32, 64
FX, FY, CX, CY = 40.0, 42.0, 32.0, 16.0
INTRINSICS = [[FX, 0.0, CX], [0.0, FY, CY], [0.0, 0.0, 1.0]]
CAMERA = {"x_m": 1.5, "y_m": 0.0, "height_m": 1.6, "pitch_rad": 0.05}
HALF_WIDTH_M = 5.25
GEOMETRY = VehicleGeometry()


def _arc(t: np.ndarray, speed: float, yaw_rate: float, x0: float, y0: float, yaw0: float) -> np.ndarray:
    """(T, 3) exact x, y, yaw of constant speed [m/s] and yaw rate [rad/s] from (x0, y0, yaw0) at t = 0."""
    yaw = yaw0 + yaw_rate * t
    if yaw_rate == 0.0:
        x, y = x0 + speed * t * np.cos(yaw0), y0 + speed * t * np.sin(yaw0)
    else:
        r = speed / yaw_rate
        x, y = x0 + r * (np.sin(yaw) - np.sin(yaw0)), y0 - r * (np.cos(yaw) - np.cos(yaw0))
    return np.stack([x, y, yaw], axis=-1)


def _clip(
    caption: str, speed: float, yaw_rate: float, start: tuple[float, float, float], seed: int, n: int = 30,
    jitter_s: float = 0.0, t0: float = 100.0, as_lists: bool = False, steer_label: bool = True,
    lane_offset_m: float = 0.0,
) -> Clip:  # fmt: skip
    rng = np.random.default_rng(seed)
    t = t0 + np.arange(n) * 0.1 + rng.uniform(-jitter_s, jitter_s, n)
    poses = _arc(t - t[0], speed, yaw_rate, *start)
    road = _arc(np.arange(-5.0, (t[-1] - t[0]) + 5.0, 0.05), speed, yaw_rate, *start)
    # the road centre runs lane_offset_m to the ego's left (the ego keeps to a right lane)
    road = road[:, :2] + lane_offset_m * np.stack([-np.sin(road[:, 2]), np.cos(road[:, 2])], axis=-1)
    # Smooth RGB frames (JPEG keeps them close) with a distinct colour per channel to catch BGR swaps.
    ramp = np.linspace(0, 200, W)[None, None, :] + 2.0 * np.arange(n)[:, None, None]
    frames = np.empty((n, H, W, 3), dtype=np.uint8)
    frames[..., 0] = 210
    frames[..., 1] = np.broadcast_to(ramp, (n, H, W)).astype(np.uint8)
    frames[..., 2] = 30 + seed
    meta = {
        "source": "sim",
        "scene": f"procdrive-{seed}",
        "seed": np.int64(seed),
        "style": {"time_of_day": "day", "weather": "clear"},
        "poses": poses,
        "intrinsics": INTRINSICS,
        "camera": dict(CAMERA),
        "road": {"centerline": road, "half_width_m": HALF_WIDTH_M},
        "labels": {"steer_rad": yaw_rate_to_steering(np.full(n, yaw_rate), speed, GEOMETRY.wheelbase_m)},
    }
    if not steer_label:
        meta["labels"] = {}
    if as_lists:  # what a JSON round trip (or a shard) hands over
        meta = json.loads(json.dumps(meta, default=lambda o: o.tolist()))
    actions = np.tile(np.array([speed, yaw_rate], dtype=np.float32), (n, 1))
    return Clip(frames, t, actions, caption, meta)


def _clips(captions: tuple[str, ...] = ("left arc", "straight west", "gentle right")) -> list[Clip]:
    return [
        _clip(captions[0], 8.0, 0.2, (0.0, 0.0, 0.0), seed=1, as_lists=True),
        _clip(captions[1], 8.0, 0.0, (-50.0, -20.0, 3.0), seed=2, lane_offset_m=3.5),
        _clip(captions[2], 6.0, -0.1, (20.0, -70.0, 0.5), seed=3, n=25, jitter_s=0.02, steer_label=False),
    ]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    clips = _clips()
    root = export_nuscenes(clips, tmp_path_factory.mktemp("export") / "nuscenes")
    nusc = NuScenes(version="v1.0-mini", dataroot=str(root), verbose=False)
    marker = json.loads((root / MARKER_FILE).read_text())
    return root, clips, nusc, marker


def _scene(nusc: NuScenes, name: str) -> dict:
    return next(s for s in nusc.scene if s["name"] == name)


def _camera_records(nusc: NuScenes, scene: dict) -> list[dict]:
    """All CAM_FRONT sample_data of a scene by walking the prev/next chain from its first sample."""
    sd = nusc.get("sample_data", nusc.get("sample", scene["first_sample_token"])["data"]["CAM_FRONT"])
    while sd["prev"]:
        sd = nusc.get("sample_data", sd["prev"])
    chain = [sd]
    while chain[-1]["next"]:
        chain.append(nusc.get("sample_data", chain[-1]["next"]))
    return chain


def test_devkit_loads_all_tables_with_standard_vocabularies(exported):
    root, _, nusc, _ = exported
    assert sorted(p.stem for p in (root / "v1.0-mini").glob("*.json")) == sorted(TABLES)
    assert len(TABLES) == 13
    assert {c["name"] for c in nusc.category} >= {"vehicle.car", "human.pedestrian.adult"}
    assert {a["name"] for a in nusc.attribute} >= {"vehicle.moving", "vehicle.parked", "vehicle.stopped"}
    assert sorted(v["token"] for v in nusc.visibility) == ["1", "2", "3", "4"]
    assert nusc.sensor == [{"token": nusc.sensor[0]["token"], "channel": "CAM_FRONT", "modality": "camera"}]
    tokens = [r["token"] for t in TABLES if t != "visibility" for r in getattr(nusc, t)]
    assert all(len(tok) == 32 and int(tok, 16) >= 0 for tok in tokens)
    assert len(set(tokens)) == len(tokens)
    umask = os.umask(0o022)
    os.umask(umask)
    assert {p.stat().st_mode & 0o777 for p in root.rglob("*") if p.is_file()} == {0o666 & ~umask}
    assert {p.stat().st_mode & 0o777 for p in [root, *root.rglob("*")] if p.is_dir()} == {0o777 & ~umask}


def test_scene_names_captions_logs_and_mini_splits(exported):
    _, clips, nusc, _ = exported
    names = [s["name"] for s in nusc.scene]
    assert names == list(NUSCENES_MINI_SCENES[: len(clips)])
    assert [s["description"] for s in nusc.scene] == [c.text for c in clips]
    splits = create_splits_scenes()
    assert set(names) <= set(splits["mini_train"] + splits["mini_val"])
    assert len({s["log_token"] for s in nusc.scene}) == len(clips)
    assert all(log["location"] == "procdrive-town" and log["map_token"] for log in nusc.log)
    starts = [nusc.get("sample", s["first_sample_token"])["timestamp"] for s in nusc.scene]
    ends = [_camera_records(nusc, s)[-1]["timestamp"] for s in nusc.scene]
    assert all(e < s for e, s in zip(ends[:-1], starts[1:], strict=True)), "scenes overlap in time"


def test_every_frame_in_the_chain_with_a_round_tripping_ego_pose(exported):
    _, clips, nusc, marker = exported
    offset = np.array(marker["global_offset_m"])
    assert len(nusc.sample_data) == len(nusc.ego_pose) == sum(len(c) for c in clips)
    for scene, clip in zip(nusc.scene, clips, strict=True):
        chain = _camera_records(nusc, scene)
        assert len(chain) == len(clip)
        utimes = np.array([sd["timestamp"] for sd in chain])
        assert np.all(np.diff(utimes) > 0)
        np.testing.assert_allclose((utimes - utimes[0]) / 1e6, clip.timestamps - clip.timestamps[0], atol=1e-6)
        poses = np.asarray(clip.meta["poses"], dtype=np.float64)
        ego = [nusc.get("ego_pose", sd["ego_pose_token"]) for sd in chain]
        assert [e["timestamp"] for e in ego] == utimes.tolist()
        xyz = np.array([e["translation"] for e in ego])
        np.testing.assert_allclose(xyz[:, :2] - offset, poses[:, :2], atol=1e-6)
        np.testing.assert_allclose(xyz[:, 2], 0.0)
        yaw = quaternion_to_yaw(np.array([e["rotation"] for e in ego]))
        np.testing.assert_allclose(wrap_angle(yaw - poses[:, 2]), 0.0, atol=1e-6)


def test_keyframes_every_half_second_and_sweeps_point_to_the_next_sample(exported):
    _, _, nusc, _ = exported
    for scene in nusc.scene:
        chain = _camera_records(nusc, scene)
        keys = [sd for sd in chain if sd["is_key_frame"]]
        assert len(keys) == scene["nbr_samples"] >= 5
        samples = [nusc.get("sample", sd["sample_token"]) for sd in keys]
        assert samples[0]["token"] == scene["first_sample_token"]
        assert samples[-1]["token"] == scene["last_sample_token"]
        assert [s["data"]["CAM_FRONT"] for s in samples] == [sd["token"] for sd in keys]
        assert all(s["timestamp"] == sd["timestamp"] for s, sd in zip(samples, keys, strict=True))
        gaps_s = np.diff([s["timestamp"] for s in samples]) / 1e6
        np.testing.assert_allclose(gaps_s, 0.5, atol=0.05 + 0.04)  # half a frame plus timestamp jitter
        assert all(a["next"] == b["token"] and b["prev"] == a["token"] for a, b in itertools.pairwise(samples))
        for sd in chain:
            folder = "samples" if sd["is_key_frame"] else "sweeps"
            assert sd["filename"].startswith(f"{folder}/CAM_FRONT/{scene['name']}__CAM_FRONT__")
            later = [s for s in samples if s["timestamp"] >= sd["timestamp"]]
            assert sd["sample_token"] == (later[0] if later else samples[-1])["token"]


def test_images_read_back_through_the_devkit_path(exported):
    _, clips, nusc, _ = exported
    for scene, clip in zip(nusc.scene, clips, strict=True):
        for i, sd in enumerate(_camera_records(nusc, scene)):
            path = Path(nusc.get_sample_data_path(sd["token"]))
            assert path.is_file() and path.suffix == ".jpg"
            assert (sd["height"], sd["width"]) == (H, W)
            rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            assert rgb.shape == (H, W, 3)
            assert np.abs(rgb.astype(int) - clip.frames[i].astype(int)).mean() < 3.0


def test_can_bus_messages_carry_speed_steering_and_yaw_rate(exported):
    root, clips, nusc, _ = exported
    can = NuScenesCanBus(dataroot=str(root))
    for scene, clip in zip(nusc.scene, clips, strict=True):
        speed, yaw_rate = clip.actions[:, 0].astype(float), clip.actions[:, 1].astype(float)
        monitor = can.get_messages(scene["name"], "vehicle_monitor")
        pose = can.get_messages(scene["name"], "pose")
        feedback = can.get_messages(scene["name"], "steeranglefeedback")
        chain = _camera_records(nusc, scene)
        frame_us = np.array([sd["timestamp"] for sd in chain])
        utimes = [m["utime"] for m in monitor]
        assert utimes == [p["utime"] for p in pose] == [f["utime"] for f in feedback]
        # one message per step, stamped at the step's midpoint (the held values jump at the frame times)
        half_us = np.append(np.diff(frame_us) // 2, np.diff(frame_us)[-1] // 2)
        np.testing.assert_array_equal(utimes, frame_us + half_us)
        np.testing.assert_allclose([m["vehicle_speed"] for m in monitor], speed * 3.6, rtol=1e-9)
        np.testing.assert_allclose([m["yaw_rate"] for m in monitor], np.rad2deg(yaw_rate), rtol=1e-6)
        steer = clip.meta["labels"].get("steer_rad", yaw_rate_to_steering(yaw_rate, speed, GEOMETRY.wheelbase_m))
        expected_deg = road_wheel_rad_to_steering_wheel_deg(steer, GEOMETRY.steering_ratio)
        np.testing.assert_allclose([m["steering"] for m in monitor], expected_deg, rtol=1e-6)
        np.testing.assert_allclose([f["value"] for f in feedback], np.deg2rad(expected_deg), rtol=1e-6)
        # + left, like the yaw rate: the nuScenes CAN bus README (devkit issue #371 settled the sign)
        assert np.sign(monitor[0]["steering"]) == np.sign(feedback[0]["value"]) == np.sign(yaw_rate[0])
        np.testing.assert_allclose([p["rotation_rate"] for p in pose], np.outer(yaw_rate, [0, 0, 1]), atol=1e-6)
        np.testing.assert_allclose([p["vel"] for p in pose], np.outer(speed, [1, 0, 0]), atol=1e-6)
        # the pose half a step along the arc from the frame's ego pose, at the held speed and yaw rate
        ego = [nusc.get("ego_pose", sd["ego_pose_token"]) for sd in chain]
        ego_yaw = quaternion_to_yaw([e["rotation"] for e in ego])
        expected = np.array(
            [
                integrate_pose(e["translation"][0], e["translation"][1], y, v, w, h / 1e6)
                for e, y, v, w, h in zip(ego, ego_yaw, speed, yaw_rate, half_us, strict=True)
            ]
        )
        np.testing.assert_allclose([p["pos"][:2] for p in pose], expected[:, :2], atol=1e-4)
        pose_yaw = quaternion_to_yaw([p["orientation"] for p in pose])
        np.testing.assert_allclose(wrap_angle(pose_yaw - expected[:, 2]), 0.0, atol=1e-6)
        if len(chain) > 2:  # the next frame's ego pose lies on the same arc
            np.testing.assert_allclose(
                expected[0, :2], (np.array(ego[0]["translation"][:2]) + ego[1]["translation"][:2]) / 2, atol=0.05
            )
        route, ego_xy = can.get_pose_and_route(scene["name"])
        assert np.max(np.min(np.linalg.norm(ego_xy[:, None] - route[None], axis=-1), axis=1)) < 1.0


def test_camera_calibration_projects_with_devkit_conventions(exported):
    _, _, nusc, _ = exported
    cs = nusc.calibrated_sensor[0]
    np.testing.assert_allclose(cs["translation"], [CAMERA["x_m"], CAMERA["y_m"], CAMERA["height_m"]])
    np.testing.assert_allclose(cs["camera_intrinsic"], INTRINSICS)
    q = Quaternion(cs["rotation"])
    c, s = np.cos(CAMERA["pitch_rad"]), np.sin(CAMERA["pitch_rad"])
    # columns: camera x (right), y (down), z (optical axis, pitched down) expressed in the ego frame
    np.testing.assert_allclose(q.rotation_matrix, [[0, -s, c], [-1, 0, 0], [0, -c, -s]], atol=1e-12)

    def to_pixel(point_ego: list[float]) -> np.ndarray:
        # the devkit's ego -> sensor step (see NuScenes.get_sample_data): translate by -t, rotate by q^-1
        p_cam = q.inverse.rotate(np.asarray(point_ego) - np.asarray(cs["translation"]))
        assert p_cam[2] > 0, "point behind the camera"
        return view_points(p_cam.reshape(3, 1), np.asarray(cs["camera_intrinsic"]), normalize=True)[:2, 0]

    u, v = to_pixel([20.0, 0.0, CAMERA["height_m"]])
    assert u == pytest.approx(CX, abs=1e-9)
    assert v == pytest.approx(CY - FY * np.tan(CAMERA["pitch_rad"]), abs=1e-9)  # above centre: looking down
    assert to_pixel([20.0, 3.0, CAMERA["height_m"]])[0] < CX  # ego left is image left
    assert to_pixel([20.0, 0.0, 0.0])[1] > v  # the ground ahead is below the horizon


def test_map_mask_covers_the_driven_road_only(exported):
    root, clips, nusc, marker = exported
    assert marker["map"]["resolution_m"] == pytest.approx(0.1)
    (map_record,) = nusc.map
    assert sorted(map_record["log_tokens"]) == sorted(log["token"] for log in nusc.log)
    png = cv2.imread(str(root / map_record["filename"]), cv2.IMREAD_UNCHANGED)
    assert png.ndim == 2 and max(png.shape) <= 4000 and set(np.unique(png)) <= {0, 255}
    mask = map_record["mask"]
    ego = np.array([e["translation"] for e in nusc.ego_pose])
    assert mask.is_on_mask(ego[:, 0], ego[:, 1]).all()
    offset = np.array(marker["global_offset_m"])
    roads = np.concatenate([np.asarray(c.meta["road"]["centerline"]) for c in clips]) + offset
    beside = []
    for clip in clips:
        p = np.asarray(clip.meta["poses"])
        left = np.stack([-np.sin(p[:, 2]), np.cos(p[:, 2])], axis=-1)
        beside.append(p[:, :2] + offset + 15.0 * left)
    beside = np.concatenate(beside)
    far = np.min(np.linalg.norm(beside[:, None] - roads[None], axis=-1), axis=1) > HALF_WIDTH_M + 1.0
    assert far.sum() > 10
    assert not mask.is_on_mask(beside[far, 0], beside[far, 1]).any()


def test_export_is_deterministic_and_guards_the_output_directory(exported, tmp_path):
    root = exported[0]
    again = export_nuscenes(_clips(), tmp_path / "again")
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((root / f).read_bytes() == (again / f).read_bytes() for f in files)
    export_nuscenes(_clips(), again)  # the same dataset again is fine
    with pytest.raises(NuScenesExportError, match=str(again)):
        export_nuscenes(_clips(("other", "captions", "here")), again)
    assert NuScenes("v1.0-mini", str(again), verbose=False).scene[0]["description"] == "left arc"
    export_nuscenes(_clips(("other", "captions", "here")), again, overwrite=True)
    assert NuScenes("v1.0-mini", str(again), verbose=False).scene[0]["description"] == "other"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(NuScenesExportError, match="overwrite=True"):
        export_nuscenes(_clips(), foreign)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "staging directories left behind"


def test_sequential_names_for_other_versions_skip_can_blacklist(tmp_path):
    names = scene_names(400, "v1.0-trainval")
    assert names[:2] == ["scene-0001", "scene-0002"] and len(set(names)) == 400
    assert not {int(n[-4:]) for n in names} & CAN_BLACKLIST
    assert scene_names(11, "v1.0-mini")[0] == "scene-0001"  # more than the 10 mini scenes
    root = export_nuscenes(_clips()[:1], tmp_path / "trainval", version="v1.0-trainval")
    nusc = NuScenes("v1.0-trainval", str(root), verbose=False)
    assert [s["name"] for s in nusc.scene] == ["scene-0001"]
    assert len(NuScenesCanBus(dataroot=str(root)).get_messages("scene-0001", "vehicle_monitor")) == 30


def test_select_keyframes_picks_frames_nearest_to_the_interval():
    t = 5.0 + np.arange(30) * 0.1
    assert select_keyframes(t, 0.5).tolist() == [0, 5, 10, 15, 20, 25]
    uneven = np.array([0.0, 0.12, 0.31, 0.48, 0.55, 0.9, 1.02])
    assert select_keyframes(uneven, 0.5).tolist() == [0, 3, 6]
    assert select_keyframes(t, 0.05).tolist() == list(range(30))
    assert select_keyframes(np.array([1.0]), 0.5).tolist() == [0]


def test_missing_meta_is_a_clear_error(tmp_path):
    clip = _clips()[1]
    del clip.meta["poses"]
    with pytest.raises(NuScenesExportError, match="poses"):
        export_nuscenes([clip], tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    with pytest.raises(NuScenesExportError, match="no clips"):
        export_nuscenes([], tmp_path / "empty")


def test_large_maps_are_coarsened_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="MapMask"):
        root = export_nuscenes(_clips(), tmp_path / "coarse", max_map_px=300)
    marker = json.loads((root / MARKER_FILE).read_text())
    width, height = marker["map"]["size_px"]
    assert max(width, height) <= 300 and marker["map"]["resolution_m"] > 0.1


def test_cli_exports_simulator_episodes_that_the_devkit_reads(tmp_path):
    """End to end: `drivedreamer data sim --format nuscenes` on real simulator episodes."""
    from nuscenes.nuscenes import NuScenes

    from drivedreamer_env.cli import main
    from drivedreamer_env.units import quaternion_to_yaw

    out = tmp_path / "nusc"
    assert main(["data", "sim", "--episodes", "2", "--steps", "25", "--out", str(out), "--format", "nuscenes"]) == 0
    nusc = NuScenes(version="v1.0-mini", dataroot=str(out), verbose=False)
    assert len(nusc.scene) == 2
    provenance = json.loads((out / "drivedreamer_export.json").read_text())
    offset = np.asarray(provenance["global_offset_m"], float)
    seeds = {s["name"]: int(s["seed"]) for s in provenance["scenes"]}
    from drivedreamer_env.sim import SimConfig, Simulator
    from drivedreamer_env.sim.record import record_episode

    for scene in nusc.scene:
        sd = nusc.get("sample_data", nusc.get("sample", scene["first_sample_token"])["data"]["CAM_FRONT"])
        poses = []
        while True:
            ep = nusc.get("ego_pose", sd["ego_pose_token"])
            poses.append([*np.asarray(ep["translation"][:2]) - offset[:2], quaternion_to_yaw(ep["rotation"])])
            if not sd["next"]:
                break
            sd = nusc.get("sample_data", sd["next"])
        clip = record_episode(Simulator(SimConfig()), seeds[scene["name"]], 25)
        assert scene["description"] == clip.text
        np.testing.assert_allclose(np.array(poses), clip.meta["poses"], atol=1e-6)
