"""SDA, the sparse dynamic attack of Lun et al. (CVPR 2025, arXiv 2503.03272, Sec. 4.2) on
binary event frames: few flips, found by generation then reduction.

Per input ``x`` (binary, ``E = T*C*H*W`` elements), with the C&W margin
``M(x) = max(z_y - max_{j != y} z_j, 0)`` (targeted: ``max(max_{j != t} z_j - z_t, 0)``) of the
time-averaged logits ``z``, the flip set ``S`` (empty) and ``x_S = x`` with ``S`` flipped:

**Generation**, rounds ``n = 1, 2, ..., rounds``, until the model is fooled:

1. ``g = dM/dx`` at ``x_S`` with the attack's gradient estimator (the paper: PDSG).
2. Candidates: flipping element ``e`` changes it by ``1 - 2 x_e``, so the gradient supports
   the flip when ``(1 - 2 x_e) g_e < 0`` (M falls to first order). Elements outside ``S``
   are ranked by ``|g_e|`` if supported; the others (and every element when ``g`` is all
   zero) come after, in a seeded random order (the public code's fallback against vanishing
   gradients: random scores below the smallest supported ``|g|``). The ``k = n * k_init``
   best are the round's candidates.
3. Finite differences: each candidate alone is flipped in ``x_S`` and scored by a forward,
   ``FD_e = M(x_S with e flipped) - M(x_S)``; the forwards of all inputs' candidates run
   together, in batches of ``chunk`` (default: sized to ``chunk_mib`` of memory).
4. Candidates with ``FD_e <= 0`` join ``S`` (their ``FD`` kept); the others are dropped.
   ``x_S`` is the clean input with all of ``S`` flipped. A flip that leaves every spike of
   the network unchanged has ``FD = 0`` exactly, but batched forwards round differently from
   single ones; ``FD`` within ``1e-5 * max(1, M)`` of 0 counts as 0, so such flips are kept
   whatever the batching.

An input not fooled after ``rounds`` is returned clean (a failure); so is one whose round
had every element outside ``S`` as a candidate and kept none (``x_S`` would never change
again: the generation stops there, which saves the rest of the rounds). **Reduction**: the flips
of ``S`` are ordered by ``|FD|``, least useful first; a binary search finds the longest
prefix whose undoing keeps ``x_S`` adversarial (each probe one forward, batched over the
inputs), and those flips are undone. The result is adversarial by construction.

With ``eps`` (an L0 budget: a count or ``"1%"`` of the elements) an input whose reduced
flip set exceeds the budget is returned clean (not fooled within the budget). Success and
the reduction's probes use the model's own forward; the finite differences the crafting
forward (with the penultimate-threshold override, if set). Per-call results (CPU, one entry
per input): ``flips`` (L0 of the returned input), ``generated`` (``|S|`` before reduction),
``rounds``, ``candidates`` (finite-difference forwards) and ``success``. Inputs already
misclassified are returned unchanged and count as fooled with 0 flips.
"""

from __future__ import annotations

import math

import torch

from .base import GradientAttack, check_int, check_number
from .threat import Budget, check_frames

SCORE_FLOOR = -math.inf
FD_TOLERANCE = 1e-5  # relative to max(1, M): float noise of batched forwards


def cw_margin(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """``max(z_y - max_{j != y} z_j, 0)``; targeted ``max(max_{j != t} z_j - z_t, 0)``."""
    cls = y if target is None else target
    own = logits.gather(1, cls.view(-1, 1)).squeeze(1)
    other = logits.scatter(1, cls.view(-1, 1), -math.inf).amax(1)
    return (own - other if target is None else other - own).clamp_min(0)


class CWOrCELoss:
    """Mixin for an event attack's ``loss``: ``"ce"`` (the attack base's cross-entropy) or ``"cw"``
    (minus :func:`cw_margin`, the loss the attack ascends)."""

    LOSSES = ("ce", "cw")

    def set_loss(self, loss: str) -> None:
        if loss not in self.LOSSES:
            raise ValueError(f"loss: expected one of {self.LOSSES}, got {loss!r}")
        self.loss_name = loss

    def loss(self, logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        if self.loss_name == "cw":
            return -cw_margin(logits, y, target)
        return super().loss(logits, y, target)  # type: ignore[misc]


def candidate_scores(flat: torch.Tensor, grad: torch.Tensor, selected: torch.Tensor,
                     generator: torch.Generator) -> torch.Tensor:
    """Generation step 2's ranking of batch-first ``[B, E]`` elements: ``|g|`` where the gradient
    supports the flip, random below the smallest of those elsewhere, ``-inf`` inside ``S``."""
    supported = (1 - 2 * flat) * grad < 0
    mag = grad.abs().double()
    smallest = torch.where(supported, mag, torch.full_like(mag, math.inf)).amin(1, keepdim=True)
    floor = torch.where(torch.isfinite(smallest), smallest, torch.ones_like(smallest))
    noise = torch.rand(flat.shape, generator=generator, dtype=torch.float64).to(flat.device)
    score = torch.where(supported, mag, noise * floor)
    return torch.where(selected, torch.full_like(score, SCORE_FLOOR), score)


class SDA(GradientAttack):
    """Sparse dynamic attack (generation-reduction) on binary event frames.

    ``k_init``: candidates of the first round (10), ``n * k_init`` in round ``n``; ``rounds``:
    generation rounds (the paper: 500); ``eps``: optional L0 budget; ``chunk``: candidate
    forwards per batch (None: sized to ``chunk_mib`` MiB). Default estimator: PDSG (the paper's
    pairing); every estimator works.
    """

    name = "sda"
    parameters = GradientAttack.parameters + ("k_init", "rounds", "eps", "chunk", "chunk_mib")
    image_domain = False
    threat = "L0"
    l0_eps = True

    def __init__(self, model, *, k_init: int = 10, rounds: int = 500, eps: int | str | None = None,
                 chunk: int | None = None, chunk_mib: float = 256.0, grad="pdsg", **kwargs) -> None:
        super().__init__(model, grad=grad, **kwargs)
        if not model.takes_sequence:
            raise ValueError("model: sda attacks event frames; it needs a spike-input model (encoding='spikes')")
        self.k_init = check_int("k_init", k_init)
        self.rounds = check_int("rounds", rounds)
        self.budget = None if eps is None else Budget.parse(eps)
        self.chunk = None if chunk is None else check_int("chunk", chunk)
        self.chunk_mib = check_number("chunk_mib", chunk_mib, low=0, low_open=True)
        self.flips: torch.Tensor | None = None
        self.generated: torch.Tensor | None = None
        self.rounds_run: torch.Tensor | None = None
        self.candidates: torch.Tensor | None = None
        self.success: torch.Tensor | None = None

    # ------------------------------------------------------------------ hooks
    def loss(self, logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """The quantity maximised: minus the C&W margin."""
        return -cw_margin(logits, y, target)

    def check_inputs(self, x: torch.Tensor, y: torch.Tensor) -> None:
        super().check_inputs(x, y)
        check_frames(x, "binary")

    # ------------------------------------------------------------------ helpers
    def _shape(self, n: int) -> tuple[int, ...]:
        return (n, self.model.timesteps, *self.model.input_shape)

    def to_model(self, flat: torch.Tensor) -> torch.Tensor:
        """Batch-first ``[B, E]`` -> the model's ``[T, B, C, H, W]``."""
        return flat.view(self._shape(len(flat))).movedim(0, 1)

    def chunk_size(self, sample: torch.Tensor) -> int:
        """Candidates per forward: ``chunk``, else what ``chunk_mib`` holds (per time step: the
        input, twice the widest layer output -- measured by one forward of ``sample``, one
        batch-first input -- and the logits; at least 1, at most 4096)."""
        if self.chunk is not None:
            return self.chunk
        sizes: list[int] = []
        leaves = [m for m in self.model.modules() if not any(True for _ in m.children())]
        hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel())
                                         if isinstance(out, torch.Tensor) else None) for m in leaves]
        try:
            with torch.no_grad():
                self.model(self.to_model(sample.view(1, -1)))
        finally:
            for h in hooks:
                h.remove()
        steps = self.model.timesteps
        per = (sample.numel() + 2 * max(sizes, default=0) + steps * self.model.num_classes) * 4
        return max(1, min(4096, int(self.chunk_mib * 2**20) // max(1, per)))

    @torch.no_grad()
    def margins(self, flat: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, chunk: int) -> torch.Tensor:
        """C&W margins of batch-first inputs under the crafting forward, ``chunk`` at a time."""
        out = []
        with self.crafting_overrides():
            for s in range(0, len(flat), chunk):
                logits = self.model(self.to_model(flat[s:s + chunk]))
                out.append(cw_margin(logits, y[s:s + chunk], None if target is None else target[s:s + chunk]))
        return torch.cat(out) if out else flat.new_zeros(0)

    @torch.no_grad()
    def fooled(self, flat: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, chunk: int) -> torch.Tensor:
        """The model's own verdict (no crafting override) on batch-first inputs."""
        out = [self.is_success(self.to_model(flat[s:s + chunk]), y[s:s + chunk],
                               None if target is None else target[s:s + chunk]) for s in range(0, len(flat), chunk)]
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool, device=flat.device)

    def finite_differences(self, adv: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, y: torch.Tensor,
                           target: torch.Tensor | None, base: torch.Tensor, chunk: int) -> torch.Tensor:
        """Generation step 3: ``M(adv[r] with cols flipped) - base[r]`` for each pair ``(r, c)``."""
        out = []
        for s in range(0, len(rows), chunk):
            r, c = rows[s:s + chunk], cols[s:s + chunk]
            cand = adv[r].clone()
            pick = torch.arange(len(r), device=adv.device)
            cand[pick, c] = 1 - cand[pick, c]
            out.append(self.margins(cand, y[r], None if target is None else target[r], len(r)) - base[r])
        return torch.cat(out) if out else adv.new_zeros(0)

    # ------------------------------------------------------------------ crafting
    def perturb(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        b = len(y)
        clean = x.movedim(1, 0).reshape(b, -1).contiguous()
        chunk = self.chunk_size(clean[0])
        adv, selected, fd, done = self.generate(clean, y, target, chunk)
        adv = torch.where(done.view(-1, 1), adv, clean)  # not fooled: returned clean
        adv = self.reduce(clean, adv, selected & done.view(-1, 1), fd, y, target, chunk)
        flips = (adv != clean).sum(1)
        if self.budget is not None:
            over = flips > self.budget.resolve(clean.shape[1])
            adv = torch.where(over.view(-1, 1), clean, adv)
            done = done & ~over
            flips = torch.where(over, torch.zeros_like(flips), flips)
        self.flips, self.success = flips.cpu(), done.cpu()
        return self.to_model(adv).contiguous()

    def generate(self, clean: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, chunk: int
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Generation on batch-first ``[B, E]`` inputs: ``(x_S, S, FD, fooled)`` after the last
        round (:meth:`perturb` returns the inputs not fooled clean)."""
        b = len(y)
        device = clean.device
        selected = torch.zeros(clean.shape, dtype=torch.bool, device=device)
        fd = torch.full(clean.shape, math.inf, dtype=clean.dtype, device=device)
        adv = clean.clone()
        done = self.fooled(clean, y, target, chunk)
        stuck = torch.zeros_like(done)
        rounds = torch.zeros(b, dtype=torch.long)
        candidates = torch.zeros(b, dtype=torch.long)
        self.vanishing = None
        for n in range(1, self.rounds + 1):
            idx = torch.arange(b, device=device) if n == 1 else (~done & ~stuck).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            tgt = None if target is None else target[idx]
            _, grad = self.value_and_grad(self.to_model(adv[idx]), y[idx], tgt)  # grad of -M
            g = -grad.movedim(1, 0).reshape(len(idx), -1)  # dM/dx
            if n == 1:  # Liang et al.'s Table III measure: an all-zero first gradient
                # inputs fooled already have M = 0 (clamped) and so no gradient: not a vanishing one
                self.vanishing = ((g.abs().amax(1) == 0) & ~done[idx]).cpu()
                live = ~done[idx]
                idx, g = idx[live], g[live]
                tgt = None if target is None else target[idx]
                if idx.numel() == 0:
                    break
            score = candidate_scores(adv[idx], g, selected[idx], self.generator)
            free = (~selected[idx]).sum(1)
            k = torch.clamp(free, max=n * self.k_init)
            top = score.topk(int(k.max()), dim=1).indices
            valid = torch.arange(top.shape[1], device=device).view(1, -1) < k.view(-1, 1)
            local = torch.arange(len(idx), device=device).view(-1, 1).expand_as(top)[valid]
            rows, cols = idx[local], top[valid]
            base = torch.full((b,), math.nan, dtype=clean.dtype, device=device)
            base[idx] = self.margins(adv[idx], y[idx], tgt, chunk)
            diffs = self.finite_differences(adv, rows, cols, y, target, base, chunk)
            keep = diffs <= FD_TOLERANCE * base[rows].abs().clamp_min(1)
            selected[rows[keep], cols[keep]] = True
            fd[rows[keep], cols[keep]] = diffs[keep]
            # every free element was a candidate and none was kept: x_S cannot change any more
            kept = torch.zeros(b, dtype=torch.long, device=device).index_add_(0, rows[keep], torch.ones_like(rows[keep]))
            stuck[idx] = (k == free) & (kept[idx] == 0)
            adv[idx] = torch.where(selected[idx], 1 - clean[idx], clean[idx])
            rounds[idx.cpu()] += 1
            candidates.index_add_(0, rows.cpu(), torch.ones(len(rows), dtype=torch.long))
            done[idx] = self.fooled(adv[idx], y[idx], tgt, chunk)
        if self.vanishing is None:
            self.vanishing = torch.zeros(b, dtype=torch.bool)
        self.generated, self.rounds_run, self.candidates = selected.sum(1).cpu(), rounds, candidates
        return adv, selected, fd, done

    def reduce(self, clean: torch.Tensor, adv: torch.Tensor, selected: torch.Tensor, fd: torch.Tensor,
               y: torch.Tensor, target: torch.Tensor | None, chunk: int) -> torch.Tensor:
        """Reduction: per input, undo the longest prefix of ``S`` (ascending ``|FD|``) that keeps
        ``adv`` adversarial (binary search, one batched forward per probe)."""
        count = selected.sum(1)
        key = torch.where(selected, fd.abs().double(), torch.full_like(fd, math.inf, dtype=torch.float64))
        order = torch.sort(key, dim=1, stable=True).indices
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order).contiguous())
        left, right = torch.zeros_like(count), count - 1
        best = adv.clone()
        while bool((left <= right).any()):
            live = (left <= right).nonzero().squeeze(1)
            ptr = (left[live] + right[live]) // 2
            undo = selected[live] & (rank[live] <= ptr.view(-1, 1))
            probe = torch.where(undo, clean[live], adv[live])
            ok = self.fooled(probe, y[live], None if target is None else target[live], chunk)
            left[live] = torch.where(ok, ptr + 1, left[live])
            right[live] = torch.where(ok, right[live], ptr - 1)
            best[live[ok]] = probe[ok]
        return best

    def describe(self) -> dict:
        return {**super().describe(), "k_init": self.k_init, "rounds": self.rounds,
                "eps": None if self.budget is None else self.budget.describe(), "loss": "cw"}
