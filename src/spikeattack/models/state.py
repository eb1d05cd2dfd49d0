"""Weights as they are loaded: one validator for every loader (spikeattack checkpoints, the
bench model cache, a Ray worker's copy, a user network's weights file).

A state_dict is accepted only when it could have come from the network it is loaded into:
every value a tensor (a string or a number in a state_dict is refused), exactly the
network's keys, each of its shape and of its *kind* (floating-point weights stay floating
point: an integer or boolean tensor would be cast silently by ``load_state_dict``), and
every floating-point value finite (a NaN or inf weight or batch-norm statistic makes every
prediction meaningless). :func:`state_digest` is the checksum a checkpoint carries of its
config and weights, so a damaged file that still unpickles (a flipped bit) is refused too.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

import torch


def _keys(keys: list[str], limit: int = 5) -> str:
    return f"{keys[:limit]}{'...' if len(keys) > limit else ''}"


def _kind(t: torch.Tensor) -> str:
    if t.dtype == torch.bool:
        return "bool"
    if t.is_floating_point() or t.is_complex():
        return "floating"
    return "integer"


def check_state_dict(state: Any, own: Mapping[str, torch.Tensor], where: str, what: str = "the network") -> None:
    """``ValueError`` (starting with ``where``) unless ``state`` fits ``own`` (a network's
    ``state_dict()``): tensor values, the same keys and shapes, the same dtype kind, finite."""
    if not isinstance(state, Mapping):
        raise ValueError(f"{where}: the weights are a {type(state).__name__}, expected a state_dict (name -> tensor)")
    not_tensors = sorted(f"{k}={type(v).__name__}" for k, v in state.items()
                         if not isinstance(k, str) or not isinstance(v, torch.Tensor))
    if not_tensors:
        raise ValueError(f"{where}: the state_dict holds values that are not tensors: {_keys(not_tensors)}")
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(f"{k} {tuple(state[k].shape)} (expected {tuple(own[k].shape)})" for k in set(own) & set(state)
                   if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = [f"{name} {_keys(keys)}" for name, keys in (("missing", missing), ("unexpected", unexpected),
                                                            ("shape mismatch", wrong)) if keys]
        raise ValueError(f"{where}: weights do not fit {what}: " + "; ".join(parts))
    kinds = sorted(f"{k} is {state[k].dtype} (expected {own[k].dtype})" for k in own
                   if _kind(state[k]) != _kind(own[k]))
    if kinds:
        raise ValueError(f"{where}: weights of the wrong type: {_keys(kinds, 3)}")
    bad = []
    for key, tensor in state.items():
        if tensor.is_floating_point() and tensor.numel() and not bool(torch.isfinite(tensor).all()):
            count = int((~torch.isfinite(tensor)).sum())
            bad.append(f"{key} ({count} of {tensor.numel()})")
    if bad:
        raise ValueError(f"{where}: NaN or infinite values in the weights: {_keys(bad, 3)}; the file is damaged "
                         "or the training diverged")


def state_digest(config: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a model's config (canonical JSON) and weights (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":"), default=str).encode())
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        h.update(f"\0{key}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
