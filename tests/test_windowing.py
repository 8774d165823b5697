"""Windowing: resampling on real timestamps, exact action averages, resize/crop, intrinsics, windows."""

from __future__ import annotations

import numpy as np
import pytest

from drivedreamer_env.config import ConfigError, from_dict
from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.windowing import (
    UpsamplingError,
    WindowConfig,
    adjust_intrinsics,
    resample,
    resize_crop,
    windows,
)


def make_clip(times: np.ndarray, actions: np.ndarray | None = None, hw: tuple[int, int] = (8, 8)) -> Clip:
    """Frame i is filled with the value i, so a frame tells which source frame it came from."""
    times = np.asarray(times, dtype=np.float64)
    frames = np.broadcast_to(np.arange(len(times), dtype=np.uint8)[:, None, None, None], (len(times), *hw, 3))
    actions = np.zeros((len(times), 2)) if actions is None else actions
    return Clip(np.ascontiguousarray(frames), times, actions, "a road", {"source": "test"})


def source_index(clip: Clip) -> list[int]:
    return clip.frames[:, 0, 0, 0].astype(int).tolist()


# ------------------------------------------------------------------------------------------------ resample


def test_20hz_to_10hz_halves_frames_and_keeps_constant_actions() -> None:
    clip = make_clip(np.arange(20) / 20.0, np.tile([5.0, 0.2], (20, 1)))
    out = resample(clip, 10.0)
    assert len(out) == 10 and source_index(out) == list(range(0, 20, 2))
    np.testing.assert_allclose(out.timestamps, np.arange(10) / 10.0)
    np.testing.assert_allclose(out.actions, np.tile([5.0, 0.2], (10, 1)), rtol=1e-6)
    assert out.fps == pytest.approx(10.0) and out.text == "a road"


def test_uneven_timestamps_pick_nearest_frames_labels_and_poses() -> None:
    clip = make_clip([0.0, 0.04, 0.11, 0.19, 0.32, 0.38])
    clip.meta["labels"] = {"off_road": np.array([0, 1, 0, 1, 1, 0], dtype=bool)}
    clip.meta["poses"] = np.arange(18, dtype=np.float64).reshape(6, 3)
    out = resample(clip, 10.0)  # targets 0.0, 0.1, 0.2, 0.3
    assert source_index(out) == [0, 2, 3, 4]
    np.testing.assert_allclose(out.timestamps, [0.0, 0.1, 0.2, 0.3])
    assert out.meta["labels"]["off_road"].tolist() == [False, False, True, True]
    np.testing.assert_array_equal(out.meta["poses"], clip.meta["poses"][[0, 2, 3, 4]])


def test_time_average_of_a_step_is_exact() -> None:
    t = np.arange(20) / 10.0  # 10 Hz, 0 .. 1.9 s
    speed = np.where(t < 0.5, 0.0, 10.0)  # steps up at 0.5 s
    yaw_rate = np.where(t < 0.7, 0.5, -0.5)  # left, then right from 0.7 s
    out = resample(make_clip(t, np.stack([speed, yaw_rate], axis=-1)), 3.0)
    # Steps [k/3, (k+1)/3]: [1/3, 2/3] is half 0 and half 10; [2/3, 1] is 1/30 s at +0.5 and 0.3 s at -0.5.
    np.testing.assert_allclose(out.actions[:, 0], [0.0, 5.0, 10.0, 10.0, 10.0, 10.0], atol=1e-5)
    np.testing.assert_allclose(out.actions[:, 1], [0.5, 0.5, -0.4, -0.5, -0.5, -0.5], atol=1e-5)


def test_resampling_conserves_the_action_integral_on_uneven_times() -> None:
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.02, 0.15, 60))
    actions = rng.normal(size=(60, 2))
    fps = 7.0
    out = resample(make_clip(t, actions), fps)
    end = out.timestamps[-1] + 1.0 / fps  # the last step runs past the clip on the held last action
    durations = np.diff(np.append(t, end))
    np.testing.assert_allclose(out.actions.sum(axis=0) / fps, (actions * durations[:, None]).sum(axis=0), atol=1e-4)


def test_upsampling_is_refused_unless_repeats_are_asked_for() -> None:
    clip = make_clip(np.arange(5) / 5.0, np.tile([3.0, 0.0], (5, 1)))
    with pytest.raises(UpsamplingError, match=r"5 Hz clip to fps=10: upsampling would repeat frames.*fps <= 5"):
        resample(clip, 10.0)
    out = resample(clip, 10.0, allow_repeats=True)
    assert source_index(out) == [0, 0, 1, 1, 2, 2, 3, 3, 4]  # ties go to the earlier frame
    assert out.meta["repeated_frames"] == 4
    np.testing.assert_allclose(out.actions[:, 0], 3.0, rtol=1e-6)


# ------------------------------------------------------------------------------------------- resize / crop


def test_resize_crop_shape_and_centre_is_kept() -> None:
    frames = np.zeros((2, 90, 160, 3), np.uint8)
    frames[:, 40:50, 75:85, 0] = 255  # a block at the centre
    frames[:, 0:3, :, 1] = 255  # a band at the very top: outside the centre crop after scaling to 72x128
    out = resize_crop(frames, (64, 128))
    assert out.shape == (2, 64, 128, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert out[:, 31:33, 63:65, 0].min() == 255  # centre still on the block
    assert out[..., 0].sum(axis=(0, 2)).nonzero()[0].mean() == pytest.approx(31.5, abs=0.5)
    assert out[..., 1].max() == 0


def test_fractional_crop_drops_the_hood_and_single_frames_work() -> None:
    frame = np.full((100, 200, 3), 90, np.uint8)
    frame[80:, :, 2] = 255  # hood: the bottom fifth
    assert (resize_crop(frame, (40, 100))[..., 2] == 255).any()
    out = resize_crop(frame, (40, 100), crop=(0.0, 0.2, 0.0, 0.0))
    assert out.shape == (40, 100, 3) and out[..., 2].max() == 90
    assert resize_crop(frame[:32, :64], (64, 128)).shape == (64, 128, 3)  # enlarging works too
    with pytest.raises(ValueError, match="removes the whole frame"):
        resize_crop(frame, (40, 100), crop=(0.5, 0.5, 0.0, 0.0))


def blob_image(hw: tuple[int, int], uv: tuple[float, float], sigma: float = 3.0) -> np.ndarray:
    v, u = np.mgrid[0 : hw[0], 0 : hw[1]]
    g = np.exp(-((u - uv[0]) ** 2 + (v - uv[1]) ** 2) / (2 * sigma**2))
    return np.repeat((255 * g).round().astype(np.uint8)[..., None], 3, axis=-1)


def centroid(image: np.ndarray) -> np.ndarray:
    w = image[..., 0].astype(np.float64)
    v, u = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    return np.array([(u * w).sum() / w.sum(), (v * w).sum() / w.sum()])


@pytest.mark.parametrize("crop", [None, (0.1, 0.2, 0.05, 0.1)])
def test_adjusted_intrinsics_project_where_the_pixels_went(crop: tuple[float, ...] | None) -> None:
    k = np.array([[150.0, 0.0, 100.3], [0.0, 150.0, 58.1], [0.0, 0.0, 1.0]])
    point = np.array([0.3, 0.1, 3.0])  # camera frame: x right, y down, z forward [m]
    uv = (k @ point)[:2] / point[2]
    out = resize_crop(blob_image((120, 200), tuple(uv)), (48, 96), crop)
    k_out = adjust_intrinsics(k.tolist(), (120, 200), (48, 96), crop)
    np.testing.assert_allclose(centroid(out), (k_out @ point)[:2] / point[2], atol=0.15)


def test_centred_principal_point_stays_centred() -> None:
    k = [[100.0, 0.0, 79.5], [0.0, 100.0, 44.5], [0.0, 0.0, 1.0]]
    k_out = adjust_intrinsics(k, (90, 160), (64, 128))
    np.testing.assert_allclose(k_out, [[80.0, 0.0, 63.5], [0.0, 80.0, 31.5], [0.0, 0.0, 1.0]])


# ------------------------------------------------------------------------------------------------- windows


def test_windows_count_length_and_spacing() -> None:
    clip = make_clip(np.arange(101) / 20.0, hw=(24, 40))  # 5 s at 20 Hz -> 51 frames at 10 Hz
    clip.meta["intrinsics"] = [[40.0, 0.0, 19.5], [0.0, 40.0, 11.5], [0.0, 0.0, 1.0]]
    out = list(windows(clip, frames=8, fps=10.0, resolution=(16, 32)))
    assert len(out) == 6
    for n, w in enumerate(out):
        assert w.frames.shape == (8, 16, 32, 3) and w.actions.shape == (8, 2)
        np.testing.assert_allclose(np.diff(w.timestamps), 0.1)
        assert w.meta["start_index"] == 8 * n and source_index(w)[0] == 16 * n
        assert np.array(w.meta["intrinsics"]).shape == (3, 3)
    assert len(list(windows(clip, frames=8, fps=10.0, resolution=(16, 32), stride=4))) == (51 - 8) // 4 + 1
    assert list(windows(clip, frames=60, fps=10.0, resolution=(16, 32))) == []


def test_window_config_matches_windows_and_rejects_unknown_keys() -> None:
    clip = make_clip(np.arange(40) / 10.0, hw=(24, 40))
    cfg = from_dict(WindowConfig, {"frames": 4, "fps": 5.0, "height": 8, "width": 16, "crop": [0, 0.25, 0, 0]})
    assert cfg.crop == (0.0, 0.25, 0.0, 0.0) and cfg.resolution == (8, 16)
    got, want = list(cfg.windows(clip)), list(windows(clip, 4, 5.0, (8, 16), (0.0, 0.25, 0.0, 0.0)))
    assert len(got) == len(want) == 5
    assert all(np.array_equal(a.frames, b.frames) for a, b in zip(got, want, strict=True))
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(WindowConfig, {"frame": 4})
    with pytest.raises(ValueError, match="at least 1 frame"):
        windows(clip, 0, 5.0, (8, 16))  # raised at the call, not at the first next()
