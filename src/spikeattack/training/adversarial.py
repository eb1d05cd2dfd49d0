"""Adversarial training: a ``perturb`` hook for :func:`train_model` that replaces (a share
of) every training batch by adversarial examples crafted on the model being trained.

``train_model(model, data, cfg, perturb=adversarial_perturbation("pgd", eps=0.1, grad="bptr"))``

- ``ratio=1.0`` is Madry et al. (ICLR 2018): train on adversarial examples only;
  ``ratio=0.5`` is the mixed objective of Goodfellow et al. (2015): half of each batch
  clean, half adversarial.
- Any image-domain attack of :func:`spikeattack.attacks.make_attack` that takes an
  ``eps`` (FGSM, R-FGSM, BIM / I-FGSM, PGD, APGD, random noise) and any gradient estimator
  (``stbp``, ``bptr``, ``rga``, ``hart``, ``cba``). The robust ('*') targets of Hao et
  al.'s tables are adversarially trained SNNs of this kind.
- Crafting runs in eval mode (the attacks freeze batch-norm and dropout while crafting)
  and restores the model's mode, so the hook returns with the model in train mode. Input
  gradients are taken with ``torch.autograd.grad``, so the parameters' ``.grad`` are not
  touched.
- Seeded: the attack's random start is seeded from ``seed`` plus a per-call counter (a
  new start every batch, the same sequence on every run), and the share of the batch that
  is replaced is drawn from a generator seeded with ``seed``.
"""

from __future__ import annotations

from typing import Any

import torch

from .._checks import check_int, check_number, check_seed
from ..attacks import ATTACKS, make_attack
from ..gradients import make_estimator
from ..models import SpikingModel


def _accepts(cls: type, name: str) -> bool:
    """Whether attack class ``cls`` takes keyword ``name`` (its declared ``parameters``)."""
    return name in cls.parameters


class AdversarialPerturbation:
    """The ``(model, x, y) -> x_train`` callable built by :func:`adversarial_perturbation`."""

    def __init__(self, attack: str, *, eps: float, steps: int, alpha: float | None, grad: str,
                 grad_params: dict[str, Any] | None, ratio: float, seed: int) -> None:
        self.attack = attack
        self.eps = eps
        self.steps = steps
        self.alpha = alpha
        self.grad = grad
        self.grad_params = dict(grad_params or {})
        self.ratio = ratio
        self.seed = seed
        self.calls = 0
        self._generator = torch.Generator().manual_seed(seed)
        self._attack: Any = None  # the attack built on the last model seen

    def _params(self) -> dict[str, Any]:
        cls = ATTACKS[self.attack]
        params: dict[str, Any] = {"eps": self.eps, "seed": self.seed}
        if cls.uses_gradient:
            params.update(grad=self.grad, grad_params=self.grad_params)
        if _accepts(cls, "steps"):
            params["steps"] = self.steps
        if self.alpha is not None:
            params["alpha"] = self.alpha
        return params

    def build(self, model: SpikingModel):
        """The attack object for ``model`` (cached while the model stays the same)."""
        if self._attack is None or self._attack.model is not model:
            self._attack = make_attack(self.attack, model, **self._params())
        return self._attack

    def __call__(self, model: SpikingModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if not isinstance(model, SpikingModel):
            raise ValueError(f"model: expected a SpikingModel, got {type(model).__name__}")
        attack = self.build(model)
        attack.seed = self.seed + self.calls  # a fresh, reproducible random start per batch
        self.calls += 1
        batch = x.shape[0]
        count = batch if self.ratio >= 1.0 else int(round(self.ratio * batch))
        if count <= 0:
            return x.detach()
        if count >= batch:
            return attack(x, y).detach()
        chosen = torch.randperm(batch, generator=self._generator)[:count].to(x.device)
        x_train = x.detach().clone()
        x_train[chosen] = attack(x[chosen], y[chosen]).to(x_train.dtype)
        return x_train

    def describe(self) -> dict[str, Any]:
        """JSON-able settings (stored in the checkpoint metadata)."""
        return {"attack": self.attack, "eps": self.eps, "steps": self.steps, "alpha": self.alpha,
                "grad": self.grad, "grad_params": self.grad_params, "ratio": self.ratio, "seed": self.seed}

    def __repr__(self) -> str:
        return f"AdversarialPerturbation({self.describe()})"


def adversarial_perturbation(attack: str = "pgd", *, eps: float, steps: int = 3, alpha: float | None = None,
                             grad: str = "stbp", grad_params: dict[str, Any] | None = None, ratio: float = 1.0,
                             seed: int = 0) -> AdversarialPerturbation:
    """A ``perturb`` hook for :func:`spikeattack.training.train_model` (adversarial training).

    ``attack``: an image-domain attack name of ``make_attack`` that takes ``eps`` (``fgsm``,
    ``rfgsm``, ``bim``/``ifgsm``, ``pgd``, ``apgd``, ``noise``); ``eps`` in (0, 1] (pixel
    units, Linf unless the attack says otherwise); ``steps`` (>= 1) for the iterative attacks
    (ignored by single-step ones); ``alpha`` the step size (``None``: the attack's default;
    a ``ValueError`` for an attack without one); ``grad`` and ``grad_params`` the gradient
    estimator used to craft; ``ratio`` in (0, 1] the share of each batch replaced by
    adversarial examples (1.0: Madry et al.; 0.5: mixed clean/adversarial); ``seed`` seeds
    the random starts and the choice of the replaced share.

    Every bad argument is a ``ValueError`` naming it, raised here rather than at the first batch.
    """
    cls = ATTACKS.get_builder(attack)
    if not cls.image_domain or not _accepts(cls, "eps"):
        usable = sorted(n for n, c in ATTACKS.items() if c.image_domain and _accepts(c, "eps"))
        raise ValueError(f"attack: {attack!r} takes no eps budget; adversarial training uses one of {', '.join(usable)}")
    eps = check_number("eps", eps, low=0, low_open=True, high=1)
    steps = check_int("steps", steps)
    if alpha is not None:
        alpha = check_number("alpha", alpha, low=0, low_open=True)
        if not _accepts(cls, "alpha"):
            raise ValueError(f"alpha: attack {attack!r} has no step size")
    if grad_params is not None and not isinstance(grad_params, dict):
        raise ValueError(f"grad_params: expected a dict, got {type(grad_params).__name__}")
    if not isinstance(grad, str):
        raise ValueError(f"grad: expected an estimator name, got {type(grad).__name__}")
    make_estimator(grad, **(grad_params or {}))  # validates the name and its parameters
    ratio = check_number("ratio", ratio, low=0, low_open=True, high=1)
    seed = check_seed("seed", seed)
    return AdversarialPerturbation(attack, eps=eps, steps=steps, alpha=alpha, grad=grad, grad_params=grad_params,
                                   ratio=ratio, seed=seed)


__all__ = ["AdversarialPerturbation", "adversarial_perturbation"]
