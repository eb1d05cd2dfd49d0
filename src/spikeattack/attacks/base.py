"""The bases of every attack: ``attack(x, y) -> x_adv``.

Two kinds, declared by the base class (as foolbox types its attacks):

- :class:`Attack`: the target model, targeting, early stopping, the seed and ``eot``
  (queries averaged over a stochastic encoder's noise). Gradient-free attacks (Square,
  Boundary, random noise) build on it.
- :class:`GradientAttack`: an attack that follows an input gradient. It adds any gradient
  estimator (``grad="stbp" | "bptr" | "rga" | "hart" | "cba" | "assg" | "mdse"``), the time
  extension of Bu et al. 4.5 (``time_extend=k``: craft with k*T steps), Liang et al.'s
  penultimate-threshold override (``penultimate_threshold``) and batch-norm folding
  (``fold_bn``), which act during crafting only and are restored afterwards, even on error.

An attack holds keyword-only hyper-parameters (the torchattacks shape); the loss and the
value-and-gradient step are overridable hooks. What an attack can do is declared as class
attributes: ``parameters`` (its keyword arguments), ``uses_gradient``, ``image_domain``,
``threat`` and ``l0_eps`` (the budget of an event attack), ``first_gradient_ignores`` and
``shares_forward``.

Targeting: ``targeted=None`` (untargeted), ``"given"`` (``target`` passed to the call),
``"random"`` (a seeded class other than the label) or ``"least-likely"`` (the class the
model finds least likely on the clean input; Sharmin et al. / Kurakin et al.).
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Iterator, Mapping

import torch
import torch.nn.functional as F

from .._checks import check_bool, check_int, check_number, check_seed
from .._declare import keep_declaration_honest
from ..gradients import GradientEstimator, active_shared_forward, make_estimator
from ..models import SpikingModel, check_logits, evaluating, fold_batchnorm

TARGET_MODES = ("given", "random", "least-likely")

__all__ = ["TARGET_MODES", "Attack", "GradientAttack", "check_int", "check_number"]


def check_model(model: Any) -> SpikingModel:
    if not isinstance(model, SpikingModel):
        hint = (" (wrap a SpikingJelly / snnTorch / PyTorch SNN first: spikeattack.wrap(net, timesteps=T, "
                "input_shape=(C, H, W), num_classes=K))") if hasattr(model, "forward") else ""
        raise ValueError(f"model: expected a SpikingModel, got {type(model).__name__}{hint}")
    return model


class Attack(ABC):
    """Base of every attack. Subclasses set ``name`` and ``parameters`` and implement :meth:`perturb`."""

    name: ClassVar[str] = "attack"
    #: the keyword arguments the attack takes (experiment files and grids read this)
    parameters: ClassVar[tuple[str, ...]] = ("targeted", "early_stop", "seed", "eot")
    #: whether the attack works on images in [0, 1] (True) or on binary spike tensors.
    image_domain: ClassVar[bool] = True
    #: whether the attack follows an input gradient (see :class:`GradientAttack`).
    uses_gradient: ClassVar[bool] = False
    #: the threat model of an event attack's budget (:mod:`.threat`): ``"L0"`` (elements changed:
    #: spike-BIM, SDA, count-frame PGD) or ``"retime"`` (events moved in time); None for the image
    #: attacks, whose ``norm`` says it (Linf by default). ``describe()`` reports it as ``norm``.
    threat: ClassVar[str | None] = None
    #: whether ``eps`` is itself an L0 budget, a count of elements or ``"x%"`` (SDA, count-frame
    #: PGD). Spike-BIM's ``eps`` is Liang et al.'s size per point, to which an L0 budget of ``k``
    #: flips translates exactly (:func:`~spikeattack.attacks.threat.spike_bim_eps`).
    l0_eps: ClassVar[bool] = False

    def __init__(self, model: SpikingModel, *, targeted: str | None = None, early_stop: bool = False,
                 seed: int = 0, eot: int = 1) -> None:
        self.model = check_model(model)
        if targeted is not None and targeted not in TARGET_MODES:
            raise ValueError(f"targeted: expected None or one of {TARGET_MODES}, got {targeted!r}")
        self.targeted = targeted
        self.early_stop = bool(early_stop)
        self.seed = check_seed("seed", seed)
        self.eot = check_int("eot", eot)
        self.generator = torch.Generator()
        #: per-input flag of the last call: the first input gradient was all zero (None: no gradient).
        self.vanishing: torch.Tensor | None = None
        #: the target classes the last call used (None when untargeted).
        self.last_target: torch.Tensor | None = None

    # ------------------------------------------------------------------ public
    def __call__(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """Adversarial examples for inputs ``x`` with labels ``y`` (and ``target`` if "given")."""
        self.check_inputs(x, y)
        self.generator.manual_seed(self.seed)
        self.start_call()
        with self.attack_mode():
            target = self.resolve_target(x, y, target)
            self.last_target = target
            x_adv = self.perturb(x.detach(), y, target)
        return x_adv.detach()

    @property
    def grad_name(self) -> str:
        """The gradient estimator's name (``"none"`` for a gradient-free attack)."""
        return "none"

    def describe(self) -> dict[str, Any]:
        """JSON-able description of the attack (stored with results)."""
        return {"attack": self.name, "targeted": self.targeted, "eot": self.eot, "seed": self.seed,
                **({"norm": self.threat} if self.threat else {})}

    # ------------------------------------------------------------------ hooks
    def start_call(self) -> None:
        """Reset per-call state (before the target is resolved)."""
        self.vanishing = None

    @abstractmethod
    def perturb(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """Craft adversarial examples (inputs already checked, model in attack mode)."""

    def loss(self, logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """Per-example loss the attack *maximises*: CE to the label, or minus CE to the target."""
        if target is None:
            return F.cross_entropy(logits, y, reduction="none")
        return -F.cross_entropy(logits, target, reduction="none")

    @torch.no_grad()
    def query(self, x: torch.Tensor) -> torch.Tensor:
        """The model's logits averaged over ``eot`` forwards (one query per forward)."""
        total = None
        for _ in range(self.eot):
            logits = check_logits(self.model(x))
            total = logits if total is None else total + logits
        return total / self.eot

    # ------------------------------------------------------------------ helpers
    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The target model's plain prediction (without the crafting overrides)."""
        return check_logits(self.model(x)).argmax(-1)

    def is_success(self, x_adv: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        pred = self.predict(x_adv)
        return pred != y if target is None else pred == target

    def check_inputs(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.model.check_input(x, "x")
        batch = x.shape[1] if self.model.takes_sequence else x.shape[0]
        if batch == 0:
            raise ValueError("x: empty batch; expected at least one input")
        if self.image_domain and self.model.takes_sequence:
            raise ValueError("x: this image-domain attack needs image inputs; use a spike-domain attack "
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
            logits = check_logits(self.model(x))
        logits = logits.scatter(1, y.view(-1, 1), float("inf"))  # never the label itself
        return logits.argmin(-1)

    def attack_mode(self) -> contextlib.AbstractContextManager:
        """Eval mode (frozen batch-norm, no dropout) during the attack; the mode is restored."""
        return evaluating(self.model)


class GradientAttack(Attack):
    """An attack that follows the input gradient of :meth:`loss`, formed by any estimator."""

    parameters: ClassVar[tuple[str, ...]] = Attack.parameters + (
        "grad", "grad_params", "time_extend", "penultimate_threshold", "fold_bn")
    uses_gradient: ClassVar[bool] = True
    #: ``describe()`` keys the first gradient of a call cannot depend on when the call starts at
    #: the clean input (:meth:`starts_at_clean_input`): a grid over eps then needs that gradient
    #: once (FGSM: eps; BIM/PGD/APGD/SA-PGD without random start: eps and the step schedule).
    first_gradient_ignores: ClassVar[tuple[str, ...]] = ()
    #: whether the crafting logits are the estimator's own, so that gradients may come from a
    #: :func:`~spikeattack.gradients.shared_forward` block.
    shares_forward: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # a subclass that changes how its gradients are formed must declare these again
        keep_declaration_honest(cls, "first_gradient_ignores", ("perturb", "run", "loss", "value_and_grad",
                                                                "logits", "starts_at_clean_input"), ())
        keep_declaration_honest(cls, "shares_forward", ("logits",), False)

    def __init__(
        self,
        model: SpikingModel,
        *,
        grad: str | GradientEstimator | None = None,
        grad_params: dict[str, Any] | None = None,
        time_extend: int = 1,
        penultimate_threshold: float | None = None,
        fold_bn: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, **kwargs)
        self.estimator = make_estimator(grad, **(grad_params or {}))
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
        self.fold_bn = check_bool("fold_bn", fold_bn)

    @property
    def grad_name(self) -> str:
        return self.estimator.name if self.model.is_spiking else "exact"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "grad": self.estimator.describe(), "time_extend": self.time_extend,
                "penultimate_threshold": self.penultimate_threshold, **({"fold_bn": True} if self.fold_bn else {})}

    def start_call(self) -> None:
        super().start_call()
        self.estimator.reset()  # adaptive estimators (ASSG, MDSE) start afresh

    # ------------------------------------------------------------------ gradients
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits with the estimator's gradient, under the crafting overrides."""
        with self.crafting_overrides():
            return check_logits(self.estimator(self.model, x))

    def check_gradient(self, grad: torch.Tensor, batch_dim: int = 0) -> torch.Tensor:
        """``grad`` when finite; a NaN or infinite input gradient is a ``ValueError`` naming the
        model and estimator (a step along it would make NaN inputs), never a step."""
        if not bool(torch.isfinite(grad).all()):
            per_input = (~torch.isfinite(grad)).movedim(batch_dim, 0).flatten(1).any(1)
            raise ValueError(f"model: the {self.grad_name} input gradient of the crafting model holds NaN or infinite "
                             f"values for {int(per_input.sum())} of {len(per_input)} inputs (its outputs are finite); "
                             "no attack step can follow it")
        return grad

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
        shared = active_shared_forward() if self.vanishing is None and self.image_domain and self.shares_forward \
            else None
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
                if not bool(torch.isfinite(loss).all()):
                    check_logits(loss.reshape(len(loss), -1))  # the shared logits were not finite
            else:
                x_var = x.detach().requires_grad_(True)
                loss = self.loss(self.logits(x_var), y, target)
                (grad,) = torch.autograd.grad(loss.sum(), x_var)
            self.check_gradient(grad)
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

    # ------------------------------------------------------------------ forward sharing
    def shared_context(self, ignore: tuple[str, ...] = ()) -> str:
        """What, besides the input, labels and target, fixes this attack's loss and crafting
        forward: its class and description without the estimator (and the ``ignore`` keys)."""
        desc = {k: v for k, v in self.describe().items() if k != "grad" and k not in ignore}
        return json.dumps([type(self).__module__, type(self).__qualname__, desc], sort_keys=True, default=repr)

    @classmethod
    def starts_at_clean_input(cls, params: Mapping[str, Any]) -> bool:
        """Whether a call made with ``params`` (keyword arguments or ``describe()``) takes its first
        gradient at the clean input (attacks with a random start override this)."""
        return True

    @classmethod
    def first_gradient_ignored(cls, params: Mapping[str, Any]) -> tuple[str, ...]:
        """The ``describe()`` keys the first gradient of a call made with ``params`` ignores."""
        return cls.first_gradient_ignores if cls.starts_at_clean_input(params) else ()

    def first_gradient_context(self) -> str:
        """The shared-forward key of the first gradient of a call: :meth:`shared_context`
        without the parameters that gradient ignores."""
        return self.shared_context(type(self).first_gradient_ignored(self.describe()))

    # ------------------------------------------------------------------ crafting overrides
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
        """Eval mode during the attack; with ``fold_bn`` the batch-norms are folded into their
        convolutions (:func:`~spikeattack.models.fold_batchnorm`: equal up to float rounding,
        the model's own modules and weights put back afterwards)."""
        with evaluating(self.model), (fold_batchnorm(self.model) if self.fold_bn else contextlib.nullcontext()):
            yield
