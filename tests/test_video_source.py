"""VideoSource and open_source: decoding, RGB order, frame times, action CSVs, skipped frames, errors."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import cv2
import imageio
import numpy as np
import pytest

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.shards import ShardSource, write_clip, write_manifest
from drivedreamer_env.data.video import VideoSource, VideoSourceError
from drivedreamer_env.nuscenes.schema import TABLES
from drivedreamer_env.sources import ClipSource, DataSpecError, open_source
from drivedreamer_env.units import VehicleGeometry, steering_wheel_deg_to_yaw_rate

H, W, N_FRAMES, FPS = 64, 128, 12, 10.0
BAR_PX = 8  # frame i has a white vertical bar at columns [8i, 8i + 8) on a red background


def bar_frame(i: int) -> np.ndarray:
    frame_HW3 = np.zeros((H, W, 3), np.uint8)
    frame_HW3[..., 0] = 255
    frame_HW3[:, i * BAR_PX : (i + 1) * BAR_PX] = 255
    return frame_HW3


def bar_position(frame_HW3: np.ndarray) -> int:
    """Index encoded by :func:`bar_frame`: the green channel is bright only on the bar."""
    return int(np.argmax(frame_HW3[H // 2, :, 1].astype(int).reshape(-1, BAR_PX).sum(axis=1)))


def write_csv(path: Path, header: str, rows: list[tuple[float, ...]]) -> Path:
    path.write_text(header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "drive.mp4"
    with imageio.get_writer(path, fps=FPS, codec="libx264", quality=9, macro_block_size=16) as writer:
        for i in range(N_FRAMES):
            writer.append_data(bar_frame(i))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Five PNGs named so that natural order differs from lexical order (f_2 before f_10)."""
    directory = tmp_path / "frames"
    directory.mkdir()
    for i, n in enumerate([1, 2, 3, 10, 20]):
        cv2.imwrite(str(directory / f"f_{n}.png"), cv2.cvtColor(bar_frame(i), cv2.COLOR_RGB2BGR))
    return directory


def test_mp4_frames_shape_rgb_and_times(mp4: Path) -> None:
    source = VideoSource(mp4)
    clips = list(source)
    assert len(source) == 1 and len(clips) == 1
    clip = clips[0]
    assert clip.frames.shape == (N_FRAMES, H, W, 3) and clip.frames.dtype == np.uint8
    np.testing.assert_allclose(clip.timestamps, np.arange(N_FRAMES) / FPS)
    assert [bar_position(f) for f in clip.frames] == list(range(N_FRAMES))
    background = clip.frames[:, :, -BAR_PX:].reshape(-1, 3).mean(axis=0)  # no bar reaches the right edge
    assert background[0] > 200 and background[2] < 60, f"red background decoded as {background} (BGR swap?)"
    assert clip.meta["source"] == "video" and clip.meta["path"] == str(mp4)
    assert clip.meta["has_actions"] is False and clip.meta["skipped_frames"] == 0
    assert np.all(clip.actions == 0)


def test_csv_one_row_per_frame_gives_frame_times(mp4: Path, tmp_path: Path) -> None:
    t = np.cumsum([0.0] + [0.08, 0.12] * ((N_FRAMES - 1) // 2) + [0.1] * ((N_FRAMES - 1) % 2))
    rows = [(ti, 5.0 + i, 0.01 * i) for i, ti in enumerate(t)]
    csv = write_csv(tmp_path / "a.csv", "timestamp,speed,yaw_rate", rows)
    clip = next(iter(VideoSource(mp4, actions_csv=csv)))
    np.testing.assert_allclose(clip.timestamps, t)
    np.testing.assert_allclose(clip.actions, np.array([r[1:] for r in rows]), rtol=1e-6)
    assert clip.meta["has_actions"] is True and clip.meta["frame_times"] == "csv"


def test_csv_at_uneven_times_is_interpolated_onto_frame_times(mp4: Path, tmp_path: Path) -> None:
    # speed_kmh and yaw rate linear in time, so linear interpolation must reproduce them exactly.
    t_csv = np.array([0.0, 0.13, 0.41, 0.5, 0.97, 1.3])
    rows = [(f"img_{i}.png", t, 3.6 * (2.0 + 3.0 * t), 0.1 - 0.2 * t) for i, t in enumerate(t_csv)]
    csv = write_csv(tmp_path / "a.csv", "file,timestamp,speed_kmh,yaw_rate", rows)  # extra columns ignored
    clip = next(iter(VideoSource(mp4, actions_csv=csv)))
    frame_t = np.arange(N_FRAMES) / FPS
    np.testing.assert_allclose(clip.timestamps, frame_t)
    np.testing.assert_allclose(clip.actions[:, 0], 2.0 + 3.0 * frame_t, rtol=1e-5)  # km/h -> m/s
    np.testing.assert_allclose(clip.actions[:, 1], 0.1 - 0.2 * frame_t, atol=1e-6)
    assert clip.meta["frame_times"] == "fps"


def test_csv_with_absolute_times_offsets_the_frame_clock(mp4: Path, tmp_path: Path) -> None:
    rows = [(1000.0, 1.0, 0.0), (1000.5, 2.0, 0.0), (1001.5, 2.0, 0.0)]
    csv = write_csv(tmp_path / "a.csv", "timestamp,speed,yaw_rate", rows)
    clip = next(iter(VideoSource(mp4, actions_csv=csv)))
    np.testing.assert_allclose(clip.timestamps, 1000.0 + np.arange(N_FRAMES) / FPS)
    np.testing.assert_allclose(clip.actions[:6, 0], 1.0 + 2.0 * np.arange(6) / FPS, rtol=1e-6)


@pytest.mark.parametrize("column", ["steering_angle", "steering_angle_deg", "steering_wheel_deg"])
def test_steering_angle_becomes_bicycle_yaw_rate(folder: Path, tmp_path: Path, column: str) -> None:
    geometry = VehicleGeometry(wheelbase_m=3.0, steering_ratio=15.0)
    speed = np.array([0.0, 5.0, 10.0, 10.0, 20.0])
    steer_rad = np.array([0.1, 0.1, -0.2, 0.05, 0.0])  # road-wheel angle, positive = left
    steer_col = {
        "steering_angle": steer_rad,
        "steering_angle_deg": np.rad2deg(steer_rad),
        "steering_wheel_deg": np.rad2deg(steer_rad) * geometry.steering_ratio,  # the CAN-bus quantity
    }[column]
    rows = [(0.1 * i, speed[i], steer_col[i]) for i in range(5)]
    csv = write_csv(tmp_path / "a.csv", f"timestamp,speed,{column}", rows)
    clip = next(iter(VideoSource(folder, actions_csv=csv, geometry=geometry)))
    expected = speed * np.tan(steer_rad) / geometry.wheelbase_m
    np.testing.assert_allclose(clip.actions[:, 1], expected, rtol=1e-5, atol=1e-7)
    assert clip.actions[1, 1] > 0 > clip.actions[2, 1]  # left steer turns left
    if column == "steering_wheel_deg":  # the one conversion the nuScenes CAN reader uses too
        np.testing.assert_allclose(steering_wheel_deg_to_yaw_rate(steer_col, speed, geometry), expected, rtol=1e-12)


def test_folder_is_natural_order_at_given_fps(folder: Path) -> None:
    clip = next(iter(VideoSource(folder, fps=5.0)))
    assert [bar_position(f) for f in clip.frames] == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(clip.timestamps, np.arange(5) / 5.0)
    assert clip.frames[0, 0, -1].tolist() == [255, 0, 0]  # red background: PNG read as RGB, not BGR


def test_corrupt_image_is_skipped_counted_and_warned(folder: Path) -> None:
    (folder / "f_3.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.warns(UserWarning, match=r"skipped 1 undecodable frame.*f_3\.png"):
        clip = next(iter(VideoSource(folder, fps=5.0)))
    assert len(clip) == 4 and clip.meta["skipped_frames"] == 1
    assert [bar_position(f) for f in clip.frames] == [0, 1, 3, 4]
    np.testing.assert_allclose(clip.timestamps, np.array([0, 1, 3, 4]) / 5.0)  # the gap stays in time


def test_truncated_video_counts_the_lost_frames(tmp_path: Path) -> None:
    path = tmp_path / "drive.mkv"
    rng = np.random.default_rng(0)  # noise does not compress, so half the bytes is about half the frames
    with imageio.get_writer(path, fps=FPS, codec="libx264", macro_block_size=16) as writer:
        for _ in range(30):
            writer.append_data(rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.warns(UserWarning, match=r"skipped \d+ undecodable frame.*stream ended early"):
        clip = VideoSource(path).load()
    assert 0 < len(clip) < 30 and len(clip) + clip.meta["skipped_frames"] == 30


def test_max_side_shrinks_while_decoding(mp4: Path) -> None:
    clip = next(iter(VideoSource(mp4, max_side=64)))
    assert clip.frames.shape == (N_FRAMES, 32, 64, 3)


def test_path_errors_name_the_path_and_expected_form(tmp_path: Path) -> None:
    with pytest.raises(VideoSourceError, match=r"not found: .*nope\.mp4; expected a video file"):
        VideoSource(tmp_path / "nope.mp4")
    (tmp_path / "readme.txt").write_text("no frames here")
    with pytest.raises(VideoSourceError, match=r"holds no frame images; expected .*\.png"):
        VideoSource(tmp_path, fps=10.0)


def test_folder_without_fps_or_matching_csv_is_an_error(folder: Path) -> None:
    with pytest.raises(VideoSourceError, match=r"no frame rate; pass fps="):
        VideoSource(folder)


def test_unreadable_video_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoSourceError, match=r"cannot read video .*broken\.mp4"):
        VideoSource(path).load()


@pytest.mark.parametrize(
    ("header", "rows", "match"),
    [
        (
            "timestamp,velocity,yaw_rate",
            [(0.0, 1.0, 0.0)],
            r"columns are \['timestamp', 'velocity', 'yaw_rate'\]",
        ),
        ("time,speed,yaw_rate", [(0.0, 1.0, 0.0)], r"expected a header with `timestamp`"),
        (
            "timestamp,speed,speed_kmh,yaw_rate",
            [(0.0, 1.0, 3.6, 0.0)],
            r"several of \['speed', 'speed_kmh'\]",
        ),
        (
            "timestamp,speed,yaw_rate",
            [(0.0, 1.0, 0.0), (0.1, "nan", 0.0)],
            r"line 3: column `speed` is 'nan'",
        ),
        (
            "timestamp,speed,yaw_rate",
            [(0.0, 1.0, 0.0), (0.1, "", 0.0)],
            r"line 3: column `speed` .*not a number",
        ),
        ("timestamp,speed,yaw_rate", [(0.0, 1.0, 0.0), (0.0, 1.0, 0.0)], r"line 3: timestamps must strictly"),
        ("timestamp,speed,yaw_rate", [], r"no rows"),
    ],
)
def test_csv_errors_name_the_problem(folder: Path, tmp_path: Path, header: str, rows, match: str) -> None:
    csv = write_csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(VideoSourceError, match=match) as info:
        VideoSource(folder, actions_csv=csv, fps=5.0)
    assert "bad.csv" in str(info.value)


def test_missing_csv_is_an_error(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(VideoSourceError, match=r"action CSV not found: .*missing\.csv"):
        VideoSource(folder, actions_csv=tmp_path / "missing.csv", fps=5.0)


# ----------------------------------------------------------------------------------------------- open_source


def test_open_source_video_forms(mp4: Path, folder: Path, tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "a.csv", "timestamp,speed,yaw_rate", [(0.0, 4.0, 0.0), (2.0, 4.0, 0.0)])
    for spec in (str(mp4), f"video:{mp4}"):
        source = open_source(spec)
        assert isinstance(source, VideoSource) and isinstance(source, ClipSource)
    source = open_source(f"video:{folder}?actions={csv}&fps=4")
    assert isinstance(source, VideoSource) and source.fps == 4.0 and source.actions is not None
    assert isinstance(open_source(str(folder), fps=2.0), VideoSource)
    with pytest.raises(DataSpecError, match="unknown option 'speed'"):
        open_source(f"video:{mp4}?speed=3")


def test_open_source_shards(tmp_path: Path) -> None:
    clip = Clip(np.zeros((2, 8, 8, 3), np.uint8), [0.0, 0.1], np.zeros((2, 2)), "a road", {"source": "sim"})
    write_clip(tmp_path / "episode_000000.safetensors", clip)
    write_manifest(tmp_path, [{"file": "episode_000000.safetensors"}])
    for spec in (f"sim:{tmp_path}", str(tmp_path)):
        source = open_source(spec)
        assert isinstance(source, ShardSource) and len(source) == 1
    with pytest.raises(DataSpecError, match="only to video"):
        open_source(f"sim:{tmp_path}", fps=3.0)


def test_open_source_rejects_unknown_and_nuscenes(tmp_path: Path) -> None:
    with pytest.raises(DataSpecError, match=r"give \?version=.*drivedreamer data nuscenes"):
        open_source(f"nuscenes:{tmp_path}")  # neither clip shards nor a dataroot with one version folder
    with pytest.raises(DataSpecError, match=r"no such file.*accepted forms: sim:DIR"):
        open_source(str(tmp_path / "nothing"))
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataSpecError, match="not a recognised data source"):
        open_source(str(tmp_path / "notes.txt"))


def test_a_nuscenes_dataroot_without_the_devkit_says_how_to_install_it(tmp_path: Path, monkeypatch) -> None:
    version = tmp_path / "v1.0-mini"
    version.mkdir()
    for table in TABLES:
        (version / f"{table}.json").write_text("[]")
    devkit = [m for m in sys.modules if m == "nuscenes" or m.startswith("nuscenes.")]
    for name in {*devkit, "nuscenes", "nuscenes.nuscenes", "nuscenes.can_bus.can_bus_api", "nuscenes.utils.splits"}:
        monkeypatch.setitem(sys.modules, name, None)  # as if the optional extra were not installed
    with pytest.raises(ImportError, match=r"official devkit: pip install 'drivedreamer-env\[nuscenes\]'"):
        open_source(f"nuscenes:{tmp_path}")


def test_no_warning_for_clean_sources(folder: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        next(iter(VideoSource(folder, fps=5.0)))
