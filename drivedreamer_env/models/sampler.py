"""MaskGIT sampling for the STPT: confidence-based parallel decoding on a cosine schedule.

``maskgit_fill`` is the pure decoding loop. ``Rollout`` uses it frame by frame with the STPT's KV cache (the
context is paid for once; each new frame costs ``steps`` passes over that frame alone plus one pass to cache
it), and ``generate_joint`` fills several frames at once for the video tasks.

Design choices (after MaskGIT, Chang et al. 2022, and 1xgpt's ``maskgit_generate``):
* every step samples all still-masked tokens, then keeps the most confident and re-masks the rest; given
  tokens and already kept tokens never change;
* confidence is the sampled token's probability plus Gumbel noise annealed to zero over the steps, which keeps
  early steps from committing to one mode of the distribution;
* classifier-free guidance mixes conditional and unconditional logits, ``u + s * (c - u)``; the unconditional
  branch runs with the null condition through its own cache;
* all randomness comes from explicit ``torch.Generator`` s, one per batch row when given a list, so a row's
  result does not depend on the other rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from drivedreamer_env.models.stpt import STPT, STPTCache

DECODINGS = ("plain", "warp")


@dataclass
class SamplerConfig:
    steps: int = 8  # decoding steps per frame
    temperature: float = 1.0  # 0 = greedy
    guidance_scale: float = 1.0  # 1 = no classifier-free guidance
    confidence_noise: float = 1.0  # scale of the annealed Gumbel noise on confidences
    # "plain": every frame from a fully masked grid; "warp": warp-then-refine, each frame starts from the
    # previous frame reprojected by the action (trusted tokens kept, the rest filled; needs the model's camera)
    decoding: str = "plain"
    warp_remask: float = 0.0  # warp: share of the trusted proposal tokens masked anyway and re-predicted
    refine: bool = False  # warp: a last pass replaces the kept proposal tokens by the model's most likely tokens
    # warp: reproject from a frame held for this many steps (1 = the previous frame). Fewer resamplings blur less;
    # the anchor's motion is composed over the steps since it was taken.
    warp_anchor_every: int = 1

    def __post_init__(self) -> None:
        if self.decoding not in DECODINGS:
            raise ValueError(f"SamplerConfig.decoding must be one of {DECODINGS}, got {self.decoding!r}")
        if not 0.0 <= self.warp_remask <= 1.0:
            raise ValueError(f"SamplerConfig.warp_remask must be in [0, 1], got {self.warp_remask}")
        if self.warp_anchor_every < 1:
            raise ValueError(f"SamplerConfig.warp_anchor_every must be >= 1, got {self.warp_anchor_every}")
        if self.steps < 1:
            raise ValueError(f"SamplerConfig.steps must be >= 1, got {self.steps}")


Generators = torch.Generator | Sequence[torch.Generator]


def _uniform(shape: tuple[int, ...], generators: Generators, device: torch.device) -> torch.Tensor:
    """U(0, 1) of ``shape`` with row i drawn from ``generators[i]`` (or all from one generator)."""
    if isinstance(generators, torch.Generator):
        return torch.rand(shape, generator=generators).to(device)
    if len(generators) != shape[0]:
        raise ValueError(f"need one generator per batch row: {shape[0]} rows, {len(generators)} generators")
    return torch.stack([torch.rand(shape[1:], generator=g) for g in generators]).to(device)


def _gumbel(shape: tuple[int, ...], generators: Generators, device: torch.device) -> torch.Tensor:
    u = _uniform(shape, generators, device).clamp(1e-9, 1 - 1e-9)
    return -torch.log(-torch.log(u))


@torch.no_grad()
def maskgit_fill(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    tokens: torch.Tensor,
    mask_id: int,
    cfg: SamplerConfig,
    generators: Generators,
) -> torch.Tensor:
    """Fill every ``mask_id`` entry of ``tokens`` (B, N).

    Args:
        logits_fn: (B, N) tokens -> (B, N, V) logits.
        tokens: given tokens, ``mask_id`` where unknown; given tokens are never changed.
    Returns:
        (B, N) tokens with no ``mask_id`` left.
    """
    tokens = tokens.clone()
    unknown0 = tokens == mask_id
    m0 = unknown0.sum(dim=1)  # (B,) tokens to generate per row
    if int(m0.max()) == 0:
        return tokens
    b, n = tokens.shape
    for step in range(cfg.steps):
        unknown = tokens == mask_id
        logits = logits_fn(tokens).float()  # (B, N, V)
        if cfg.temperature > 0:
            probs = torch.softmax(logits / cfg.temperature, dim=-1)
            # inverse-CDF sampling: one uniform per token rather than Gumbel noise over the whole vocabulary
            u = _uniform((b, n), generators, logits.device)[..., None]
            sampled = torch.searchsorted(probs.cumsum(-1), u).squeeze(-1).clamp_max(probs.shape[-1] - 1)
        else:
            sampled = logits.argmax(-1)
            probs = torch.softmax(logits, dim=-1)
        conf = probs.gather(-1, sampled[..., None])[..., 0].log()
        anneal = cfg.confidence_noise * cfg.temperature * (1.0 - (step + 1) / cfg.steps)
        if anneal > 0:
            conf = conf + anneal * _gumbel((b, n), generators, logits.device)
        conf = torch.where(unknown, conf, torch.full_like(conf, math.inf))
        # after this step, cos(pi/2 * (step+1)/steps) of the originally unknown tokens stay masked
        still = torch.floor(m0.float() * math.cos(math.pi / 2 * (step + 1) / cfg.steps)).long()
        if step == cfg.steps - 1:
            still = torch.zeros_like(still)
        order = conf.argsort(dim=1)  # least confident first
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(n, device=tokens.device).expand(b, n))
        remask = rank < still[:, None]
        tokens = torch.where(unknown & ~remask, sampled, tokens)
    return tokens


def _guided(out_logits: torch.Tensor, scale: float) -> torch.Tensor:
    """Rows are interleaved (cond, uncond) pairs -> guided logits for the conditional rows."""
    cond, uncond = out_logits[0::2], out_logits[1::2]
    return uncond + scale * (cond - uncond)


class Rollout:
    """Frame-by-frame generation with a KV cache of the past frames.

    Usage: ``r = Rollout(model, cfg, batch=B, text_ids=...)``; ``r.observe(tokens, actions)`` for context frames
    (B, C, h, w) with their actions (B, C, 2) (or C - 1 of them, the last one given later); then repeatedly
    ``r.act(actions)`` with the action (B, 2) of the latest frame and ``r.sample(generators)`` for the next
    frame's tokens (B, h, w).

    The cache keeps the last ``keep_frames`` frames (default: the model's ``context_frames``) and the action
    history only the last ``action_window`` actions, so memory stays flat over any number of steps. A batched
    environment keeps every row at the same number of cached frames and replaces single rows with
    :meth:`reset_rows`; :meth:`clone` and :meth:`select` copy the full state for counterfactual branches.
    """

    REBASE_AFTER = 4096  # frames; past this absolute index the cache is re-based to keep RoPE angles small
    OBSERVE_ROW_FRAMES = 64  # rows x frames per pass when observing known frames (64 envs x 8 frames: 1.3 GB)

    def __init__(
        self,
        model: STPT,
        cfg: SamplerConfig,
        batch: int,
        text_ids: torch.Tensor | None = None,
        keep_frames: int | None = None,
    ) -> None:
        self.model, self.cfg = model, cfg
        self.batch = batch
        self.guided = cfg.guidance_scale != 1.0
        self.rows = batch * (2 if self.guided else 1)
        self.keep_frames = keep_frames or model.cfg.context_frames
        device = next(model.parameters()).device
        self.device = device
        self.text = None
        if text_ids is not None:
            self.text = self._encode_text(text_ids)
        self.drop = torch.tensor([False, True] * batch, device=device) if self.guided else None
        self.cache: STPTCache = model.empty_cache(self.rows, device)
        self.actions = torch.zeros(self.rows, 0, 2, device=device)  # the latest actions, ...
        self.action_t0 = 0  # ... the first of which belongs to this absolute frame
        self.last_events: torch.Tensor | None = None

    def _encode_text(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ids = ids.to(self.device)
        return self.model.encode_text(ids.repeat_interleave(2, 0) if self.guided else ids)

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device).repeat_interleave(2, 0) if self.guided else x.to(self.device)

    def _forward(self, tokens: torch.Tensor, cache: STPTCache, head: bool = True):
        return self.model(
            tokens, actions=self.actions, action_t0=self.action_t0, text=self.text, cache=cache,
            drop_text=self.drop, drop_actions=self.drop, head=head,
        )  # fmt: skip

    def _push_actions(self, actions: torch.Tensor) -> None:
        """Append (rows, n, 2) actions; keep only the ``action_window`` latest."""
        self.actions = torch.cat([self.actions, actions], dim=1)
        self._trim_actions()

    def _trim_actions(self) -> None:
        extra = self.actions.shape[1] - self.model.cfg.action_window
        if extra > 0:
            self.actions = self.actions[:, extra:]
            self.action_t0 += extra

    @torch.no_grad()
    def observe(self, tokens: torch.Tensor, actions: torch.Tensor | None = None) -> None:
        """Append known frames (B, C, h, w); ``actions`` (B, A, 2) are their actions (drive into the next frame).

        ``A`` may be ``C`` or ``C - 1`` (the last frame's action then comes with :meth:`act`). Every frame sees
        the ``action_window`` actions before it, as in training. Long contexts of many rows go through the model
        a few frames at a time (``OBSERVE_ROW_FRAMES`` row-frames per pass), so memory stays flat.
        """
        if tokens.shape[1] == 0:
            raise ValueError(f"observe needs at least one frame (B, C >= 1, h, w), got {tuple(tokens.shape)}")
        rows = self._rows(tokens)
        acts = self._rows(actions.float()) if actions is not None else None
        if acts is not None and acts.shape[1] and self.actions.shape[1] == 0:
            self.action_t0 = self.cache.t_next
        n = tokens.shape[1]
        chunk = max(1, self.OBSERVE_ROW_FRAMES // self.rows)
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            if acts is not None:  # frames s..e-1 need the actions before them: trim only after the pass
                self.actions = torch.cat([self.actions, acts[:, s:e]], dim=1)
            out = self._forward(rows[:, s:e], self.cache, head=False)  # known frames: cache entries and events
            self.cache = self.model.commit(self.cache, out, e - s, keep_frames=self.keep_frames)
            self._trim_actions()
        events = out.events[0::2] if self.guided else out.events
        self.last_events = events[:, -1]  # (B, n_events) logits of the latest frame
        offset = self.cache.pos_offset
        row_time = self.cache.t_next - (offset if offset is not None else torch.zeros(self.rows, dtype=torch.long))
        if int(row_time.max()) > self.REBASE_AFTER:  # rows far from their start: move them back in time
            shift = torch.where(row_time > self.REBASE_AFTER, row_time - self.cache.frames, 0)
            self.cache = self.model.rebase(self.cache, shift)

    def act(self, action: torch.Tensor) -> None:
        """Set the action (B, 2) of the latest frame: it drives the transition into the next frame."""
        if self.actions.shape[1] == 0:
            self.action_t0 = self.cache.t_next - 1
        self._push_actions(self._rows(action.float())[:, None])

    @torch.no_grad()
    def sample(
        self, generators: Generators, given: torch.Tensor | None = None, revisable: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Generate the next frame's tokens (B, h, w) and append it to the cache.

        ``given`` (B, h, w) may fix some tokens (``mask_id`` elsewhere). With ``cfg.refine``, the given tokens
        where ``revisable`` (B, h, w) is True (default: all given) are revised by one more pass over the filled
        frame, which takes the model's most likely token there (a warp proposal's tokens may be wrong).
        """
        c = self.model.cfg
        b = self.batch
        start = given if given is not None else torch.full((b, c.grid_h, c.grid_w), c.mask_id, dtype=torch.long)
        start = start.to(self.device)

        def logits_fn(flat: torch.Tensor) -> torch.Tensor:
            out = self._forward(self._rows(flat.reshape(b, 1, c.grid_h, c.grid_w)), self.cache)
            logits = out.logits.reshape(self.rows, -1, c.codebook_size)
            return _guided(logits, self.cfg.guidance_scale) if self.guided else logits

        tokens = maskgit_fill(logits_fn, start.reshape(b, -1), c.mask_id, self.cfg, generators)
        if self.cfg.refine and given is not None:
            fixed = start.reshape(b, -1) != c.mask_id
            if revisable is not None:
                fixed = fixed & revisable.to(self.device).reshape(b, -1)
            tokens = torch.where(fixed, logits_fn(tokens).argmax(-1), tokens)
        tokens = tokens.reshape(b, c.grid_h, c.grid_w)
        self.observe(tokens[:, None])
        return tokens

    # ------------------------------------------------------------------ batch surgery
    def _row_index(self, rows: Sequence[int]) -> torch.Tensor:
        """Environment rows -> model rows (each row is a (cond, uncond) pair under guidance)."""
        idx = torch.as_tensor(list(rows), dtype=torch.long)
        if self.guided:
            idx = torch.stack([2 * idx, 2 * idx + 1], dim=1).reshape(-1)
        return idx.to(self.device)

    def _nwin(self) -> int:
        return self.cache.k[0].shape[0] // self.rows

    def _kv_index(self, idx: torch.Tensor) -> torch.Tensor:
        nwin = self._nwin()
        return (idx[:, None] * nwin + torch.arange(nwin, device=idx.device)).reshape(-1)

    @torch.no_grad()
    def reset_rows(
        self, rows: Sequence[int], tokens: torch.Tensor, actions: torch.Tensor, text_ids: torch.Tensor | None
    ) -> None:
        """Replace rows ``rows`` by new starts: context ``tokens`` (n, C, h, w), ``actions`` (n, C - 1, 2).

        The other rows are untouched. ``C`` must equal the frames every row holds (``keep_frames`` once the
        rollout is under way), so that the batch stays aligned; the new rows are computed on their own
        (a fresh cache placed at the same frame positions), so nothing of the other rows leaks into them.
        """
        n, ctx = tokens.shape[:2]
        if self.cache.frames not in (0, ctx):
            raise ValueError(f"reset context has {ctx} frames but the batch holds {self.cache.frames}")
        if actions.shape[1] != ctx - 1:
            raise ValueError(f"reset needs {ctx - 1} context actions (the last comes with act), got {actions.shape[1]}")
        sub = Rollout(self.model, self.cfg, n, text_ids, self.keep_frames)
        sub.observe(tokens, actions)  # a fresh start: time positions 0 .. C-1
        idx = self._row_index(rows)
        if self.cache.frames == 0:  # nothing cached yet: the batch takes the new rows' layout
            if len(idx) != self.rows:
                raise ValueError("the first reset must start every row")
            self.cache, self.actions, self.action_t0 = sub.cache, sub.actions, sub.action_t0
            self.text, self.last_events = sub.text, sub.last_events
            return
        if self.cache.pos_offset is None:
            self.cache.pos_offset = torch.zeros(self.rows, dtype=torch.long, device=self.device)
        self.cache.pos_offset[idx] = self.cache.t_next - ctx  # the new rows' frame t sits at position t - offset
        kv = self._kv_index(idx)
        for i in range(len(self.cache.conv)):
            self.cache.conv[i][idx] = sub.cache.conv[i]
            self.cache.k[i][kv] = sub.cache.k[i]
            self.cache.v[i][kv] = sub.cache.v[i]
        if sub.actions.shape[1] != self.actions.shape[1]:
            raise ValueError("reset rows' action history does not line up with the batch")
        self.actions[idx] = sub.actions
        if self.text is not None and sub.text is not None:
            self.text = _replace_rows(self.text, sub.text, idx)
        if self.last_events is not None:
            self.last_events[torch.as_tensor(list(rows), dtype=torch.long)] = sub.last_events

    def select(self, rows: Sequence[int]) -> Rollout:
        """A new rollout holding copies of rows ``rows`` (repeats allowed: one start, several branches)."""
        idx = self._row_index(rows)
        kv = self._kv_index(idx)
        new = Rollout.__new__(Rollout)
        new.__dict__.update(self.__dict__)
        new.batch = len(rows)
        new.rows = len(idx)
        new.drop = torch.tensor([False, True] * new.batch, device=self.device) if self.guided else None
        new.cache = STPTCache(
            [c[idx].clone() for c in self.cache.conv], [k[kv].clone() for k in self.cache.k],
            [v[kv].clone() for v in self.cache.v], self.cache.t_next, self.cache._tokens_per_frame,
            None if self.cache.pos_offset is None else self.cache.pos_offset[idx].clone(),
        )  # fmt: skip
        new.actions = self.actions[idx].clone()
        new.text = None if self.text is None else (self.text[0][idx].clone(), self.text[1][idx].clone())
        ev = self.last_events
        new.last_events = None if ev is None else ev[torch.as_tensor(list(rows), dtype=torch.long)].clone()
        return new

    def clone(self) -> Rollout:
        """A deep copy of the whole state (cache, action history, text)."""
        return self.select(range(self.batch))


def _replace_rows(
    dst: tuple[torch.Tensor, torch.Tensor], src: tuple[torch.Tensor, torch.Tensor], idx: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Put text condition rows ``src`` into ``dst`` at ``idx``, padding the token axis where lengths differ."""
    tok, mask = dst
    stok, smask = src
    length = max(tok.shape[1], stok.shape[1])

    def pad(t: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        extra = length - t.shape[1]
        if extra:
            t = torch.cat([t, t.new_zeros(t.shape[0], extra, *t.shape[2:])], dim=1)
            m = torch.cat([m, m.new_zeros(m.shape[0], extra)], dim=1)
        return t, m

    tok, mask = pad(tok.clone(), mask.clone())
    stok, smask = pad(stok, smask)
    tok[idx], mask[idx] = stok, smask
    return tok, mask


@torch.no_grad()
def generate_joint(
    model: STPT,
    tokens: torch.Tensor,
    cfg: SamplerConfig,
    generators: Generators,
    actions: torch.Tensor | None = None,
    text_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fill all ``mask_id`` tokens of a whole clip (B, T, h, w) jointly (video tasks)."""
    b, t, h, w = tokens.shape
    guided = cfg.guidance_scale != 1.0
    rows = 2 * b if guided else b
    device = next(model.parameters()).device
    text = None
    if text_ids is not None:
        text = model.encode_text((text_ids.repeat_interleave(2, 0) if guided else text_ids).to(device))
    acts = None
    if actions is not None:
        acts = (actions.repeat_interleave(2, 0) if guided else actions).float().to(device)
    drop = torch.tensor([False, True] * b, device=device) if guided else None

    def logits_fn(flat: torch.Tensor) -> torch.Tensor:
        x = flat.reshape(b, t, h, w)
        x = x.repeat_interleave(2, 0) if guided else x
        out = model(x.to(device), actions=acts, text=text, drop_text=drop, drop_actions=drop)
        logits = out.logits.reshape(rows, -1, model.cfg.codebook_size)
        return _guided(logits, cfg.guidance_scale) if guided else logits

    return maskgit_fill(logits_fn, tokens.reshape(b, -1).to(device), model.cfg.mask_id, cfg, generators).reshape(
        b, t, h, w
    )
