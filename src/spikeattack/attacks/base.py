"""The shared base of every attack: ``attack(x, y) -> x_adv``.

An attack holds the target model and keyword-only hyper-parameters (the torchattacks
shape); the loss and the value-and-gradient step are overridable hooks (as in foolbox).
Every attack takes any gradient estimator (``grad="stbp" | "bptr" | "rga" | "hart" |
"cba"``), expectation over transformation for stochastic encoders (``eot``), the time
extension of Bu et al. 4.5 (``time_extend=k``: craft with k*T steps) and Liang et al.'s
penultimate-threshold override (``penultimate_threshold``), which act during crafting
only and are restored afterwards, even on error.

Targeting: ``targeted=None`` (untargeted), ``"given"`` (``target`` passed to the call),
``"random"`` (a seeded class other than the label) or ``"least-likely"`` (the class the
model finds least likely on the clean input; Sharmin et al. / Kurakin et al.).
"""

from __future__ import annotations

import contextlib
import json
import math
from abc import ABC, abstractmethod
from typing import Any, Iterator, Mapping

import torch
import torch.nn.functional as F

from ..gradients import GradientEstimator, active_shared_forward, make_estimator
from ..models import SpikingModel, fold_batchnorm

TARGET_MODES = ("given", "random", "least-likely")


def check_number(name: str, value: Any, *, low: float | None = None, low_open: bool = False,
                 high: float | None = None) -> float:
    """Validate a finite number ``value`` for argument ``name``; ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name}: expected a value {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name}: expected a value <= {high}, got {value}")
    return float(value)


def inherits(cls: type, owner: type, *methods: str) -> bool:
    """Whether ``cls`` uses ``owner``'s own ``methods`` (none of them overridden below ``owner``)."""
    return all(getattr(cls, m) is getattr(owner, m) for m in methods)


def check_int(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    return value


class Attack(ABC):
    """Base class of the attacks. Subclasses implement :meth:`perturb`."""

    name = "attack"
    #: whether the attack works on images in [0, 1] (True) or on binary spike tensors.
    image_domain = True
    #: whether the attack follows a gradient (False for the random-noise baseline).
    uses_gradient = True

    def __init__(
        self,
        model: SpikingModel,
        *,
        grad: str | GradientEstimator | None = None,
        grad_params: dict[str, Any] | None = None,
        targeted: str | None = None,
        eot: int = 1,
        time_extend: int = 1,
        penultimate_threshold: float | None = None,
        early_stop: bool = False,
        fold_bn: bool = False,
        seed: int = 0,
    ) -> None:
        if not isinstance(model, SpikingModel):
            raise ValueError(f"model: expected a SpikingModel, got {type(model).__name__}")
        self.model = model
        self.estimator = make_estimator(grad, **(grad_params or {}))
        if targeted is not None and targeted not in TARGET_MODES:
            raise ValueError(f"targeted: expected None or one of {TARGET_MODES}, got {targeted!r}")
        self.targeted = targeted
        self.eot = check_int("eot", eot)
        self.time_extend = check_int("time_extend", time_extend)
        if self.time_extend > 1 and not model.is_spiking:
            raise ValueError("time_extend: the ANN has no time steps to extend")
        if self.time_extend > 1 and model.takes_sequence:
            raise ValueError("time_extend: spike inputs have a fixed number of frames")
        if penultimate_threshold is not None:
            check_number("penultimate_threshold", penultimate_threshold, low=0, low_open=True)
            if not model.spiking_neurons():
                raise ValueError("penultimate_threshold: the model has no spiking layer")
        self.penultimate_threshold = penultimate_threshold
        self.early_stop = bool(early_stop)
        if not isinstance(fold_bn, bool):
            raise ValueError(f"fold_bn: expected True or False, got {fold_bn!r}")
        self.fold_bn = fold_bn
        self.seed = int(seed)
        self.generator = torch.Generator()
        #: per-input flag of the last call: the first input gradient was all zero.
        self.vanishing: torch.Tensor | None = None
        #: the target classes the last call used (None when untargeted).
        self.last_target: torch.Tensor | None = None

    # ------------------------------------------------------------------ public
    def __call__(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """Adversarial examples for inputs ``x`` with labels ``y`` (and ``target`` if "given")."""
        self.check_inputs(x, y)
        self.generator.manual_seed(self.seed)
        reset = getattr(self.estimator, "reset", None)  # adaptive estimators (ASSG, MDSE) start afresh
        if reset is not None:
            reset()
        self.vanishing = None
        with self.attack_mode():
            target = self.resolve_target(x, y, target)
            self.last_target = target
            x_adv = self.perturb(x.detach(), y, target)
        return x_adv.detach()

    def describe(self) -> dict[str, Any]:
        """JSON-able description of the attack (stored with results)."""
        return {"attack": self.name, "grad": self.estimator.describe(), "targeted": self.targeted,
                "eot": self.eot, "time_extend": self.time_extend,
                "penultimate_threshold": self.penultimate_threshold, "seed": self.seed,
                **({"fold_bn": True} if self.fold_bn else {})}

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def perturb(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """Craft adversarial examples (inputs already checked, model in attack mode)."""

    def loss(self, logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """Per-example loss the attack *maximises*: CE to the label, or minus CE to the target."""
        if target is None:
            return F.cross_entropy(logits, y, reduction="none")
        return -F.cross_entropy(logits, target, reduction="none")

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits with the estimator's gradient, under the crafting overrides."""
        with self.crafting_overrides():
            return self.estimator(self.model, x)

    def value_and_grad(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example loss and its input gradient, averaged over ``eot`` samplings.

        The first gradient of a call is taken from the active
        :func:`~spikeattack.gradients.shared_forward` block when one serves this estimator
        (identical result, one spiking forward for the whole group of estimators), under
        :meth:`first_gradient_context` (so also across the eps of FGSM, BIM, ...).
        """
        if not len(y):
            return torch.zeros(0, dtype=x.dtype, device=x.device), torch.zeros_like(x)
        shared = active_shared_forward() if self.vanishing is None and self.shares_forward() else None
        total_loss, total_grad = None, None
        for _ in range(self.eot):
            found = None
            if shared is not None:
                with self.crafting_overrides():
                    found = shared.gradient(self.model, self.estimator, x.detach(),
                                            lambda logits: self.loss(logits, y, target),
                                            context=self.first_gradient_context(), match=(y, target))
            if found is not None:
                loss, grad = found.loss, found.grad
            else:
                x_var = x.detach().requires_grad_(True)
                loss = self.loss(self.logits(x_var), y, target)
                (grad,) = torch.autograd.grad(loss.sum(), x_var)
            total_loss = loss.detach() if total_loss is None else total_loss + loss.detach()
            total_grad = grad if total_grad is None else total_grad + grad
        loss, grad = total_loss / self.eot, total_grad / self.eot
        if self.vanishing is None:
            self.vanishing = grad.flatten(1).abs().amax(1) == 0
        return loss, grad

    def working_set(self, active: torch.Tensor) -> torch.Tensor | None:
        """Early exit: the indices of the inputs still worked on, or None for the whole batch.

        With ``early_stop`` the inputs that are already adversarial leave the working batch,
        so later forwards and backwards run on the others only. Only for deterministic
        encoders (a stochastic encoder's noise depends on the batch it is drawn for), so the
        result is the same as keeping every input in the batch.
        """
        if not self.early_stop or self.model.encoder.stochastic or bool(active.all()):
            return None
        return active.nonzero().squeeze(1)

    def shares_forward(self) -> bool:
        """Whether this attack's gradients may come from a shared forward: image-domain
        attacks whose crafting logits are the estimator's (``logits`` not overridden)."""
        return self.image_domain and type(self).logits is Attack.logits

    def shared_context(self, ignore: tuple[str, ...] = ()) -> str:
        """What, besides the input, labels and target, fixes this attack's loss and crafting
        forward: its class and description without the estimator (and the ``ignore`` keys)."""
        desc = {k: v for k, v in self.describe().items() if k != "grad" and k not in ignore}
        return json.dumps([type(self).__module__, type(self).__qualname__, desc], sort_keys=True, default=repr)

    @classmethod
    def first_gradient_ignores(cls, params: Mapping[str, Any]) -> tuple[str, ...]:
        """The parameters (``describe()`` keys) that cannot change the first gradient of a call
        made with ``params`` (the attack's keyword arguments, or its ``describe()``).

        An attack whose first gradient is taken at the clean input ``x`` with a loss that does
        not read its budget names ``eps`` and its step schedule here (FGSM, BIM, and PGD/APGD/
        SA-PGD without random start): a grid over eps then needs that gradient once. Attacks
        that move before their first gradient (R-FGSM's random step, a random start) keep
        every parameter: none here.
        """
        return ()

    def first_gradient_context(self) -> str:
        """The shared-forward key of the first gradient of a call: :meth:`shared_context`
        without the parameters that gradient ignores (:meth:`first_gradient_ignores`)."""
        return self.shared_context(type(self).first_gradient_ignores(self.describe()))

    # ------------------------------------------------------------------ helpers
    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The target model's plain prediction (without the crafting overrides)."""
        return self.model(x).argmax(-1)

    def is_success(self, x_adv: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        pred = self.predict(x_adv)
        return pred != y if target is None else pred == target

    def check_inputs(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.model.check_input(x, "x")
        batch = x.shape[1] if self.model.takes_sequence else x.shape[0]
        if batch == 0:
            raise ValueError("x: empty batch; expected at least one input")
        if self.image_domain and self.model.takes_sequence:
            raise ValueError("x: this image-domain attack needs image inputs; use the spike-domain attack "
                             "(spike-bim) for spike/event inputs")
        if self.image_domain and (x.min() < 0 or x.max() > 1):
            raise ValueError("x: expected pixel values in [0, 1] (normalisation belongs inside the model)")
        if not isinstance(y, torch.Tensor) or y.dtype != torch.long or y.shape != (batch,):
            raise ValueError(f"y: expected int64 labels of shape ({batch},), got "
                             f"{getattr(y, 'dtype', type(y).__name__)} {tuple(getattr(y, 'shape', ()))}")
        if y.numel() and (y.min() < 0 or y.max() >= self.model.num_classes):
            raise ValueError(f"y: labels must lie in [0, {self.model.num_classes})")

    def resolve_target(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor | None:
        classes = self.model.num_classes
        if self.targeted is None:
            if target is not None:
                raise ValueError("target: given, but the attack is untargeted (set targeted='given')")
            return None
        if self.targeted == "given":
            if not isinstance(target, torch.Tensor) or target.dtype != torch.long or target.shape != y.shape:
                raise ValueError(f"target: expected int64 classes of shape {tuple(y.shape)} with targeted='given'")
            if target.numel() and (target.min() < 0 or target.max() >= classes):
                raise ValueError(f"target: classes must lie in [0, {classes})")
            if (target == y).any():
                raise ValueError("target: equals the label for some inputs; a targeted attack needs another class")
            return target.to(y.device)
        if target is not None:
            raise ValueError(f"target: given, but targeted={self.targeted!r} chooses the target itself")
        if self.targeted == "random":
            offset = torch.randint(1, classes, y.shape, generator=self.generator).to(y.device)
            return (y + offset) % classes
        with torch.no_grad():
            logits = self.model(x)
        logits = logits.scatter(1, y.view(-1, 1), float("inf"))  # never the label itself
        return logits.argmin(-1)

    @contextlib.contextmanager
    def crafting_overrides(self) -> Iterator[None]:
        """Time extension and penultimate threshold for the crafting forward, restored afterwards."""
        with contextlib.ExitStack() as stack:
            if self.time_extend > 1:
                stack.enter_context(self.model.override_timesteps(self.time_extend * self.model.timesteps))
            if self.penultimate_threshold is not None:
                stack.enter_context(self.model.override_threshold(self.penultimate_threshold, layer=-1))
            yield

    @contextlib.contextmanager
    def attack_mode(self) -> Iterator[None]:
        """Eval mode (frozen batch-norm, no dropout) during the attack; the mode is restored.

        With ``fold_bn`` the batch-norms are folded into their convolutions for the attack
        (:func:`~spikeattack.models.fold_batchnorm`: equal up to float rounding, the model's
        own modules and weights put back afterwards).
        """
        was_training = self.model.training
        self.model.eval()
        try:
            with fold_batchnorm(self.model) if self.fold_bn else contextlib.nullcontext():
                yield
        finally:
            self.model.train(was_training)
