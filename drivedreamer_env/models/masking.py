"""Training masks for the STPT: a mix of the WorldDreamer recipes.

* ``predict``: past frames visible, future frames masked at a cosine-distributed rate (video prediction);
* ``dynamic``: one random token mask shared by every frame (WorldDreamer's dynamic masking);
* ``full``: everything masked (text-to-video);
* ``region``: a spatial rectangle masked in every frame (inpainting);
* ``next``: past frames visible, every future frame wholly masked: exactly what a rollout's first decoding
  step sees. With partly visible future frames the model can read the ego motion off their visible tokens;
  here only the past and the actions tell it.
* ``warp``: past frames visible; every future frame starts from its *warp proposal* (the previous frame
  reprojected by its action and encoded, :mod:`drivedreamer_env.models.proposal`): trusted proposal tokens are
  shown, except a random share, and the rest is masked. What warp-then-refine decoding hands the model.
* ``restyle`` (stylization): needs the clip's twin in a second style (paired token shards, ``drivedreamer data
  paired``). The input shows the clip's own (source-style) tokens except a masked share: each frame's flattest
  tokens (least edge energy, as the structure-preserving re-mask of :mod:`drivedreamer_env.tasks.style_sampling`
  regenerates them), plus a random share of the rest; the targets are the *twin's* tokens and the caption the
  twin's, so the model learns to repaint a drive in the style the text names around the kept edge tokens.
* ``restyle_region`` (inpainting with text of another style): a box masked in every frame, as ``region``, with
  the twin's tokens as targets and the twin's caption; the context outside the box stays in the source style.

The ``restyle`` probabilities apply to samples that have a twin; a sample without one draws from the other modes
(so ordinary shards mixed into a paired run keep the ordinary mix).

Against the gap between true and dreamt context (DIAMOND's autoregressive steps): with ``self_context``, a
share of the prediction samples sees the model's own one-pass predictions in place of its true context frames
after the first (:func:`own_prediction_context`), so it learns from the context a rollout hands it.

Masks are (B, T, h, w) bool, True where the model must predict the token. :func:`build_inputs` turns them into
the model's input tokens and the loss positions: the masked tokens, and in ``warp`` every token of the future
frames (a shown proposal token may be wrong, and the model must learn to correct it).

Against drift (1xgpt's corruption, GameNGen's noise augmentation): in the prediction modes a random share of the
shown past tokens, more for older frames, and of the shown proposal tokens is replaced by random codes. Only
inputs are corrupted, never the targets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

MODES = ("predict", "dynamic", "full", "region", "next", "warp", "restyle", "restyle_region")
PREDICTION_MODES = (0, 4, 5)  # indexes of predict, next and warp: the modes with a visible past
RESTYLE_MODES = (6, 7)  # indexes of restyle and restyle_region: targets and caption from the paired twin


@dataclass
class MaskConfig:
    """Probabilities of each masking mode per training sample (normalised to sum to 1)."""

    predict: float = 0.55
    dynamic: float = 0.2
    full: float = 0.1
    region: float = 0.15
    next: float = 0.0
    warp: float = 0.0  # needs token shards with warp proposals (``drivedreamer data tokenize --proposals``)
    warp_remask_max: float = 0.5  # in warp: masked share of the trusted proposal tokens, U(0, max) per sample
    corrupt_max: float = 0.0  # replaced share of shown past / proposal tokens, U(0, max) per sample
    # share of the prediction samples whose context frames after the first are the model's own one-pass
    # predictions (needs warp proposals); costs one forward pass without gradients per training step
    self_context: float = 0.0
    # with a paired twin in another style (``drivedreamer data paired``): probabilities of the restyle modes
    # for a sample that has one (a sample without one draws from the modes above)
    restyle: float = 0.0
    restyle_region: float = 0.0
    restyle_flat_min: float = 0.5  # in restyle: masked share of each frame's flattest tokens, U(min, max)
    restyle_flat_max: float = 0.9
    restyle_random_max: float = 0.3  # in restyle: masked share of the other tokens, U(0, max) per sample

    def __post_init__(self) -> None:
        if self.restyle_flat_min > self.restyle_flat_max:
            raise ValueError(f"MaskConfig.restyle_flat_min {self.restyle_flat_min} > max {self.restyle_flat_max}")
        for name in ("warp_remask_max", "corrupt_max", "self_context", "restyle", "restyle_region",
                     "restyle_flat_min", "restyle_flat_max", "restyle_random_max"):  # fmt: skip
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"MaskConfig.{name} must be in [0, 1], got {getattr(self, name)}")

    def probs(self) -> torch.Tensor:
        """Probabilities of the modes for a sample without a twin (the restyle modes get 0), over ``MODES``."""
        p = torch.tensor(
            [self.predict, self.dynamic, self.full, self.region, self.next, self.warp, 0.0, 0.0], dtype=torch.float64
        )
        if p.sum() <= 0 or (p < 0).any():
            raise ValueError(f"mask mode probabilities must be >= 0 with a positive sum, got {p.tolist()}")
        return p / p.sum()

    @property
    def restyles(self) -> bool:
        return self.restyle + self.restyle_region > 0

    def paired_probs(self) -> torch.Tensor:
        """Probabilities of the modes for a sample with a twin: the restyle modes take their share, the other
        modes share the rest in their proportions."""
        share = self.restyle + self.restyle_region
        if share > 1.0:
            raise ValueError(f"MaskConfig.restyle + restyle_region must be <= 1, got {share}")
        p = self.probs() * (1.0 - share)
        p[RESTYLE_MODES[0]], p[RESTYLE_MODES[1]] = self.restyle, self.restyle_region
        return p


def cosine_ratio(u: torch.Tensor) -> torch.Tensor:
    """MaskGIT's cosine schedule: a uniform u in [0, 1) -> mask ratio cos(pi/2 * u) in (0, 1]."""
    return torch.cos(math.pi / 2 * u)


def _random_mask(shape: tuple[int, ...], ratio: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Mask ``ceil(ratio * n)`` random positions (at least one) of the last dims; ratio is per batch row."""
    b = shape[0]
    n = math.prod(shape[1:])
    scores = torch.rand(b, n, generator=g)
    k = torch.clamp((ratio * n).ceil().long(), 1, n)
    kth = scores.sort(dim=1).values.gather(1, (k - 1)[:, None])
    return (scores <= kth).reshape(shape)


def _box(h: int, w: int, g: torch.Generator) -> tuple[slice, slice]:
    """A random rectangle of at least a quarter of each side of the (h, w) grid."""
    rh = int(torch.randint(max(1, h // 4), h + 1, (1,), generator=g))
    rw = int(torch.randint(max(1, w // 4), w + 1, (1,), generator=g))
    y0 = int(torch.randint(0, h - rh + 1, (1,), generator=g))
    x0 = int(torch.randint(0, w - rw + 1, (1,), generator=g))
    return slice(y0, y0 + rh), slice(x0, x0 + rw)


def _restyle_mask(t: int, h: int, w: int, cfg: MaskConfig, g: torch.Generator, energy: torch.Tensor | None):
    """(T, h, w) bool: each frame's flattest ``U(flat_min, flat_max)`` share by ``energy`` (T, h, w) (random scores
    when None), plus a ``U(0, random_max)`` share of the others at random; at least one token."""
    flat_r = cfg.restyle_flat_min + float(torch.rand(1, generator=g)) * (cfg.restyle_flat_max - cfg.restyle_flat_min)
    rand_r = float(torch.rand(1, generator=g)) * cfg.restyle_random_max
    scores = torch.rand(t, h * w, generator=g) if energy is None else energy.reshape(t, h * w).float().cpu()
    k = round(flat_r * h * w)
    mask = torch.zeros(t, h * w, dtype=torch.bool)
    mask.scatter_(1, scores.argsort(dim=1, stable=True)[:, :k], True)
    mask |= torch.rand(t, h * w, generator=g) < rand_r
    mask[:, 0] |= ~mask.any(1)  # every frame keeps something to predict
    return mask.reshape(t, h, w)


def sample_masks(
    b: int,
    t: int,
    h: int,
    w: int,
    cfg: MaskConfig,
    g: torch.Generator,
    paired: torch.Tensor | None = None,
    energy: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks (B, T, h, w) bool and the mode index of each sample (B,) (indexes ``MODES``).

    ``paired`` (B,) bool marks the samples with a twin in another style: only they may draw a restyle mode (with
    ``cfg.paired_probs()``); ``energy`` (B, T, h, w) is the per-token edge energy the ``restyle`` mask prefers
    the flat tokens by (None: random positions). Without restyle probabilities the draws are exactly those of a
    config that predates the restyle modes."""
    modes = torch.multinomial(cfg.probs(), b, replacement=True, generator=g)
    if cfg.restyles and paired is not None:  # no extra draws otherwise: an old config keeps its sequence
        with_twin = torch.multinomial(cfg.paired_probs(), b, replacement=True, generator=g)
        modes = torch.where(paired.cpu().bool(), with_twin, modes)
    masks = torch.zeros(b, t, h, w, dtype=torch.bool)
    ratio = cosine_ratio(torch.rand(b, generator=g))
    for i in range(b):
        mode = MODES[int(modes[i])]
        if mode == "restyle":
            masks[i] = _restyle_mask(t, h, w, cfg, g, None if energy is None else energy[i])
        elif mode == "restyle_region":
            ys, xs = _box(h, w, g)
            masks[i, :, ys, xs] = True
        elif mode in ("next", "warp") and t > 1:
            masks[i, int(torch.randint(1, t, (1,), generator=g)) :] = True
        elif mode == "predict" and t > 1:
            context = int(torch.randint(1, t, (1,), generator=g))
            future = _random_mask((t - context, h, w), ratio[i : i + 1].expand(t - context), g)
            masks[i, context:] = future
        elif mode in (
            "dynamic",
            "predict",
            "next",
            "warp",
        ):  # a single frame has no future: fall back to dynamic masking
            masks[i] = _random_mask((1, h, w), ratio[i : i + 1], g)[0].expand(t, h, w)
        elif mode == "full":
            masks[i] = True
        else:
            ys, xs = _box(h, w, g)
            masks[i, :, ys, xs] = True
    return masks, modes


@dataclass
class TrainingInputs:
    """What one training step feeds the STPT and where it scores it."""

    tokens: torch.Tensor  # (B, T, h, w) int64 model inputs: true, proposal or corrupted codes, mask id where hidden
    loss_mask: torch.Tensor  # (B, T, h, w) bool: positions scored against ``targets``
    targets: torch.Tensor  # (B, T, h, w) int64: the true tokens, the paired twin's in the restyle modes


def build_inputs(
    tokens: torch.Tensor,
    masks: torch.Tensor,
    modes: torch.Tensor,
    cfg: MaskConfig,
    mask_id: int,
    g: torch.Generator,
    proposal: torch.Tensor | None = None,
    trusted: torch.Tensor | None = None,
    shown: torch.Tensor | None = None,
    paired: torch.Tensor | None = None,
) -> TrainingInputs:
    """Model inputs, loss positions and targets for true ``tokens`` (B, T, h, w) under ``masks`` / ``modes`` from
    :func:`sample_masks`. ``proposal`` / ``trusted`` (B, T, h, w) are the warp proposals, needed when a sample
    is in ``warp`` mode. ``shown`` (B, T, h, w), default ``tokens``, are the tokens shown where nothing is
    masked (e.g. the model's own predictions of the context, :func:`own_prediction_context`). ``paired``
    (B, T, h, w) are the twins in another style, needed when a sample is in a restyle mode: its targets are the
    twin's tokens while its input shows only its own; every other sample is scored against ``tokens``.
    Randomness comes from ``g`` alone, in a fixed order, so a seed fixes the result."""
    b, t = tokens.shape[:2]
    device = tokens.device
    warp_rows = modes.to(device) == MODES.index("warp")
    if bool(warp_rows.any()) and (proposal is None or trusted is None):
        raise ValueError("a 'warp' masking sample needs warp proposals: tokenize with --proposals")
    restyle_rows = torch.isin(modes.to(device), torch.tensor(RESTYLE_MODES, device=device))
    targets = tokens
    if bool(restyle_rows.any()):
        if paired is None:
            raise ValueError("a restyle masking sample needs its paired twin: paired token shards (`data paired`)")
        targets = torch.where(restyle_rows[:, None, None, None], paired.to(device).long(), tokens)
    inputs = torch.where(masks, torch.full_like(tokens, mask_id), tokens if shown is None else shown)
    loss_mask = masks.clone()
    if bool(warp_rows.any()):
        remask_u = torch.rand(tokens.shape, generator=g).to(device)
        remask_r = (torch.rand(b, generator=g) * cfg.warp_remask_max).to(device)
        future = masks.flatten(2).all(-1) & warp_rows[:, None]  # (B, T): wholly masked frames of warp samples
        shown = trusted.to(device) & (remask_u >= remask_r[:, None, None, None]) & future[..., None, None]
        inputs = torch.where(shown, proposal.to(device).long(), inputs)  # the loss stays on the whole frame
    if cfg.corrupt_max > 0:  # no draws otherwise: a run without corruption keeps its random sequence
        corrupt_u = torch.rand(tokens.shape, generator=g).to(device)
        codes = torch.randint(0, mask_id, tokens.shape, generator=g).to(device)
        corrupt_r = (torch.rand(b, generator=g) * cfg.corrupt_max).to(device)
        predicting = torch.isin(modes.to(device), torch.tensor(PREDICTION_MODES, device=device))
        # the share grows with a frame's age: the oldest frame gets twice the newest frame's share
        age = torch.arange(t - 1, -1, -1, device=device, dtype=torch.float32) / max(t - 1, 1)
        rate = corrupt_r[:, None] * (1.0 + age)[None]  # (B, T)
        visible = inputs != mask_id
        hit = (corrupt_u < rate[..., None, None]) & visible & predicting[:, None, None, None]
        inputs = torch.where(hit, codes, inputs)
    return TrainingInputs(inputs, loss_mask, targets)


def context_frames(masks: torch.Tensor) -> torch.Tensor:
    """(B,) frames before the first frame with a masked token (T where nothing is masked)."""
    any_masked = masks.flatten(2).any(-1)  # (B, T)
    t = masks.shape[1]
    first = torch.where(any_masked, torch.arange(t, device=masks.device)[None], t)
    return first.min(dim=1).values


def own_prediction_context(
    tokens: torch.Tensor,
    masks: torch.Tensor,
    modes: torch.Tensor,
    cfg: MaskConfig,
    g: torch.Generator,
    predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    mask_id: int,
    proposal: torch.Tensor,
    trusted: torch.Tensor,
) -> torch.Tensor:
    """The tokens to show (B, T, h, w): for a ``cfg.self_context`` share of the prediction samples, their context
    frames after the first are replaced by the model's own one-pass predictions; everything else is ``tokens``.

    The one pass sees frame 0 and, for every later frame, its trusted warp-proposal tokens (the rest masked),
    which is what warp decoding hands the model, so frame j's prediction is a one-step dream from the true frame
    j - 1. ``predict(inputs, rows)`` maps such inputs (n, T, h, w) of batch rows ``rows`` (n,) to sampled tokens
    (n, T, h, w). The draws come from ``g``
    alone (only when ``self_context > 0``); the targets are never touched.
    """
    if cfg.self_context <= 0:
        return tokens
    b, t = tokens.shape[:2]
    device = tokens.device
    pick = torch.rand(b, generator=g).to(device) < cfg.self_context
    predicting = torch.isin(modes.to(device), torch.tensor(PREDICTION_MODES, device=device))
    ctx = context_frames(masks.to(device))
    rows = (pick & predicting & (ctx > 1)).nonzero()[:, 0]
    if len(rows) == 0:
        return tokens
    inp = torch.where(trusted[rows].to(device), proposal[rows].to(device).long(), mask_id)
    inp[:, 0] = tokens[rows, 0]
    with torch.no_grad():
        predicted = predict(inp, rows)  # (n, T, h, w)
    frame = torch.arange(t, device=device)[None]
    replace = (frame >= 1) & (frame < ctx[rows, None])  # (n, T): context frames after the first
    shown = tokens.clone()
    shown[rows] = torch.where(replace[..., None, None], predicted, tokens[rows])
    return shown


def proposal_inputs(
    masks: torch.Tensor, modes: torch.Tensor, proposal: torch.Tensor, trusted: torch.Tensor, mask_id: int
) -> torch.Tensor:
    """The aligned proposal input (B, T, h, w) of a model with ``proposal_input``: the trusted warp-proposal tokens
    of the frames a prediction sample predicts (from its first masked frame on), as a rollout has them for the
    frames it dreams; ``mask_id`` (no proposal) for its context frames and for every frame of the other modes."""
    device = masks.device
    t = masks.shape[1]
    predicting = torch.isin(modes.to(device), torch.tensor(PREDICTION_MODES, device=device))
    future = torch.arange(t, device=device)[None] >= context_frames(masks)[:, None]  # (B, T)
    show = trusted.to(device) & (future & predicting[:, None])[..., None, None]
    return torch.where(show, proposal.to(device).long(), mask_id)
