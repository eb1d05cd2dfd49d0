"""Checkpoints: weights plus the full model config, loadable with ``weights_only=True``.

Layout (a plain dict of JSON-able data and tensors)::

    {"format": "spikeattack-checkpoint", "version": 1,
     "config": ModelConfig.to_dict(), "state_dict": {...}, "metadata": {...},
     "digest": sha256 of config and weights}

Every load is validated before the model is used (:func:`load_checkpoint`): the format, the
metadata keys spikeattack reads back, the config (its ranges, and whether the model fits
the device's memory, checked *before* it is built), the digest (a file damaged after it was
written, e.g. a flipped bit, is refused; files written before the digest existed load
without it) and the weights (:func:`spikeattack.models.state.check_state_dict`: tensors of
the network's keys, shapes and kinds, all finite).
"""

from __future__ import annotations

import io
import os
from typing import Any

import torch

from ..io import write_bytes
from ..models import ModelConfig, SpikingModel, build_model
from ..models.footprint import check_fits
from ..models.state import check_state_dict, state_digest

FORMAT = "spikeattack-checkpoint"
VERSION = 1


def save_checkpoint(model: SpikingModel, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> None:
    """Write ``model``'s weights and config (and JSON-able ``metadata``) to ``path`` (``torch.save``'s order).

    The file is serialised in memory first and written atomically (:func:`spikeattack.io.atomic_write`):
    a full disk is an ``OSError`` naming ``path`` and leaves the old file (or none), nothing else."""
    if not isinstance(model, SpikingModel):
        raise ValueError(f"model: expected a SpikingModel, got {type(model).__name__}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    config = model.config.to_dict()
    payload = {"format": FORMAT, "version": VERSION, "config": config, "state_dict": state,
               "metadata": dict(metadata or {}), "digest": state_digest(config, state)}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes(path, buffer.getvalue())  # unique temporary name: concurrent writers never collide


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
    where = f"checkpoint {os.fspath(path)!r}"
    state = payload["state_dict"]
    if any(not isinstance(v, torch.Tensor) for v in state.values()):
        check_state_dict(state, {}, where)  # names the values that are not tensors
    return payload


def verify_digest(payload: dict[str, Any], where: str) -> None:
    """The checksum written with the weights and config must match them (absent: an older file)."""
    digest = payload.get("digest")
    if digest is not None and (not isinstance(digest, str) or digest != state_digest(payload["config"],
                                                                                     payload["state_dict"])):
        raise ValueError(f"{where}: its weights or config do not match the checksum written with them; the file "
                         "was damaged or edited after it was saved")


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
    """Strictly load ``state_dict`` into ``model``: tensors of exactly its keys, shapes and kinds,
    all finite (:func:`spikeattack.models.state.check_state_dict`), else a ``ValueError``."""
    check_state_dict(state_dict, model.state_dict(), source, f"architecture {model.config.arch!r}")
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
    where = f"checkpoint {os.fspath(path)!r}"
    try:  # before the model is built: a stored T or width too large for this device is refused, not allocated
        check_fits(config, map_location, batch=1, gradient=False, origin=where)
    except ValueError as exc:
        message = str(exc)
        raise ValueError(message if message.startswith(where) else f"{where}: {message}") from exc
    model = build_model(config)
    check_state_dict(payload["state_dict"], model.state_dict(), where, f"architecture {config.arch!r}")
    verify_digest(payload, where)
    model.load_state_dict(payload["state_dict"], strict=True)
    return model.to(map_location).eval(), dict(payload.get("metadata") or {})
