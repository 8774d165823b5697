"""The settings of ``stylize`` and ``inpaint`` (:mod:`~drivedreamer_env.tasks.style_sampling`), torch-free so that
the CLI can take its defaults from them cheaply."""

from __future__ import annotations

from dataclasses import dataclass

STYLIZE_SCHEDULES = ("random", "structure")
ROUND_SHARE = 0.5  # share of the regenerable tokens (inpaint: the fill; structure: the flat ones) re-masked per round


@dataclass(frozen=True)
class StylizeConfig:
    """How ``stylize`` regenerates. The defaults, the flattest 80 % of each frame's tokens, were chosen on
    ``benchmarks/results/tasks_ablation_stylize.json`` (WorldDreamer's plain recipe: ``ratio=0.6,
    schedule="random"``)."""

    ratio: float = 0.8  # share of token positions regenerated (per round)
    schedule: str = "structure"  # "random" | "structure" (keep the edge tokens, regenerate the flat ones)
    rounds: int = 1  # > 1: after each fill, re-mask the least text-consistent tokens and fill again (stylize_fill)
    text_guidance: float = 1.0  # classifier-free guidance on the text only (1 = off)

    def __post_init__(self) -> None:
        if not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"stylize ratio must be in (0, 1], got {self.ratio}")
        if self.schedule not in STYLIZE_SCHEDULES:
            raise ValueError(f"stylize schedule must be one of {STYLIZE_SCHEDULES}, got {self.schedule!r}")
        if self.rounds < 1:
            raise ValueError(f"stylize rounds must be >= 1, got {self.rounds}")
        if self.text_guidance < 0:
            raise ValueError(f"stylize text_guidance must be >= 0, got {self.text_guidance}")


@dataclass(frozen=True)
class InpaintConfig:
    """How ``inpaint`` fills. The defaults, two more token rings generated and an 8-pixel feather, were chosen on
    ``benchmarks/results/tasks_ablation_inpaint.json`` (the plain recipe: ``dilate=0, feather_px=0``)."""

    ring: bool = False  # re-sample the fill's tokens that touch the mask boundary, with everything else given
    feather_px: int = 8  # ramp from the kept pixels to the fill over this many pixels inside the mask
    text_guidance: float = 1.0  # classifier-free guidance on the text only (1 = off)
    rounds: int = 1  # > 1: re-mask the least text-consistent half of the fill and fill it again, this many fills
    dilate: int = 2  # also generate this many token rings around the fill (less source-style context; the pixels
    # outside the mask are still kept exactly)

    def __post_init__(self) -> None:
        if self.dilate < 0:
            raise ValueError(f"inpaint dilate must be >= 0, got {self.dilate}")
        if self.rounds < 1:
            raise ValueError(f"inpaint rounds must be >= 1, got {self.rounds}")
        if self.feather_px < 0:
            raise ValueError(f"inpaint feather_px must be >= 0, got {self.feather_px}")
        if self.text_guidance < 0:
            raise ValueError(f"inpaint text_guidance must be >= 0, got {self.text_guidance}")
