"""Sampling levers of stylize and inpaint: kept tokens stay kept, the boundary ring and the feathered composite."""

import numpy as np
import pytest
import torch

from drivedreamer_env.models.sampler import SamplerConfig
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.tasks.generation import generate
from drivedreamer_env.tasks.options import InpaintConfig, StylizeConfig
from drivedreamer_env.tasks.recipes import TaskInputs, stylize
from drivedreamer_env.tasks.style_sampling import (
    boundary_ring,
    edge_token_energy,
    feather,
    flattest,
    refill_rounds,
    stylize_fill,
)


@pytest.fixture(scope="module")
def wm(tiny_checkpoint):
    return WorldModel.load(tiny_checkpoint, device="cpu")


def _video(seed: int = 0) -> np.ndarray:
    v = np.zeros((3, 32, 64, 3), np.uint8)
    v[:, 16:] = 90  # a flat road
    v[:, 8:, 20:24] = 250  # a pole: the edge tokens
    return v + np.random.default_rng(seed).integers(0, 4, v.shape, dtype=np.uint8)


@pytest.mark.parametrize(
    "cfg",
    [
        StylizeConfig(),
        StylizeConfig(schedule="structure", ratio=0.5, rounds=2),
        StylizeConfig(rounds=3, text_guidance=2.0),
    ],
)
def test_stylize_never_changes_the_tokens_it_keeps(wm, cfg):
    x = TaskInputs(_video(), 3, 1, None, cfg, seed=5)
    clip = stylize(wm, x)
    original = wm.encode(_video())[None]
    gens = [torch.Generator().manual_seed(0)]
    out, masks = stylize_fill(wm, clip.tokens, cfg, SamplerConfig(steps=2), gens, torch.zeros(1, 3, 2),
                              wm.text_ids(["night, heavy rain"]), seed=5)  # fmt: skip
    assert len(masks) == cfg.rounds
    touched = torch.stack(masks).any(0)
    assert torch.equal(out[~touched], original[~touched])  # never masked in any round: never changed
    assert (out != wm.stpt.cfg.mask_id).all()
    share = masks[0].float().mean().item()
    assert share == pytest.approx(cfg.ratio, abs=0.2)
    for m in masks[1:]:  # each later round re-masks the ratio of all tokens, or half of the flat ones
        if cfg.schedule == "structure":
            assert not (m & ~masks[0]).any() and int(m.sum()) == int(masks[0].sum()) // 2
        else:
            assert m.float().mean().item() == pytest.approx(cfg.ratio, abs=0.02)


def test_structure_schedule_keeps_the_edge_tokens(wm):
    energy = edge_token_energy(_video(), (4, 8))
    regen = flattest(energy, 0.5)
    assert regen.shape == (3, 4, 8) and regen.sum(axis=(1, 2)).tolist() == [16, 16, 16]
    assert not regen[:, 1:, 2].any()  # the pole's tokens (columns 16-31 px, rows 8+) have the most edge energy
    clip = stylize(wm, TaskInputs(_video(), 3, 1, None, StylizeConfig(schedule="structure", ratio=0.5), seed=0))
    assert torch.equal(clip.tokens[0] == wm.stpt.cfg.mask_id, torch.from_numpy(regen))


def test_refill_rounds_change_only_allowed_tokens(wm):
    tokens = wm.encode(_video())[None]
    allowed = torch.zeros_like(tokens, dtype=torch.bool)
    allowed[..., 2:, 4:] = True
    out, masks = refill_rounds(wm, tokens, 2, 0.5, SamplerConfig(steps=2), [torch.Generator().manual_seed(0)],
                               None, wm.text_ids(["dusk, dense fog"]), 2.0, seed=0, allowed=allowed)  # fmt: skip
    assert len(masks) == 2 and all(int(m.sum()) == int(allowed.sum()) // 2 for m in masks)
    assert all(not (m & ~allowed).any() for m in masks)
    assert torch.equal(out[~allowed], tokens[~allowed])


def test_boundary_ring_is_the_masked_tokens_next_to_kept_ones():
    m = torch.zeros(1, 4, 8, dtype=torch.bool)
    m[0, 1:, 4:] = True  # touches the bottom and right edges of the grid: those are no boundary
    ring = boundary_ring(m)
    expected = torch.zeros_like(m)
    expected[0, 1, 4:] = True
    expected[0, 1:, 4] = True
    assert torch.equal(ring, expected)


def test_feather_keeps_the_unmasked_pixels_exactly_and_ramps_inside():
    kept = np.full((1, 32, 64, 3), 40, np.uint8)
    decoded = np.full_like(kept, 240)
    mask = np.zeros((1, 32, 64), bool)
    mask[:, 8:, 32:] = True
    out = feather(decoded, kept, mask, px=8)
    assert (out[~mask] == 40).all()
    assert (out[0, 20, 50:] == 240).all()  # deep inside and at the image edge: all fill
    row = out[0, 20, 32:40, 0].astype(int)
    assert (np.diff(row) > 0).all() and row[0] < 80  # the ramp starts near the kept colour
    assert np.array_equal(feather(decoded, kept, mask, px=0), np.where(mask[..., None], decoded, kept))


def test_inpaint_levers_keep_the_unmasked_pixels(wm):
    mask = np.zeros((32, 64), bool)
    mask[10:, 30:] = True
    video = _video()
    for cfg in (InpaintConfig(ring=True), InpaintConfig(feather_px=6, text_guidance=3.0, rounds=2)):
        out = generate(wm, "inpaint", video=video, text="night", mask=mask, num_frames=3,
                       sampler=SamplerConfig(steps=2), inpaint=cfg)  # fmt: skip
        assert np.array_equal(out[:, ~mask], wm.prepare(video)[:, ~mask])


def test_bad_settings_are_clear_errors(wm):
    with pytest.raises(ValueError, match="ratio"):
        StylizeConfig(ratio=0.0)
    with pytest.raises(ValueError, match="schedule"):
        StylizeConfig(schedule="edges")
    with pytest.raises(ValueError, match="rounds"):
        StylizeConfig(rounds=0)
    with pytest.raises(ValueError, match="feather_px"):
        InpaintConfig(feather_px=-1)
    with pytest.raises(ValueError, match="contradicts"):
        generate(wm, "stylize", video=_video(), style_ratio=0.3, stylize=StylizeConfig(ratio=0.6))
    with pytest.raises(ValueError, match="need a text"):
        generate(wm, "stylize", video=_video(), num_frames=3, stylize=StylizeConfig(rounds=2),
                 sampler=SamplerConfig(steps=1))  # fmt: skip
