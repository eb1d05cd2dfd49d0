"""Spike-compatible BIM of Liang et al. (TNNLS 2021, Sec. IV, Algorithm 1): G2S and RSF.

The attack is BIM whose update keeps spike inputs binary. Per iteration k and per input:

1. **Gradient** (eq. 5): ``delta'_k = grad_{xs} L(xs_k, y)`` (untargeted) or
   ``-grad_{xs} L(xs_k, y_target)`` (targeted), with any gradient estimator. ``L`` is the
   paper's MSE between the output rate (eq. 7; here the model's time-averaged output) and
   the one-hot class (``loss="mse"``, the paper's default, Sec. VI-A) or cross-entropy
   (``loss="ce"``). The :meth:`loss` hook returns the quantity to *maximise*, so the
   targeted sign of eq. 5 is folded into it.
2. **G2S converter** (Sec. IV-C, eq. 10-12), when the gradient is not all zero:

   - *probabilistic sampling* (eq. 10): ``|delta'|`` is normalised per input to [0, 1]
     by dividing by its maximum (so the largest entry always passes) and a Bernoulli mask
     is drawn with that probability (``sampling=False``: the mask is all ones, the
     "w/oS" arm of Fig. 11);
   - *sign extraction* (eq. 11): ``delta'' = sign(delta' * mask)`` in {-1, 0, 1};
   - *overflow-aware transform* (Table II): an entry is kept only where it moves the spike
     inside {0, 1}: (s=0, +1) -> +1, (s=1, -1) -> -1, (s=1, +1) -> 0, (s=0, -1) -> 0,
     0 -> 0. Equivalently ``delta = delta'' where delta'' == 1 - 2 s, else 0``.
3. **RSF** (Sec. IV-D, Table IV, eq. 13), when an input's gradient is all zero: the
   gradient is initialised to ``gamma`` everywhere, the same probabilistic sampling
   gives the mask, and every masked element is flipped (``delta = mask * (1 - 2 s)``).
4. **Update** ``xs_{k+1} = xs_k + delta`` (binary by construction). Per input, the attack
   stops as soon as it succeeds (untargeted: prediction != label; targeted: prediction ==
   target), or -- with ``eps`` -- as soon as the average perturbation per point
   ``||xs_{k+1} - xs_0||_2 / N`` reaches ``eps`` (Algorithm 1's ``>= eps``: "attack
   failed"). A stopped-by-``eps`` input is returned at its last iterate inside the bound
   (which was not adversarial, else the attack had stopped there), so it counts as a
   failure and every output satisfies ``||delta||_2 / N < eps``.

Image branch (Sec. IV-A.2, red arrows of Fig. 4), for Poisson/Bernoulli-coded image
models: at every iteration spikes ``xs_k`` are drawn from the current image by the
model's own encoder (its seeded noise stream), the model is run on exactly those spikes
through a gradient-carrying fixed-spike encoder, steps 1-3 give the ternary spike update
(the overflow transform is relative to the drawn spikes, so a pixel at 1 can only go down
and one at 0 only up), and it is aggregated over time into the image update
``delta_i = (1/T) sum_t delta_s^t``. The step is ``x_{k+1} = clip_[0,1](x_k + eta *
delta_i)``: with the paper's update (``eta = 1``, Algorithm 1 as printed) each pixel moves
by a multiple of ``1/T`` per iteration, at most 1. ``eta`` is Algorithm 1's "gradient
scaling rate", which its pseudo-code leaves at 1. ``N`` is the number of pixels ``C*H*W``.
With ``eot > 1``, ``eot`` spike draws each give a ternary update, and their time averages
are averaged.

Per-call results (CPU tensors, one entry per input): ``iterations`` (iterations run on
the input, including one whose step crossed ``eps`` and was undone), ``rsf_count`` (RSF
activations: iterations -- spike draws with ``eot`` -- whose gradient was all zero),
``flips`` (L0: elements -- pixels in the image branch -- that differ from the clean
input), ``eps_stopped`` (stopped by the ``eps`` bound) and the base's ``vanishing`` (the
gradient at the *first* iteration was all zero: Table III's measure; with ``eot > 1`` in
the image branch, all zero for every draw). Inputs that are already adversarial are
returned unchanged (0 iterations), but their first gradient is still computed for
``vanishing``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..encoding import Encoder
from .base import GradientAttack, check_int, check_number

LOSSES = ("mse", "ce")


# ---------------------------------------------------------------------------- pure functions
def overflow_transform(delta: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
    """Table II: keep a ternary entry only where ``spikes + delta`` stays in {0, 1}.

    (s=0, +1) -> +1; (s=1, -1) -> -1; (s=1, +1) -> 0; (s=0, -1) -> 0; a 0 stays 0.
    """
    return torch.where(delta == 1 - 2 * spikes, delta, torch.zeros_like(delta))


def flip_construct(mask: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
    """Table IV: the ternary gradient that flips every masked spike (0 -> +1, 1 -> -1)."""
    return mask.to(spikes.dtype) * (1 - 2 * spikes)


class FixedSpikes(Encoder):
    """An encoder that returns a given ``[T, B, ...]`` spike tensor, whatever the image.

    Used under :meth:`SpikingModel.override_encoder` so that the model runs on exactly the
    spikes the attack drew, and the gradient reaches those spikes (``spikes`` may require
    grad). ``rate`` is their time average (the rate-path estimators and the ANN twin).
    """

    name = "fixed-spikes"

    def __init__(self, spikes: torch.Tensor) -> None:
        self.spikes = spikes

    def encode(self, x: torch.Tensor, timesteps: int) -> torch.Tensor:
        return self.spikes

    def rate(self, x: torch.Tensor) -> torch.Tensor:
        return self.spikes.mean(0)


# ---------------------------------------------------------------------------- the attack
class SpikeBIM(GradientAttack):
    """Liang et al.'s spike-compatible BIM (G2S converter + restricted spike flipper).

    ``steps``: Iter of Algorithm 1 (25 in the paper); ``gamma``: RSF flip probability
    (0.05, the paper's recommendation, Sec. VI-C); ``eps``: optional bound on the average
    perturbation per point ``||delta||_2 / N`` (None: unbounded); ``sampling``: G2S
    probabilistic sampling on/off (Fig. 11); ``loss``: "mse" (paper default) or "ce";
    ``eta``: image-branch step scale (1 = Algorithm 1).
    """

    name = "spike-bim"
    parameters = GradientAttack.parameters + ("steps", "gamma", "eps", "sampling", "loss", "eta")
    image_domain = False
    threat = "L0"

    def __init__(self, model, *, steps: int = 25, gamma: float = 0.05, eps: float | None = None,
                 sampling: bool = True, loss: str = "mse", eta: float = 1.0, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.steps = check_int("steps", steps)
        self.gamma = check_number("gamma", gamma, low=0, high=1)
        self.eps = None if eps is None else check_number("eps", eps, low=0, low_open=True, high=1)
        if not isinstance(sampling, bool):
            raise ValueError(f"sampling: expected True or False, got {sampling!r}")
        self.sampling = sampling
        if loss not in LOSSES:
            raise ValueError(f"loss: expected one of {LOSSES}, got {loss!r}")
        self.loss_name = loss
        self.eta = check_number("eta", eta, low=0, low_open=True)
        encoding = model.config.encoding
        if not (model.takes_sequence or encoding in ("poisson", "bernoulli")):
            raise ValueError(f"model: spike-bim needs a spike-input model (encoding='spikes') or a "
                             f"Poisson/Bernoulli-coded image model, got encoding={encoding!r}")
        #: per-input results of the last call (CPU tensors)
        self.iterations: torch.Tensor | None = None
        self.rsf_count: torch.Tensor | None = None
        self.flips: torch.Tensor | None = None
        self.eps_stopped: torch.Tensor | None = None

    # ------------------------------------------------------------------ hooks
    def loss(self, logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """Eq. 5's loss to maximise: MSE of the output rate to the one-hot label (untargeted)
        or minus MSE to the one-hot target (targeted); ``loss="ce"``: the CE counterparts."""
        if self.loss_name == "ce":
            return super().loss(logits, y, target)
        cls = y if target is None else target
        mse = (logits - F.one_hot(cls, logits.shape[-1]).to(logits.dtype)).pow(2).mean(-1)
        return mse if target is None else -mse

    def check_inputs(self, x: torch.Tensor, y: torch.Tensor) -> None:
        super().check_inputs(x, y)
        if self.model.takes_sequence:
            if not ((x == 0) | (x == 1)).all():
                raise ValueError("x: spike attacks need binary {0,1} input")
        elif x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError("x: expected pixel values in [0, 1] (normalisation belongs inside the model)")

    def sample_mask(self, prob: torch.Tensor) -> torch.Tensor:
        """Probabilistic sampling (eq. 10): a Bernoulli mask with ``P(1) = prob`` (seeded).

        On a GPU the noise is drawn there (no host-to-device copy per iteration) from a
        device generator seeded by the attack's own, so runs stay reproducible per device."""
        if prob.device.type == "cpu":
            noise = torch.rand(prob.shape, generator=self.generator, dtype=torch.float32)
        else:
            seed = int(torch.randint(2**62, (), generator=self.generator))
            device_gen = torch.Generator(device=prob.device).manual_seed(seed)
            noise = torch.rand(prob.shape, generator=device_gen, device=prob.device, dtype=torch.float32)
        return noise < prob

    def spike_update(self, spikes: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Ternary update of batch-first ``spikes`` from ``grad`` (same shape): G2S where the
        input's gradient is non-zero, RSF where it is all zero. Returns (delta, used_rsf)."""
        b = spikes.shape[0]
        mag = grad.detach().abs().flatten(1)
        peak = mag.amax(1, keepdim=True)
        vanish = peak.squeeze(1) == 0
        if self.sampling:
            prob = mag / peak.clamp_min(torch.finfo(mag.dtype).tiny)
        else:
            prob = torch.ones_like(mag)
        prob = torch.where(vanish.view(b, 1), torch.full_like(prob, self.gamma), prob)
        mask = self.sample_mask(prob.view_as(spikes))
        g2s = overflow_transform(torch.sign(grad.detach()).to(spikes.dtype) * mask, spikes)
        rsf = flip_construct(mask, spikes)
        shape = (b, *([1] * (spikes.dim() - 1)))
        return torch.where(vanish.view(shape), rsf, g2s), vanish

    # ------------------------------------------------------------------ crafting
    def perturb(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        if self.model.takes_sequence:
            adv = self._run(x.movedim(1, 0), y, target, spikes=True)
            return adv.movedim(0, 1).contiguous()
        return self._run(x, y, target, spikes=False)

    def _spike_grad(self, image: torch.Tensor, spikes: torch.Tensor, y: torch.Tensor,
                    target: torch.Tensor | None) -> torch.Tensor:
        """Input gradient w.r.t. ``spikes`` ``[T, b, ...]`` drawn from ``image`` (image branch)."""
        s = spikes.detach().requires_grad_(True)
        with self.model.override_encoder(FixedSpikes(s)):
            loss = self.loss(self.logits(image), y, target)
        (grad,) = torch.autograd.grad(loss.sum(), s)
        return self.check_gradient(grad, batch_dim=1)

    def _step(self, cur: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, spikes: bool
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One iteration on batch-first inputs ``cur``: (new inputs, RSF activations, vanishing)."""
        if spikes:
            _, grad = self.value_and_grad(cur.movedim(0, 1), y, target)
            grad = grad.movedim(1, 0)
            delta, used = self.spike_update(cur, grad)
            return cur + delta, used.long(), used
        steps = self.model.timesteps * self.time_extend
        update = torch.zeros_like(cur)
        rsf = torch.zeros(len(y), dtype=torch.long, device=cur.device)
        vanish = torch.ones(len(y), dtype=torch.bool, device=cur.device)
        for _ in range(self.eot):
            with torch.no_grad():
                drawn = self.model.encoder.encode(cur, steps).detach()  # [T, b, ...], the model's noise
            grad = self._spike_grad(cur, drawn, y, target)
            delta, used = self.spike_update(drawn.movedim(1, 0), grad.movedim(1, 0))
            update += delta.mean(1)  # temporal aggregation: (1/T) sum_t delta_s^t
            rsf += used.long()
            vanish &= used
        return (cur + self.eta * update / self.eot).clamp(0.0, 1.0), rsf, vanish

    def _run(self, x0: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, spikes: bool) -> torch.Tensor:
        """Algorithm 1 on batch-first inputs ``x0`` (``[B, T, ...]`` spikes or ``[B, C, H, W]``)."""
        n_batch = len(y)
        device = x0.device
        points = x0[0].numel() if n_batch else 1
        cur = x0.clone()
        iterations = torch.zeros(n_batch, dtype=torch.long, device=device)
        rsf = torch.zeros(n_batch, dtype=torch.long, device=device)
        eps_stopped = torch.zeros(n_batch, dtype=torch.bool, device=device)

        def to_model(t: torch.Tensor) -> torch.Tensor:
            return t.movedim(0, 1) if spikes else t

        def pick(t: torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
            return None if t is None else t[idx]

        active = ~self.is_success(to_model(x0), y, target) if n_batch else torch.zeros(0, dtype=torch.bool)
        self.vanishing = None
        for k in range(self.steps):
            idx = torch.arange(n_batch, device=device) if k == 0 else active.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            new, used, vanish = self._step(cur[idx], y[idx], pick(target, idx), spikes)
            if k == 0:  # Table III: all-zero gradient at the first iteration, for every input
                self.vanishing = vanish.detach().cpu()
                keep = active[idx]
                idx, new, used = idx[keep], new[keep], used[keep]
            iterations[idx] += 1
            rsf[idx] += used
            if self.eps is not None:
                dist = (new - x0[idx]).flatten(1).double().norm(p=2, dim=1) / points
                over = dist >= self.eps
                eps_stopped[idx[over]] = True
                active[idx[over]] = False
                idx, new = idx[~over], new[~over]
            if idx.numel() == 0:
                continue
            cur[idx] = new
            done = self.is_success(to_model(new), y[idx], pick(target, idx))
            active[idx[done]] = False
        if self.vanishing is None:
            self.vanishing = torch.zeros(n_batch, dtype=torch.bool)
        self.iterations = iterations.cpu()
        self.rsf_count = rsf.cpu()
        self.eps_stopped = eps_stopped.cpu()
        self.flips = (cur != x0).flatten(1).sum(1).cpu() if n_batch else torch.zeros(0, dtype=torch.long)
        return cur

    def describe(self) -> dict:
        return {**super().describe(), "steps": self.steps, "gamma": self.gamma, "eps": self.eps,
                "sampling": self.sampling, "loss": self.loss_name, "eta": self.eta}
