"""Loading a user's model: ``factory = "path/to/file.py:function"`` (or ``"package.module:function"``)
plus ``weights = "file.pth"``.

**Loading a factory runs the user's Python code** with this process's rights, like
``import``: only point it at code you trust. It is never done implicitly: the CLI needs
``--factory``, an experiment file a ``factory`` key. The weights themselves load with
``torch.load(weights_only=True)`` (tensors only, no code) and must match the network
exactly: a missing, unexpected or mis-shaped key is a ``ValueError`` naming the keys.
A file holding ``{"state_dict": ...}`` (or ``"model_state_dict"``/``"model"``) is unwrapped.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .model import ForeignModel, wrap


def load_factory(spec: str) -> Callable[..., nn.Module]:
    """The callable named by ``"file.py:function"`` or ``"package.module:function"`` (runs that code)."""
    if not isinstance(spec, str) or spec.count(":") < 1:
        raise ValueError(f"factory: expected 'path/to/file.py:function' or 'module:function', got {spec!r}")
    where, _, func = spec.rpartition(":")
    if not where or not func.isidentifier():
        raise ValueError(f"factory: expected 'path/to/file.py:function' or 'module:function', got {spec!r}")
    if where.endswith(".py"):
        path = Path(where).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"factory: no file at {where!r}")
        name = f"spikeattack_user_{abs(hash(str(path)))}"
        module = sys.modules.get(name)
        if module is None:
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise ValueError(f"factory: cannot import module {where!r} ({exc})") from exc
    fn = getattr(module, func, None)
    if not callable(fn):
        raise ValueError(f"factory: {where!r} has no callable {func!r}")
    return fn


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
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = [f"{what} {keys[:8]}{'...' if len(keys) > 8 else ''}"
                 for what, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong)) if keys]
        raise ValueError(f"weights: {source} does not fit the factory's network: " + "; ".join(parts))
    net.load_state_dict(state, strict=True)


def load_foreign_model(factory: str, weights: str | os.PathLike | None = None, *, factory_kwargs: dict | None = None,
                       device: str | torch.device = "cpu", **wrap_kwargs: Any) -> ForeignModel:
    """``wrap(factory(**factory_kwargs) with weights loaded, **wrap_kwargs)`` on ``device``.

    The factory returns the network (an ``nn.Module``), or a dict ``{"model": net, ...}`` whose
    other keys (``timesteps``, ``input_shape``, ``num_classes``, ``time``, ``readout``,
    ``encoding``, ``mean``, ``std``) give :func:`wrap`'s arguments; explicit ``wrap_kwargs`` win.
    """
    built = load_factory(factory)(**(factory_kwargs or {}))
    options: dict[str, Any] = {}
    if isinstance(built, dict):
        options = {k: v for k, v in built.items() if k != "model"}
        built = built.get("model")
    if not isinstance(built, nn.Module):
        raise ValueError(f"factory: {factory!r} returned {type(built).__name__}, expected an nn.Module "
                         "(or a dict with 'model')")
    if weights is not None:
        load_strict(built, load_state_dict(weights), repr(os.fspath(weights)))
    options.update({k: v for k, v in wrap_kwargs.items() if v is not None})
    for key in ("timesteps", "input_shape", "num_classes"):
        if key not in options:
            raise ValueError(f"{key}: not given and not returned by the factory {factory!r}")
    options.setdefault("name", factory.rpartition(":")[2])
    return wrap(built.eval(), **options).to(device)
