"""Shards round trip, corrupt-input errors and the `drivedreamer data sim` / `bench` commands."""

import json

import numpy as np
import pytest

from drivedreamer_env.cli import main
from drivedreamer_env.data.clip import Clip, ClipError
from drivedreamer_env.data.shards import ShardError, ShardSource, read_clip, write_clip


def _clip(n: int = 5) -> Clip:
    rng = np.random.default_rng(0)
    return Clip(
        frames=rng.integers(0, 255, (n, 8, 16, 3), dtype=np.uint8),
        timestamps=np.arange(n) * 0.1,
        actions=rng.normal(size=(n, 2)).astype(np.float32),
        text="day, clear, rural two-lane road straight, light traffic",
        meta={"seed": 3, "labels": {"off_road": np.zeros(n, np.float32)}, "poses": np.zeros((n, 3))},
    )


def test_shard_round_trip(tmp_path):
    clip = _clip()
    write_clip(tmp_path / "a.safetensors", clip)
    back = read_clip(tmp_path / "a.safetensors")
    np.testing.assert_array_equal(back.frames, clip.frames)
    np.testing.assert_array_equal(back.actions, clip.actions)
    np.testing.assert_array_equal(back.timestamps, clip.timestamps)
    assert back.text == clip.text and back.meta["seed"] == 3
    np.testing.assert_array_equal(back.meta["labels"]["off_road"], clip.meta["labels"]["off_road"])


def test_corrupt_or_missing_shards_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ShardError, match=r"corrupt shard .*bad\.safetensors"):
        read_clip(bad)
    with pytest.raises(ShardError, match="not found"):
        read_clip(tmp_path / "missing.safetensors")
    with pytest.raises(ShardError, match=r"manifest\.json"):
        ShardSource(tmp_path)


def test_clip_validation_names_the_problem():
    c = _clip()
    with pytest.raises(ClipError, match=r"actions must have shape \(5, 2\)"):
        Clip(c.frames, c.timestamps, c.actions[:3])
    with pytest.raises(ClipError, match="uint8"):
        Clip(c.frames.astype(np.float32), c.timestamps, c.actions)
    with pytest.raises(ClipError, match="increasing"):
        Clip(c.frames, c.timestamps[::-1], c.actions)
    with pytest.raises(ClipError, match="NaN"):
        Clip(c.frames, c.timestamps, np.full((5, 2), np.nan, np.float32))


def test_data_sim_writes_readable_shards(tmp_path, capsys):
    out = tmp_path / "shards"
    assert main(["data", "sim", "--episodes", "2", "--steps", "12", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["episodes"]) == 2 and manifest["fps"] == pytest.approx(10.0)
    clips = list(ShardSource(out))
    assert [len(c) for c in clips] == [e["frames"] for e in manifest["episodes"]]
    assert clips[0].frames.shape[1:] == (64, 128, 3)
    assert set(clips[0].meta["labels"]) >= {
        "lane_offset",
        "heading_error",
        "distance",
        "off_road",
        "collision",
    }
    assert clips[0].text == manifest["episodes"][0]["caption"]


def test_bench_sim_writes_json(tmp_path):
    out = tmp_path / "sim.json"
    assert main(["bench", "--only", "sim", "--seeds", "1", "--steps", "5", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["environment"]["commit"]
    assert set(result["sim"]["results"]) == {"64x128", "128x256"}
    assert all(r["fps"] > 0 for r in result["sim"]["results"].values())
