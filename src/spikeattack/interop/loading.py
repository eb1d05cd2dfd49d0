"""Loading a user's model: ``factory = "path/to/file.py:function"`` (or ``"package.module:function"``)
plus ``weights = "file.pth"``.

**Loading a factory runs the user's Python code** with this process's rights, like
``import``: only point it at code you trust. It is never done implicitly: the CLI needs
``--factory``, an experiment file a ``factory`` key. The weights themselves load with
``torch.load(weights_only=True)`` (tensors only, no code) and must match the network
exactly: a missing, unexpected or mis-shaped key is a ``ValueError`` naming the keys.
A file holding ``{"state_dict": ...}`` (or ``"model_state_dict"``/``"model"``) is unwrapped.

One error boundary around the user's code: whatever importing the file or calling the
factory raises (a syntax or import error, an exception, missing or unexpected arguments,
``SystemExit``) becomes a one-line ``ValueError`` naming the file, the function and the
exception (``factory: nets.py:csnn raised ZeroDivisionError: division by zero``), with the
original chained as its ``__cause__`` for a full traceback on request.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import torch
from torch import nn

from ..models.state import check_state_dict
from .foreign import ForeignModel
from .model import wrap

#: what the user's code may raise that becomes a ValueError (KeyboardInterrupt still stops the run)
USER_CODE_ERRORS = (Exception, SystemExit)
#: the keys a factory's dict may hold: the network and wrap()'s arguments
FACTORY_KEYS = frozenset({"model", "timesteps", "input_shape", "num_classes", "time", "readout", "encoding",
                          "mean", "std", "encoder_seed", "name"})


def _problem(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _import_file(path: Path, spec: str) -> ModuleType:
    name = f"spikeattack_user_{abs(hash(str(path)))}"
    module = sys.modules.get(name)
    if module is not None:
        return module
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"factory: {spec}: {str(path)!r} cannot be imported as a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except USER_CODE_ERRORS as exc:
        del sys.modules[name]
        raise ValueError(f"factory: {spec}: importing {path.name} raised {_problem(exc)}") from exc
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_factory(spec: str) -> Callable[..., nn.Module]:
    """The callable named by ``"file.py:function"`` or ``"package.module:function"`` (runs that code).

    Any error while importing it (a syntax error, an import error, an exception at import time,
    ``SystemExit``) is a one-line ``ValueError`` naming the file, the function and the exception,
    which it chains (``raise ... from``)."""
    if not isinstance(spec, str) or spec.count(":") < 1:
        raise ValueError(f"factory: expected 'path/to/file.py:function' or 'module:function', got {spec!r}")
    where, _, func = spec.rpartition(":")
    if not where or not func.isidentifier():
        raise ValueError(f"factory: expected 'path/to/file.py:function' or 'module:function', got {spec!r}")
    if where.endswith(".py"):
        path = Path(where).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"factory: no file at {where!r}")
        module = _import_file(path, spec)
    else:
        try:
            module = importlib.import_module(where)
        except USER_CODE_ERRORS as exc:
            raise ValueError(f"factory: {spec}: importing module {where!r} raised {_problem(exc)}") from exc
    fn = getattr(module, func, None)
    if not callable(fn):
        raise ValueError(f"factory: {where!r} has no callable {func!r}")
    return fn


def call_factory(spec: str, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """``fn(**kwargs)``; arguments it does not take, or any exception it raises, a one-line
    ``ValueError`` naming ``spec`` and the exception (chained)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to read (a builtin): the call itself tells
        signature = None
    if signature is not None:
        try:
            signature.bind(**kwargs)
        except TypeError as exc:
            given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no arguments"
            raise ValueError(f"factory: {spec} cannot be called with {given}: {exc}") from exc
    try:
        return fn(**kwargs)
    except USER_CODE_ERRORS as exc:
        raise ValueError(f"factory: {spec} raised {_problem(exc)}") from exc


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state_dict from ``path``, read with ``weights_only=True``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights: no file at {os.fspath(path)!r}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"weights: {os.fspath(path)!r} is not a tensors-only torch file ({exc})") from exc
    if isinstance(payload, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(payload.get(key), dict):
                payload = payload[key]
                break
    if not isinstance(payload, dict) or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise ValueError(f"weights: {os.fspath(path)!r} does not hold a state_dict (name -> tensor)")
    return payload


def load_strict(net: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``net`` after the one weights validator every loader uses
    (:func:`spikeattack.models.state.check_state_dict`: keys, shapes, kinds, finite values)."""
    check_state_dict(state, net.state_dict(), f"weights: {source}", "the factory's network")
    net.load_state_dict(state, strict=True)


def load_foreign_model(factory: str, weights: str | os.PathLike | None = None, *, factory_kwargs: dict | None = None,
                       device: str | torch.device = "cpu", **wrap_kwargs: Any) -> ForeignModel:
    """``wrap(factory(**factory_kwargs) with weights loaded, **wrap_kwargs)`` on ``device``.

    The factory returns the network (an ``nn.Module``), or a dict ``{"model": net, ...}`` whose
    other keys (``timesteps``, ``input_shape``, ``num_classes``, ``time``, ``readout``,
    ``encoding``, ``mean``, ``std``, ``encoder_seed``, ``name``) give :func:`wrap`'s arguments;
    explicit ``wrap_kwargs`` win (``None`` values are not given). The user's code runs inside
    one error boundary (see the module docstring).
    """
    if factory_kwargs is not None and not isinstance(factory_kwargs, dict):
        raise ValueError(f"factory_kwargs: expected a dict, got {type(factory_kwargs).__name__}")
    built = call_factory(factory, load_factory(factory), dict(factory_kwargs or {}))
    options: dict[str, Any] = {}
    if isinstance(built, dict):
        unknown = sorted(str(k) for k in set(built) - FACTORY_KEYS)
        if unknown:
            raise ValueError(f"factory: {factory} returned a dict with unknown key(s) {unknown}; "
                             f"expected 'model' and any of {sorted(FACTORY_KEYS - {'model'})}")
        options = {k: v for k, v in built.items() if k != "model"}
        built = built.get("model")
    if not isinstance(built, nn.Module):
        raise ValueError(f"factory: {factory} returned {type(built).__name__}, expected an nn.Module "
                         "(or a dict with 'model')")
    if weights is not None:
        load_strict(built, load_state_dict(weights), repr(os.fspath(weights)))
    options.update({k: v for k, v in wrap_kwargs.items() if v is not None})
    for key in ("timesteps", "input_shape", "num_classes"):
        if key not in options:
            raise ValueError(f"{key}: not given and not returned by the factory {factory}")
    options.setdefault("name", factory.rpartition(":")[2])
    return wrap(built.to(device).eval(), **options)
