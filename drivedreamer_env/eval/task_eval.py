"""Stylization and inpainting scored like text-to-video: ``drivedreamer eval tasks``.

Held-out simulator drives of every style are each given a target style different from their own, as text. The
drive is also rendered in the target style (:func:`~drivedreamer_env.sim.paired.render_paired`: same seed, same
poses), which gives each metric its ground-truth reference: what a perfect stylization would score.

The tasks themselves are passed in as callables (this package's evaluation and tasks are independent layers; the
CLI composes them), so any stylizer or inpainter can be scored the same way.

Metrics (keys of :meth:`TaskScores.to_json`):

* ``stylize_style_accuracy``: the validated style classifier (:class:`~drivedreamer_env.eval.frame_probes.
  StyleClassifier`, fitted on ground-truth frames as for ``t2v_style_accuracy``) on the stylized frames, against
  the target style;
* ``stylize_structure``: SSIM of the edge maps of input and stylization (:func:`~drivedreamer_env.eval.
  task_metrics.edge_structure`);
* ``inpaint_style_accuracy``: a region classifier, fitted and validated on crops of the inpainting box from
  ground-truth frames of known style, on the crop of the inpainted frames, against the target style;
* ``inpaint_seam_ratio``: :func:`~drivedreamer_env.eval.task_metrics.seam_ratio` of the inpainted frames;
* ``inpaint_unmasked_exact``: :func:`~drivedreamer_env.eval.task_metrics.unmasked_exact` (must be 1.0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from drivedreamer_env.eval.frame_probes import STYLES, StyleClassifier
from drivedreamer_env.eval.task_metrics import box_mask, crop_box, edge_structure, seam_ratio, unmasked_exact
from drivedreamer_env.eval.text_control import style_dataset
from drivedreamer_env.sim.config import CameraConfig
from drivedreamer_env.sim.paired import render_paired

# (frames (T, H, W, 3) uint8, text, seed) -> (T, H, W, 3) uint8
StylizeFn = Callable[[np.ndarray, str, int], np.ndarray]
# (frames (T, H, W, 3) uint8, mask (H, W) bool, text, seed) -> (T, H, W, 3) uint8
InpaintFn = Callable[[np.ndarray, np.ndarray, str, int], np.ndarray]

INPAINT_BOX = (0.5, 0.3, 1.0, 1.0)  # x0, y0, x1, y1 fractions: the right roadside and lane, as in the issue
TASK_SEED0 = 107_000  # held-out drives (training seeds are below 100,000)
CLASSIFIER_SEED0 = 106_000


@dataclass
class TaskScores:
    """Scores of the stylization and inpainting tasks (see the module docstring), with their references.

    ``*_gt`` are the same metric on the ground-truth target-style render of the drive (stylize) or on the
    untouched input (inpaint seam): the ceiling a perfect model reaches. ``*_classifier_validation_accuracy`` are
    the classifiers on held-out ground-truth frames (a metric whose validation is below 0.9 claims nothing).
    """

    stylize_style_accuracy: float
    stylize_structure: float
    inpaint_style_accuracy: float
    inpaint_seam_ratio: float
    inpaint_unmasked_exact: float
    stylize_classifier_validation_accuracy: float
    inpaint_classifier_validation_accuracy: float
    stylize_style_accuracy_gt: float
    stylize_structure_gt: float
    stylize_source_style_share: float
    inpaint_style_accuracy_gt: float
    inpaint_seam_ratio_gt: float
    pairs: list[tuple[str, str]]
    sheets: dict[str, list[list[np.ndarray]]] = field(repr=False, default_factory=dict)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {k: v for k, v in self.__dict__.items() if isinstance(v, float)}
        out["pairs"] = [f"{s} -> {t}" for s, t in self.pairs]
        return out


def style_pairs(scenes_per_style: int) -> list[tuple[int, int]]:
    """(source, target) style indices: every style ``scenes_per_style`` times as the source, each with a target
    that differs from it; the targets cycle so that every other style is used about equally."""
    n = len(STYLES)
    return [(k, (k + 1 + (k + 3 * j) % (n - 1)) % n) for j in range(scenes_per_style) for k in range(n)]


def _fit(frames: np.ndarray, labels: np.ndarray, train: np.ndarray) -> tuple[StyleClassifier, float]:
    clf = StyleClassifier.fit(frames[train], labels[train])
    return clf, float((clf.predict(frames[~train]) == labels[~train]).mean())


def evaluate_tasks(
    cam: CameraConfig,
    stylize: StylizeFn,
    inpaint: InpaintFn,
    scenes_per_style: int = 4,
    frames: int = 4,
    box: tuple[float, float, float, float] = INPAINT_BOX,
    seed0: int = TASK_SEED0,
    sheet_rows: int = 3,
) -> TaskScores:
    """Stylize and inpaint held-out drives of every style towards another style; score them.

    Args:
        cam: the model's camera (resolution).
        stylize / inpaint: the tasks under test (see :data:`StylizeFn`, :data:`InpaintFn`).
        scenes_per_style: drives per source style (seeds from ``seed0``).
        frames: frames per drive.
        box: the inpainting box in fractions ``(x0, y0, x1, y1)``.
        seed0: first drive seed; the classifiers use ground-truth seeds from :data:`CLASSIFIER_SEED0`.
        sheet_rows: drives shown in the before/after pictures (``sheets``).
    """
    if scenes_per_style < 1 or frames < 1:
        raise ValueError(f"scenes_per_style and frames must be >= 1, got {scenes_per_style}, {frames}")
    mask = box_mask(box, (cam.height, cam.width))
    # 8 ground-truth seeds per style: 6 to fit, 2 held out to validate (with 5 seeds, 4 + 1, the region
    # classifier validated at 0.89, under the 0.9 a metric needs to claim a goal)
    gt, labels, groups = style_dataset(cam, seeds_per_style=8, frames_per_seed=6, seed0=CLASSIFIER_SEED0)
    frame_clf, frame_val = _fit(gt, labels, groups < 6)
    region_clf, region_val = _fit(crop_box(gt, mask), labels, groups < 6)

    hits, hits_gt, src_share, struct, struct_gt = [], [], [], [], []
    in_hits, in_hits_gt, seams, seams_gt, exact = [], [], [], [], []
    sheets: dict[str, list[list[np.ndarray]]] = {"stylize": [], "inpaint": []}
    pairs = style_pairs(scenes_per_style)
    for i, (src, tgt) in enumerate(pairs):
        drive = render_paired(seed0 + i, (STYLES[src], STYLES[tgt]), cam, frames)
        x, y = drive.frames  # (T, H, W, 3) source style, target style of the same drive
        text = drive.captions[1]
        out = _checked(stylize(x, text, i), x.shape, "stylize")
        pred = frame_clf.predict(out)
        hits.append(pred == tgt)
        src_share.append(pred == src)
        hits_gt.append(frame_clf.predict(y) == tgt)
        struct.append(edge_structure(x, out))
        struct_gt.append(edge_structure(x, y))
        fill = _checked(inpaint(x, mask, text, i), x.shape, "inpaint")
        in_hits.append(region_clf.predict(crop_box(fill, mask)) == tgt)
        in_hits_gt.append(region_clf.predict(crop_box(y, mask)) == tgt)
        seams.append(seam_ratio(fill, mask))
        seams_gt.append(seam_ratio(x, mask))
        exact.append(unmasked_exact(x, fill, mask))
        if i < sheet_rows:
            sheets["stylize"] += [list(x), list(out), list(y)]
            sheets["inpaint"] += [list(x), list(fill), list(y)]
    return TaskScores(
        stylize_style_accuracy=float(np.concatenate(hits).mean()),
        stylize_structure=float(np.mean(struct)),
        inpaint_style_accuracy=float(np.concatenate(in_hits).mean()),
        inpaint_seam_ratio=float(np.mean(seams)),
        inpaint_unmasked_exact=float(np.mean(exact)),
        stylize_classifier_validation_accuracy=frame_val,
        inpaint_classifier_validation_accuracy=region_val,
        stylize_style_accuracy_gt=float(np.concatenate(hits_gt).mean()),
        stylize_structure_gt=float(np.mean(struct_gt)),
        stylize_source_style_share=float(np.concatenate(src_share).mean()),
        inpaint_style_accuracy_gt=float(np.concatenate(in_hits_gt).mean()),
        inpaint_seam_ratio_gt=float(np.mean(seams_gt)),
        pairs=[(STYLES[s], STYLES[t]) for s, t in pairs],
        sheets=sheets,
    )


def _checked(out: np.ndarray, shape: tuple[int, ...], task: str) -> np.ndarray:
    out = np.asarray(out)
    if out.shape != shape or out.dtype != np.uint8:
        raise ValueError(f"{task} must return uint8 frames of shape {shape}, got {out.dtype} {out.shape}")
    return out
