"""MaskGIT sampling for the STPT: confidence-based parallel decoding on a cosine schedule.

``maskgit_fill`` is the pure decoding loop. ``Rollout`` uses it frame by frame with the STPT's KV cache (the
context is paid for once; each new frame costs ``steps`` passes over that frame alone: the pass that caches a
finished frame is folded into the next frame's first decoding pass), and ``generate_joint`` fills several frames
at once for the video tasks.

Design choices (after MaskGIT, Chang et al. 2022, and 1xgpt's ``maskgit_generate``):
* every step samples all still-masked tokens, then keeps the most confident and re-masks the rest; given
  tokens and already kept tokens never change (so only the still-masked tokens need logits: ``packed``);
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

from drivedreamer_env.models.stpt import STPT, STPTCache, STPTOutput

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
    logits_fn: Callable[..., torch.Tensor],
    tokens: torch.Tensor,
    mask_id: int,
    cfg: SamplerConfig,
    generators: Generators,
    packed: bool = False,
) -> torch.Tensor:
    """Fill every ``mask_id`` entry of ``tokens`` (B, N).

    Args:
        logits_fn: (B, N) tokens -> (B, N, V) logits; with ``packed``, ``(tokens, unknown)`` -> the (M, V)
            logits of the True entries of the (B, N) bool ``unknown`` only, in row-major order (the same
            tokens come out: the other entries' logits are never used).
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
        logits = (logits_fn(tokens, unknown) if packed else logits_fn(tokens)[unknown]).float()  # (M, V)
        u = _uniform((b, n), generators, logits.device)[unknown]  # drawn for every entry: rows stay independent
        if cfg.temperature > 0:
            probs = torch.softmax(logits / cfg.temperature, dim=-1)
            # inverse-CDF sampling: one uniform per token rather than Gumbel noise over the whole vocabulary
            picked = torch.searchsorted(probs.cumsum(-1), u[:, None]).squeeze(-1).clamp_max(probs.shape[-1] - 1)
        else:
            picked = logits.argmax(-1)
            probs = torch.softmax(logits, dim=-1)
        conf = torch.full((b, n), math.inf, device=tokens.device)
        conf[unknown] = probs.gather(-1, picked[:, None])[:, 0].log()
        anneal = cfg.confidence_noise * cfg.temperature * (1.0 - (step + 1) / cfg.steps)
        if anneal > 0:
            conf = conf + anneal * _gumbel((b, n), generators, logits.device)
        sampled = tokens.clone()
        sampled[unknown] = picked
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
    return _guided_pairs(out_logits[0::2], out_logits[1::2], scale)


def _guided_pairs(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    return uncond + scale * (cond - uncond)


class Rollout:
    """Frame-by-frame generation with a KV cache of the past frames.

    Usage: ``r = Rollout(model, cfg, batch=B, text_ids=...)``; ``r.observe(tokens, actions)`` for context frames
    (B, C, h, w) with their actions (B, C, 2) (or C - 1 of them, the last one given later); then repeatedly
    ``r.act(actions)`` with the action (B, 2) of the latest frame and ``r.sample(generators)`` for the next
    frame's tokens (B, h, w).

    A sampled frame is not cached at once: it stays *pending*, and the next frame's first decoding pass runs
    over both frames (it caches the pending one and decodes the new one, which may attend to it), so a frame
    costs ``steps`` passes, not ``steps + 1``, with the same logits. The event logits of a sampled frame
    (``last_events``) come from its last decoding pass. Anything that needs the cache complete (observing known
    frames, restarting rows) caches the pending frame first.

    The cache keeps the last ``keep_frames`` frames (default: the model's ``context_frames``) and the action
    history only the last ``action_window + 1`` actions (a pending frame still needs the action before its
    window), so memory stays flat over any number of steps. A batched environment keeps every row at the same
    number of cached frames and replaces single rows with :meth:`reset_rows`; :meth:`clone` and :meth:`select`
    copy the full state for counterfactual branches.
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
        self.cache: STPTCache = model.empty_cache(self.rows, device, self.keep_frames)
        self.pending: torch.Tensor | None = None  # (rows, 1, h, w) the latest frame, not cached yet
        # models with ``proposal_input``: the warp proposal (rows, 1, h, w) of the pending frame and of the frame
        # being decoded (mask id where none; None: no proposal)
        self.pending_proposal: torch.Tensor | None = None
        self._next_proposal: torch.Tensor | None = None
        self.actions = torch.zeros(self.rows, 0, 2, device=device)  # the latest actions, ...
        self.action_t0 = 0  # ... the first of which belongs to this absolute frame
        self.last_events: torch.Tensor | None = None
        self._decoding_events: torch.Tensor | None = None  # event logits of the latest decoding pass

    def _encode_text(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ids = ids.to(self.device)
        return self.model.encode_text(ids.repeat_interleave(2, 0) if self.guided else ids)

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device).repeat_interleave(2, 0) if self.guided else x.to(self.device)

    def _forward(
        self,
        tokens: torch.Tensor,
        cache: STPTCache,
        head: bool | torch.Tensor = True,
        proposals: Sequence[torch.Tensor | None] = (),
    ):
        """One pass over new frames ``tokens`` (rows, Tn, h, w); ``proposals`` are the aligned proposal inputs of
        the leading frames (rows, 1, h, w) each, None for none (the rest have none)."""
        proposal = None
        if self.model.cfg.proposal_input and any(p is not None for p in proposals):
            proposal = torch.full_like(tokens, self.model.cfg.mask_id)
            for i, p in enumerate(proposals):
                if p is not None:
                    proposal[:, i : i + 1] = p
        return self.model(
            tokens, actions=self.actions, action_t0=self.action_t0, text=self.text, cache=cache,
            drop_text=self.drop, drop_actions=self.drop, head=head, proposal=proposal,
        )  # fmt: skip

    @property
    def t_next(self) -> int:
        """Absolute index of the next frame (a pending frame counts as seen)."""
        return self.cache.t_next + (1 if self.pending is not None else 0)

    def _trim_actions(self) -> None:
        extra = self.actions.shape[1] - (self.model.cfg.action_window + 1)
        if extra > 0:
            self.actions = self.actions[:, extra:]
            self.action_t0 += extra

    def _commit(self, out: STPTOutput, frames: int) -> None:
        """Cache the first ``frames`` new frames of ``out``; re-base rows that are far from their start."""
        self.model.commit(self.cache, out, frames)
        offset = self.cache.pos_offset
        row_time = self.cache.t_next - (offset if offset is not None else torch.zeros(self.rows, dtype=torch.long))
        if int(row_time.max()) > self.REBASE_AFTER:  # rows far from their start: move them back in time
            shift = torch.where(row_time > self.REBASE_AFTER, row_time - self.cache.frames, 0)
            self.cache = self.model.rebase(self.cache, shift)

    @torch.no_grad()
    def flush(self) -> None:
        """Cache the pending frame now (one pass; ``last_events`` are kept as they are)."""
        if self.pending is not None:
            self._commit(self._forward(self.pending, self.cache, head=False, proposals=[self.pending_proposal]), 1)
            self.pending, self.pending_proposal = None, None

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
            self.action_t0 = self.t_next
        lead_proposal = None
        if self.pending is not None:  # the pending frame goes first, in the same pass
            rows, acts = torch.cat([self.pending, rows], 1), acts
            lead_proposal = self.pending_proposal
            self.pending, self.pending_proposal = None, None
            lead = 1
        else:
            lead = 0
        n = rows.shape[1]
        chunk = max(1, self.OBSERVE_ROW_FRAMES // self.rows)
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            if acts is not None and e > lead:  # frames s..e-1 need the actions before them: trim after the pass
                self.actions = torch.cat([self.actions, acts[:, max(0, s - lead) : e - lead]], dim=1)
            first = [lead_proposal] if s == 0 and lead else []
            out = self._forward(rows[:, s:e], self.cache, head=False, proposals=first)  # cache entries and events
            self._commit(out, e - s)
            self._trim_actions()
        events = out.events[0::2] if self.guided else out.events
        self.last_events = events[:, -1]  # (B, n_events) logits of the latest frame

    def act(self, action: torch.Tensor) -> None:
        """Set the action (B, 2) of the latest frame: it drives the transition into the next frame."""
        if self.actions.shape[1] == 0:
            self.action_t0 = self.t_next - 1
        self.actions = torch.cat([self.actions, self._rows(action.float())[:, None]], dim=1)
        self._trim_actions()

    @torch.no_grad()
    def logits(self, tokens: torch.Tensor, where: torch.Tensor | None = None) -> torch.Tensor:
        """The model rows' logits for the next frame ``tokens`` (B, h, w) (mask id where unknown), given the past.

        Returns (rows, h * w, V), or with ``where`` (B, h, w) bool the packed (rows-major) logits of its True
        entries only. A pending frame is cached by this same pass. Under guidance rows are (cond, uncond) pairs.
        """
        c = self.model.cfg
        x = self._rows(tokens.reshape(self.batch, 1, c.grid_h, c.grid_w))
        head: bool | torch.Tensor = True if where is None else self._rows(where.reshape(self.batch, 1, *x.shape[2:]))
        lead = 0
        proposals = [self._next_proposal]
        if self.pending is not None:  # fold: cache the pending frame and decode the new one in one pass
            x, lead = torch.cat([self.pending, x], 1), 1
            proposals = [self.pending_proposal, self._next_proposal]
            if where is not None:
                head = torch.cat([torch.zeros_like(head), head], 1)
        out = self._forward(x, self.cache, head=head, proposals=proposals)
        if lead:
            self._commit(out, 1)
            self.pending, self.pending_proposal = None, None
        events = out.events[0::2] if self.guided else out.events
        self._decoding_events = events[:, -1]
        if where is not None:
            return out.logits
        return out.logits[:, lead:].reshape(self.rows, c.grid_h * c.grid_w, c.codebook_size)

    def _guided_packed(self, packed: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        """Packed logits of (cond, uncond) row pairs -> the guided packed logits of the batch rows."""
        if not self.guided:
            return packed
        row = self._rows(where.reshape(self.batch, -1)).nonzero()[:, 0]  # model row of every packed entry
        return _guided_pairs(packed[row % 2 == 0], packed[row % 2 == 1], self.cfg.guidance_scale)

    @torch.no_grad()
    def sample(
        self,
        generators: Generators,
        given: torch.Tensor | None = None,
        revisable: torch.Tensor | None = None,
        proposal: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Generate the next frame's tokens (B, h, w); the frame is cached by the next pass (it is pending).

        ``given`` (B, h, w) may fix some tokens (``mask_id`` elsewhere). ``proposal`` (B, h, w) is the frame's
        aligned warp-proposal input (``mask_id`` where none), for models with ``proposal_input``. With
        ``cfg.refine``, the given tokens where ``revisable`` (B, h, w) is True (default: all given) are revised by
        one more pass over the filled frame, which takes the model's most likely token there (a warp proposal's
        tokens may be wrong).
        """
        c = self.model.cfg
        b = self.batch
        start = given if given is not None else torch.full((b, c.grid_h, c.grid_w), c.mask_id, dtype=torch.long)
        start = start.to(self.device).reshape(b, -1)
        self._decoding_events = None
        self._next_proposal = None
        if proposal is not None and self.model.cfg.proposal_input:
            self._next_proposal = self._rows(proposal.reshape(b, 1, c.grid_h, c.grid_w).long())

        def logits_fn(flat: torch.Tensor, unknown: torch.Tensor) -> torch.Tensor:
            return self._guided_packed(self.logits(flat, unknown), unknown)

        tokens = maskgit_fill(logits_fn, start, c.mask_id, self.cfg, generators, packed=True)
        if self.cfg.refine and given is not None:
            fixed = start != c.mask_id
            if revisable is not None:
                fixed = fixed & revisable.to(self.device).reshape(b, -1)
            if fixed.any():
                tokens = tokens.clone()
                tokens[fixed] = logits_fn(tokens, fixed).argmax(-1)
        tokens = tokens.reshape(b, c.grid_h, c.grid_w)
        if self._decoding_events is None and self._next_proposal is None:  # nothing was left to decode:
            self.observe(tokens[:, None])  # cache the frame as a known one
        elif self._decoding_events is None:  # the same, with the frame's proposal input
            self.flush()
            out = self._forward(self._rows(tokens[:, None]), self.cache, head=False, proposals=[self._next_proposal])
            self._commit(out, 1)
            self.last_events = (out.events[0::2] if self.guided else out.events)[:, -1]
        else:
            self.pending, self.pending_proposal = self._rows(tokens[:, None]), self._next_proposal
            self.last_events = self._decoding_events
        self._next_proposal = None
        return tokens

    # ------------------------------------------------------------------ batch surgery
    def _row_index(self, rows: Sequence[int]) -> torch.Tensor:
        """Environment rows -> model rows (each row is a (cond, uncond) pair under guidance)."""
        idx = torch.as_tensor(list(rows), dtype=torch.long)
        if self.guided:
            idx = torch.stack([2 * idx, 2 * idx + 1], dim=1).reshape(-1)
        return idx.to(self.device)

    def _kv_index(self, idx: torch.Tensor) -> torch.Tensor:
        nwin = self.cache.k[0].shape[0] // self.rows
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
        idx = self._row_index(rows)
        whole = idx.tolist() == list(range(self.rows))  # every row anew, in order: the batch is the new rollout
        if not whole:
            self.flush()
        if not whole and self.cache.frames not in (0, ctx):
            raise ValueError(f"reset context has {ctx} frames but the batch holds {self.cache.frames}")
        if actions.shape[1] != ctx - 1:
            raise ValueError(f"reset needs {ctx - 1} context actions (the last comes with act), got {actions.shape[1]}")
        sub = Rollout(self.model, self.cfg, n, text_ids, self.keep_frames)
        sub.observe(tokens, actions)  # a fresh start: time positions 0 .. C-1
        if whole:
            self.cache, self.actions, self.action_t0, self.pending = sub.cache, sub.actions, sub.action_t0, None
            self.pending_proposal = None
            self.text, self.last_events = sub.text, sub.last_events
            return
        if self.cache.frames == 0:
            raise ValueError("the first reset must start every row, in order")
        if self.cache.pos_offset is None:
            self.cache.pos_offset = torch.zeros(self.rows, dtype=torch.long, device=self.device)
        self.cache.pos_offset[idx] = self.cache.t_next - ctx  # the new rows' frame t sits at position t - offset
        kv = self._kv_index(idx)
        dst, src = self.cache.entry_order(), sub.cache.entry_order()  # held frames, oldest first, in each layout
        for i in range(len(self.cache.conv)):
            self.cache.conv[i][idx] = sub.cache.conv[i]
            for mine, theirs in ((self.cache.k[i], sub.cache.k[i]), (self.cache.v[i], sub.cache.v[i])):
                block = mine[kv]
                block[:, :, dst] = theirs[:, :, src]
                mine[kv] = block
        have, got = self.actions.shape[1], sub.actions.shape[1]
        if got > have:
            raise ValueError("reset rows' action history does not line up with the batch")
        # right-aligned: both end at the latest frame's action; older entries (none of the new rows' frames
        # still to come reads them) are zeroed
        self.actions[idx] = 0.0
        self.actions[idx, have - got :] = sub.actions
        if self.text is not None and sub.text is not None:
            self.text = _replace_rows(self.text, sub.text, idx)
        if self.last_events is not None:
            self.last_events[torch.as_tensor(list(rows), dtype=torch.long)] = sub.last_events

    def select(self, rows: Sequence[int]) -> Rollout:
        """A new rollout holding copies of rows ``rows`` (repeats allowed: one start, several branches)."""
        idx = self._row_index(rows)
        new = Rollout.__new__(Rollout)
        new.__dict__.update(self.__dict__)
        new.batch = len(rows)
        new.rows = len(idx)
        new.drop = torch.tensor([False, True] * new.batch, device=self.device) if self.guided else None
        new.cache = self.cache.clone(idx)
        new.pending = None if self.pending is None else self.pending[idx].clone()
        new.pending_proposal = None if self.pending_proposal is None else self.pending_proposal[idx].clone()
        new.actions = self.actions[idx].clone()
        new.text = None if self.text is None else (self.text[0][idx].clone(), self.text[1][idx].clone())
        ev = self.last_events
        new.last_events = None if ev is None else ev[torch.as_tensor(list(rows), dtype=torch.long)].clone()
        return new

    def clone(self) -> Rollout:
        """A deep copy of the whole state (cache, pending frame, action history, text)."""
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
