"""Stylization and inpainting scores: the paired-style renderer, each metric on hand-built inputs, the harness."""

import numpy as np
import pytest

from drivedreamer_env.eval.frame_probes import STYLES
from drivedreamer_env.eval.task_eval import evaluate_tasks, style_pairs
from drivedreamer_env.eval.task_metrics import box_mask, crop_box, edge_structure, seam_ratio, unmasked_exact
from drivedreamer_env.sim.config import CameraConfig
from drivedreamer_env.sim.paired import parse_style, render_paired

CAM = CameraConfig(width=128, height=64)


def _smooth(seed: int = 0, n: int = 2) -> np.ndarray:
    """(n, 64, 128, 3) uint8 smooth random images: structure at every scale, no sharp edges of their own."""
    import cv2

    rng = np.random.default_rng(seed)
    return np.stack(
        [np.clip(cv2.GaussianBlur(rng.uniform(0, 255, (64, 128, 3)), (0, 0), 3) * 3 - 255, 0, 255) for _ in range(n)]
    ).astype(np.uint8)


def test_paired_renders_share_geometry_across_styles():
    drive = render_paired(100_003, ("day, clear", "night, rain", "dusk, fog"), CAM, frames=3)
    assert drive.frames.shape == (3, 3, 64, 128, 3)
    assert [c.split(", ")[:2] for c in drive.captions] == [
        ["day", "clear"],
        ["night", "heavy rain"],
        ["dusk", "dense fog"],
    ]
    assert len({c.split(", ", 2)[2] for c in drive.captions}) == 1  # the same road and traffic words
    again = render_paired(100_003, ("dusk, clear", "day, clear"), CAM, frames=3)
    # the same seed and poses: the day render is identical whatever other styles it was paired with
    assert np.array_equal(again.frames[1], drive.frames[0])
    # and the layout is the same in another style: edges agree far more than those of another drive do
    other = render_paired(100_004, ("dusk, clear",), CAM, frames=3)
    same = edge_structure(drive.frames[0], again.frames[0])
    assert same > 0.6 and same > edge_structure(drive.frames[0], other.frames[0]) + 0.2


def test_parse_style_rejects_unknown_styles():
    assert parse_style("night, rain") == ("night", "rain")
    for bad in ("night", "noon, rain", "night, snow", "night, rain, urban"):
        with pytest.raises(ValueError, match="time_of_day, weather"):
            parse_style(bad)


def test_edge_structure_is_one_for_the_same_layout_and_low_for_another():
    a = _smooth(0)
    assert edge_structure(a, a) == pytest.approx(1.0)
    # a global change of brightness keeps the layout (edge maps are scaled by their own percentile)
    assert edge_structure(a, (a // 3).astype(np.uint8)) > 0.9
    assert edge_structure(a, _smooth(1)) < 0.3
    with pytest.raises(ValueError, match="same shape"):
        edge_structure(a, a[:1])


def test_seam_ratio_scores_a_hard_paste_high_and_a_seamless_fill_near_one():
    a, b = _smooth(0), _smooth(1)
    mask = box_mask((0.5, 0.3, 1.0, 1.0), (64, 128))
    assert seam_ratio(a, mask) == pytest.approx(1.0, abs=0.15)  # the mask only drawn on the image
    pasted = np.where(mask[..., None], np.full_like(a, 255) - a // 4, a)  # a bright patch pasted in
    assert seam_ratio(pasted, mask) > 3.0
    # the same patch blended in over a 12 px ramp: no seam to see
    import cv2

    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)  # [px] to the nearest unmasked pixel
    alpha = np.clip(dist / 12.0, 0, 1)[..., None]
    blended = (alpha * pasted + (1 - alpha) * a).astype(np.uint8)
    assert seam_ratio(blended, mask) < 1.5
    assert seam_ratio(np.where(mask[..., None], b, a), mask) > seam_ratio(a, mask)
    with pytest.raises(ValueError, match="no boundary"):
        seam_ratio(a, np.zeros((64, 128), bool))


def test_unmasked_exact_counts_changed_pixels_outside_the_mask_only():
    a = _smooth(0)
    mask = box_mask((0.5, 0.0, 1.0, 1.0), (64, 128))  # the right half
    b = a.copy()
    b[:, :, 64:] = 0  # inside the mask: free
    assert unmasked_exact(a, b, mask) == 1.0
    b[0, :, :16] += 1  # a quarter of the unmasked half of one of two frames
    assert unmasked_exact(a, b, mask) == pytest.approx(1 - 0.25 / 2)
    with pytest.raises(ValueError, match="covers every pixel"):
        unmasked_exact(a, b, np.ones((64, 128), bool))


def test_box_mask_and_crop():
    m = box_mask((0.5, 0.3, 1.0, 1.0), (64, 128))
    assert m.sum() == (64 - 19) * 64 and m[19, 64] and not m[18, 64] and not m[19, 63]
    assert crop_box(np.zeros((2, 64, 128, 3), np.uint8), m).shape == (2, 45, 64, 3)
    with pytest.raises(ValueError, match="fractions"):
        box_mask((0.5, 0.3, 0.4, 1.0), (64, 128))


def test_style_pairs_cover_every_source_with_another_target():
    pairs = style_pairs(4)
    assert len(pairs) == 4 * len(STYLES)
    assert all(s != t for s, t in pairs)
    assert sorted(s for s, _ in pairs) == sorted(list(range(len(STYLES))) * 4)
    assert {t for _, t in pairs} == set(range(len(STYLES)))


def test_evaluate_tasks_scores_identity_and_oracle_tasks():
    """Identity tasks keep the layout (structure 1) and the source style (accuracy ~0); classifiers validate."""
    s = evaluate_tasks(CAM, lambda x, text, seed: x, lambda x, m, text, seed: x, scenes_per_style=1, frames=2)
    assert s.stylize_structure == pytest.approx(1.0) and s.inpaint_unmasked_exact == 1.0
    assert s.stylize_style_accuracy < 0.2 and s.stylize_source_style_share > 0.8
    assert s.stylize_classifier_validation_accuracy >= 0.9 and s.inpaint_classifier_validation_accuracy >= 0.9
    assert s.stylize_style_accuracy_gt >= 0.9 and s.inpaint_style_accuracy_gt >= 0.9
    assert s.inpaint_seam_ratio == s.inpaint_seam_ratio_gt
    with pytest.raises(ValueError, match="must return uint8"):
        evaluate_tasks(CAM, lambda x, text, seed: x[:1], lambda x, m, text, seed: x, scenes_per_style=1, frames=2)
