"""One spiking forward, several estimators' input gradients ("one forward, several
backwards").

:func:`input_gradients` runs *one* probed spiking forward that records every statistic the
rate-path estimators need (mean current for RGA, rate for BPTR, the time-averaged surrogate
of each HART gamma) and keeps STBP's autograd graph only when STBP is asked for; then each
estimator forms its gradient from it: STBP by autograd through that graph, BPTR/RGA/HART by
their rate network on the recorded gains, CBA by the ANN twin on the input's rate (which
needs no spiking forward). The results equal the estimators' own calls exactly when those
see the same encoder noise (the shared forward draws a stochastic encoder's noise once,
and every estimator run by its own call replays that noise).
Estimators it cannot share (STBP with a second surrogate, estimator classes that change
the forward) are run by their own call.

:class:`SharedForward` caches these results inside a ``with`` block, so attacks that share
model, input, labels and configuration and differ only by estimator (an FGSM grid, the
first step of PGD/APGD runs), or only by a budget their first gradient ignores (FGSM at
several eps: :meth:`~spikeattack.attacks.Attack.first_gradient_context`), pay one spiking
forward, also for a single estimator: the first request computes every estimator of the
group; a later request is served only when its input, labels, attack configuration,
weights and encoder noise state are equal, and then the encoder's noise
state is advanced exactly as the estimator's own call would have advanced it. The clean
predictions of such cells are shared the same way (:func:`predict`). Adaptive estimators
(ASSG, MDSE: state kept across the iterations of an attack, :meth:`GradientEstimator.reset`)
are never served, since their state must see every forward of their own attack.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F

from ..models import SpikingModel, check_logits
from ..neurons import NeuronProbe
from .base import GradientEstimator
from .registry import make_estimator
from .cba import CBA
from .rate import RatePathEstimator, rate_path_neurons
from .stbp import STBP

LossFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class InputGradient:
    """One estimator's result: crafting logits, per-example loss and its input gradient."""

    logits: torch.Tensor
    loss: torch.Tensor
    grad: torch.Tensor


def _named(estimators: Sequence[str | GradientEstimator] | Mapping[str, str | GradientEstimator]
           ) -> dict[str, GradientEstimator]:
    if isinstance(estimators, Mapping):
        named = {str(k): make_estimator(v) for k, v in estimators.items()}
    else:
        if isinstance(estimators, (str, GradientEstimator)) or not isinstance(estimators, Sequence):
            raise ValueError("estimators: expected a list of estimator names/objects or a dict name -> estimator")
        named = {}
        for e in estimators:
            est = make_estimator(e)
            if est.name in named:
                raise ValueError(f"estimators: two estimators named {est.name!r}; pass a dict to name them")
            named[est.name] = est
    if not named:
        raise ValueError("estimators: expected at least one estimator")
    return named


def _shares_rate_forward(est: GradientEstimator) -> bool:
    return isinstance(est, RatePathEstimator) and est.shares_rate_forward


def input_gradients(
    model: SpikingModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    estimators: Sequence[str | GradientEstimator] | Mapping[str, str | GradientEstimator] = ("stbp",),
    *,
    loss: LossFn | None = None,
) -> dict[str, InputGradient]:
    """Every estimator's logits, per-example loss and input gradient from one spiking forward.

    ``loss(logits) -> [B]`` is the per-example loss whose summed gradient is taken; the
    default is the cross-entropy to ``y``. ``estimators`` is a list of names/objects (keys:
    their names) or a dict key -> estimator.
    """
    if not isinstance(model, SpikingModel):
        raise ValueError(f"model: expected a SpikingModel, got {type(model).__name__}")
    named = _named(estimators)
    if loss is None:
        if not isinstance(y, torch.Tensor):
            raise ValueError("y: expected the labels (or pass loss=)")
        loss = lambda logits: F.cross_entropy(logits, y, reduction="none")  # noqa: E731
    x = x.detach()

    def grad_of(logits: torch.Tensor, leaf: torch.Tensor) -> InputGradient:
        value = loss(logits)
        (g,) = torch.autograd.grad(value.sum(), leaf)
        return InputGradient(logits.detach(), value.detach(), g)

    def own_call(est: GradientEstimator) -> InputGradient:
        leaf = x.clone().requires_grad_(True)
        return grad_of(est(model, leaf), leaf)

    if not model.is_spiking:  # an ANN has one exact gradient: every estimator returns it
        result = own_call(next(iter(named.values())))
        return {k: result for k in named}

    encoder = model.encoder  # every estimator below sees the same encoder noise
    noise = encoder.noise_state(x.device) if encoder.stochastic else None
    after = None
    stbp = [k for k, e in named.items() if type(e) is STBP]
    stbp_shared = [k for k in stbp if named[k].describe() == named[stbp[0]].describe()]
    rate = [k for k, e in named.items() if _shares_rate_forward(e)]
    results: dict[str, InputGradient] = {}

    if stbp_shared or rate:
        neurons = rate_path_neurons(model, named[rate[0]].name) if rate else model.spiking_neurons()
        wanted = [tuple(dict.fromkeys(s for k in rate if (s := named[k].probe_surrogate(n)) is not None))
                  for n in neurons]
        needed = set().union(*(named[k].probe_statistics for k in rate))
        probes = [NeuronProbe(surrogates=w, current="current" in needed, rate="rate" in needed)
                  for w in wanted] if rate else [None] * len(neurons)
        leaf = x.clone().requires_grad_(bool(stbp_shared))
        for n, p in zip(neurons, probes):
            n.probe = p
        try:
            if stbp_shared:
                with named[stbp_shared[0]].surrogate_override(model):
                    spiking_logits = model(leaf)
            else:
                with torch.no_grad():
                    spiking_logits = model(leaf)
        finally:
            for n in neurons:
                n.probe = None
        if noise is not None:
            after = encoder.noise_state(x.device)
        if stbp_shared:
            # the rate-path gradients below need no graph; STBP's is used once, here
            stbp_result = grad_of(spiking_logits, leaf)
            results.update({k: stbp_result for k in stbp_shared})
        spiking_logits = spiking_logits.detach()
        for k in rate:
            est = named[k]
            gains = [(est.gain(n, p.view(est.probe_surrogate(n))) * n.input_gain).detach()
                     for n, p in zip(neurons, probes)]
            rate_leaf = x.clone().requires_grad_(True)
            results[k] = grad_of(est.through_rate_network(model, rate_leaf, spiking_logits, gains), rate_leaf)
    for k, est in named.items():
        if k not in results:  # CBA (no spiking forward), other STBP surrogates, foreign estimators
            if noise is not None:
                encoder.set_noise_state(x.device, noise)
            results[k] = own_call(est)
            if noise is not None and draws_noise(est, model):
                after = encoder.noise_state(x.device)
    if after is not None:  # the noise stream is left where an estimator's own call leaves it
        encoder.set_noise_state(x.device, after)
    return {k: results[k] for k in named}


# ---------------------------------------------------------------------- cache for attack grids
_ACTIVE: contextvars.ContextVar["SharedForward | None"] = contextvars.ContextVar("shared_forward", default=None)


def adaptive(est: GradientEstimator) -> bool:
    """Whether ``est`` keeps state across an attack's iterations (declared: ``stateful``)."""
    return est.stateful


def draws_noise(est: GradientEstimator, model: SpikingModel) -> bool:
    """Whether ``est(model, x)`` runs the encoder once (every estimator but CBA on an SNN)."""
    return model.is_spiking and not isinstance(est, CBA)


class SharedForward:
    """Gradients of a group of estimators computed together and served on equal requests.

    Use :func:`shared_forward`; attacks consult :func:`active_shared_forward` for the first
    gradient of every call.
    """

    def __init__(self, estimators: Sequence[str | GradientEstimator] | Mapping[str, str | GradientEstimator]) -> None:
        self.estimators = {k: e for k, e in _named(estimators).items() if not adaptive(e)}
        self._entries: list[dict[str, Any]] = []
        self.computed = 0
        self.served = 0

    def key_of(self, est: GradientEstimator) -> str | None:
        """The group's key of an estimator equal to ``est`` (by description), or None."""
        desc = est.describe()
        return next((k for k, e in self.estimators.items() if type(e) is type(est) and e.describe() == desc), None)

    def gradient(self, model: SpikingModel, est: GradientEstimator, x: torch.Tensor, loss: LossFn,
                 context: Any, match: Sequence[torch.Tensor | None] = ()) -> InputGradient | None:
        """``est``'s result for ``x`` (None when it cannot be shared: compute it yourself).

        ``context`` (hashable, compared with ``==``) and ``match`` (tensors compared with
        ``torch.equal``) must pin down ``loss``: e.g. the attack's description and ``y``, target.
        """
        key = self.key_of(est)
        if key is None or adaptive(est):
            return None
        found = self._memo(model, x, ("gradient", context), match,
                           lambda: input_gradients(model, x, None, self.estimators, loss=loss),
                           draws_noise(est, model))
        return None if found is None else found[key]

    def predict(self, model: SpikingModel, x: torch.Tensor, name: str = "model") -> torch.Tensor:
        """``model(x).argmax(-1)`` without a graph, computed once per equal input (and noise
        state) in the block: the clean predictions of cells that share their inputs."""
        found = self._memo(model, x, ("predict",), (), lambda: check_logits(model(x), name).argmax(-1), True)
        return check_logits(model(x), name).argmax(-1) if found is None else found

    def _memo(self, model: SpikingModel, x: torch.Tensor, context: Any, match: Sequence[torch.Tensor | None],
              compute: Callable[[], Any], draws: bool) -> Any:
        """The stored result of an equal request, or ``compute()`` stored; None when the
        encoder's noise cannot be replayed. ``draws``: whether the caller's own computation
        runs the encoder once (its noise stream is left where that would leave it)."""
        encoder = model.encoder
        noise = encoder.noise_state(x.device) if encoder.stochastic else None
        if encoder.stochastic and noise is None:
            return None  # an encoder whose noise cannot be replayed
        head = (id(model), model.training, model.timesteps, id(encoder), context,
                tuple(p._version for p in model.parameters()))

        def same(entry: dict) -> bool:
            return (entry["head"] == head and torch.equal(entry["x"], x)
                    and len(entry["match"]) == len(match)
                    and all((a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))
                            for a, b in zip(entry["match"], match))
                    and (noise is None or torch.equal(entry["noise"], noise)))

        entry = next((e for e in self._entries if same(e)), None)
        if entry is None:
            result = compute()
            after = encoder.noise_state(x.device) if noise is not None else None
            entry = {"head": head, "x": x.detach().clone(), "match": [None if m is None else m.clone() for m in match],
                     "noise": noise, "after": after, "result": result}
            self._entries.append(entry)
            self.computed += 1
        else:
            self.served += 1
        if noise is not None:  # leave the noise stream where the caller's own computation leaves it
            encoder.set_noise_state(x.device, entry["after"] if draws else noise)
        return entry["result"]


def predict(model: SpikingModel, x: torch.Tensor, name: str = "model") -> torch.Tensor:
    """``model(x).argmax(-1)`` (no graph), served by the active :func:`shared_forward` block
    when an equal prediction was made in it; NaN or infinite logits are a ``ValueError``."""
    cache = _ACTIVE.get()
    with torch.no_grad():
        return check_logits(model(x), name).argmax(-1) if cache is None else cache.predict(model, x, name)


def active_shared_forward() -> SharedForward | None:
    """The :class:`SharedForward` of the innermost :func:`shared_forward` block, if any."""
    return _ACTIVE.get()


@contextlib.contextmanager
def shared_forward(estimators: Sequence[str | GradientEstimator] | Mapping[str, str | GradientEstimator]
                   ) -> Iterator[SharedForward]:
    """Within the block, attacks whose estimator is one of ``estimators`` share the first
    gradient of each call (the results are identical to computing them one by one)."""
    cache = SharedForward(estimators)
    token = _ACTIVE.set(cache)
    try:
        yield cache
    finally:
        _ACTIVE.reset(token)
