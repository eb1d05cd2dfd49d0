"""Checkpoints: weights plus the full model config, loadable with ``weights_only=True``.

Layout (a plain dict of JSON-able data and tensors)::

    {"format": "spikeattack-checkpoint", "version": 1,
     "config": ModelConfig.to_dict(), "state_dict": {...}, "metadata": {...}}
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ..io import atomic_write
from ..models import ModelConfig, SpikingModel, build_model

FORMAT = "spikeattack-checkpoint"
VERSION = 1


def save_checkpoint(model: SpikingModel, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> None:
    """Write ``model``'s weights and config (and JSON-able ``metadata``) to ``path`` (``torch.save``'s order)."""
    if not isinstance(model, SpikingModel):
        raise ValueError(f"model: expected a SpikingModel, got {type(model).__name__}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "version": VERSION, "config": model.config.to_dict(),
               "state_dict": state, "metadata": dict(metadata or {})}
    with atomic_write(path) as f:  # unique temporary name: concurrent writers never collide
        torch.save(payload, f)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate the raw checkpoint dict (``weights_only=True``)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint: no file at {os.fspath(path)!r}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, or not a torch file
        raise ValueError(f"checkpoint: {os.fspath(path)!r} is not a readable spikeattack checkpoint ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"checkpoint: {os.fspath(path)!r} is not a spikeattack checkpoint (missing format tag)")
    if payload.get("version") != VERSION:
        raise ValueError(f"checkpoint: {os.fspath(path)!r} has version {payload.get('version')!r}; expected {VERSION}")
    for key in ("config", "state_dict"):
        if not isinstance(payload.get(key), dict):
            raise ValueError(f"checkpoint: {os.fspath(path)!r} lacks {key!r}")
    check_metadata(payload.get("metadata"), os.fspath(path))
    return payload


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_metadata(metadata: Any, where: str) -> None:
    """The metadata keys spikeattack reads back must have their types: ``dataset`` a name,
    ``resize`` a count, ``data_options`` a table of ``resize``/``time_bins`` counts and
    ``frames``; anything else in the metadata is free-form."""
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise ValueError(f"checkpoint: {where!r} has metadata of type {type(metadata).__name__}; expected a dict")
    problems = []
    if metadata.get("dataset") is not None and not isinstance(metadata["dataset"], str):
        problems.append(f"dataset={metadata['dataset']!r} (expected a dataset name)")
    if metadata.get("resize") is not None and not _is_count(metadata["resize"]):
        problems.append(f"resize={metadata['resize']!r} (expected an integer >= 1)")
    options = metadata.get("data_options")
    if options is not None:
        if not isinstance(options, dict):
            problems.append(f"data_options={options!r} (expected a dict)")
        else:
            for key, value in options.items():
                ok = (value is None or (_is_count(value) if key in ("resize", "time_bins") else
                                        value in ("binary", "count") if key == "frames" else False))
                if not ok:
                    problems.append(f"data_options.{key}={value!r}")
    if problems:
        raise ValueError(f"checkpoint: {where!r} has malformed metadata: {'; '.join(problems)}")


def load_weights(model: SpikingModel, state_dict: dict[str, torch.Tensor], source: str = "state_dict") -> None:
    """Strictly load ``state_dict`` into ``model``: any missing, extra or mis-shaped key is an error."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong = sorted(k for k in set(own) & set(state_dict) if own[k].shape != state_dict[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
        if wrong:
            parts.append(f"shape mismatch {wrong[:5]}")
        raise ValueError(f"{source}: weights do not fit architecture {model.config.arch!r}: " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu",
                    expect: ModelConfig | None = None) -> tuple[SpikingModel, dict[str, Any]]:
    """Rebuild the model stored at ``path``; returns ``(model in eval mode, metadata)``.

    With ``expect``, the stored architecture, input shape and classes must match it.
    """
    payload = read_checkpoint(path)
    try:
        config = ModelConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint: {os.fspath(path)!r} holds an invalid config ({exc})") from exc
    if expect is not None:
        for key in ("arch", "in_channels", "input_size", "num_classes"):
            if getattr(config, key) != getattr(expect, key):
                raise ValueError(f"checkpoint: {os.fspath(path)!r} has {key}={getattr(config, key)!r}, "
                                 f"expected {getattr(expect, key)!r}")
    model = build_model(config)
    load_weights(model, payload["state_dict"], source=f"checkpoint {os.fspath(path)!r}")
    return model.to(map_location).eval(), dict(payload.get("metadata") or {})
