"""Text control: text-to-video clips, one per style caption, classified back to their style.

Part of ``drivedreamer eval world-model``. The style classifier is fitted on ground-truth simulator frames of every
style and validated on held-out seeds before it judges the generated clips.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from drivedreamer_env.eval.controllability import lane_keep
from drivedreamer_env.eval.frame_probes import STYLES, StyleClassifier
from drivedreamer_env.models.sampler import SamplerConfig, generate_joint
from drivedreamer_env.models.world_model import WorldModel
from drivedreamer_env.sim.config import CameraConfig, SimConfig
from drivedreamer_env.sim.simulator import Simulator

WEATHER_WORDS = {"clear": "clear", "fog": "dense fog", "rain": "heavy rain"}


def style_dataset(
    cam: CameraConfig, seeds_per_style: int, frames_per_seed: int, seed0: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground-truth frames of every style: (frames, style labels, seed group)."""
    frames, labels, groups = [], [], []
    for k, style in enumerate(STYLES):
        tod, weather = style.split(", ")
        sim = Simulator(SimConfig(camera=cam, time_of_day=tod, weather=weather))
        for j in range(seeds_per_style):
            frame, _ = sim.reset(seed0 + 97 * k + j)
            for _ in range(frames_per_seed):
                frames.append(frame)
                labels.append(k)
                groups.append(j)
                frame = sim.step(lane_keep(sim)).frame
    return np.array(frames), np.array(labels), np.array(groups)


@dataclass
class TextControl:
    """Text-to-video clips, one per style caption, classified back to their style.

    Attributes:
        t2v_style_accuracy: fraction of generated frames classified as their caption's style.
        classifier_validation_accuracy: the style classifier on held-out ground-truth frames.
        t2v: (styles, frames, H, W, 3) uint8 generated clips (for the contact sheet).
    """

    t2v_style_accuracy: float
    classifier_validation_accuracy: float
    t2v: np.ndarray = field(repr=False)

    def to_json(self) -> dict[str, float]:
        return {
            "t2v_style_accuracy": self.t2v_style_accuracy,
            "t2v_style_classifier_validation_accuracy": self.classifier_validation_accuracy,
        }


def evaluate_text_control(
    wm: WorldModel, cam: CameraConfig, seed0: int, sampler: SamplerConfig, frames_per_clip: int = 4
) -> TextControl:
    """Generate a ``frames_per_clip`` clip from each style caption alone; classify its frames back to a style.

    The classifier is trained on ground-truth frames of simulator seeds from ``seed0`` (4 of 5 seeds per style)
    and validated on the fifth.
    """
    h, w = cam.height, cam.width
    frames, labels, groups = style_dataset(cam, seeds_per_style=5, frames_per_seed=6, seed0=seed0)
    train = groups < 4
    clf = StyleClassifier.fit(frames[train], labels[train])
    val_acc = float((clf.predict(frames[~train]) == labels[~train]).mean())
    captions = [
        f"{s.split(', ')[0]}, {WEATHER_WORDS[s.split(', ')[1]]}, rural two-lane road straight, light traffic"
        for s in STYLES
    ]
    c = wm.stpt.cfg
    start = torch.full((len(STYLES), frames_per_clip, c.grid_h, c.grid_w), c.mask_id, dtype=torch.long)
    gens = [torch.Generator().manual_seed(3 + i) for i in range(len(STYLES))]
    t2v = wm.decode(generate_joint(wm.stpt, start, sampler, gens, text_ids=wm.text_ids(captions)))  # (S, T, H, W, 3)
    pred = clf.predict(t2v.reshape(-1, h, w, 3)).reshape(len(STYLES), frames_per_clip)
    return TextControl(float((pred == np.arange(len(STYLES))[:, None]).mean()), val_acc, t2v)
