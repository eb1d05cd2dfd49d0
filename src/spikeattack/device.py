"""Devices and mixed precision: the one place that turns ``--device`` and ``--amp`` into torch objects.

``resolve_device`` validates a device name (``cuda`` on a machine without CUDA is a
``ValueError``, never a crash deep inside a forward); ``autocast`` is ``torch.autocast``
with the project's names (``bf16``, ``fp16``) or a no-op for full precision.
"""

from __future__ import annotations

import contextlib
import os
from typing import ContextManager

import torch

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a ``torch.device``; None picks CUDA when available, else the CPU.

    ``ValueError`` (naming ``device``) for a name torch does not know, a type other than
    cpu/cuda/mps, or a device this machine does not have."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = str(device)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device: expected cpu, cuda[:N] or mps, got {name!r} ({exc})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: {name!r} requested, but this torch build or machine has no CUDA (use cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device: {name!r} requested, but there are {torch.cuda.device_count()} CUDA devices")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device: {name!r} requested, but MPS is not available (use cpu)")
    elif dev.type != "cpu":
        raise ValueError(f"device: expected cpu, cuda[:N] or mps, got {name!r}")
    if dev.type in ("cpu", "mps") and dev.index not in (None, 0):
        raise ValueError(f"device: {name!r} requested, but there is one {dev.type} device ({dev.type} or {dev.type}:0)")
    return dev


def check_amp(amp: str | None) -> str | None:
    """Validate an AMP mode: None (full precision), ``"bf16"`` or ``"fp16"``."""
    if amp is not None and amp not in AMP_DTYPES:
        raise ValueError(f"amp: expected None or one of {', '.join(AMP_DTYPES)}, got {amp!r}")
    return amp


def autocast(device: torch.device | str, amp: str | None) -> ContextManager:
    """``torch.autocast`` on ``device``'s type with ``amp``'s dtype; a no-op when ``amp`` is None."""
    if check_amp(amp) is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=AMP_DTYPES[amp])


def available_memory(device: torch.device | str) -> int:
    """Free bytes on ``device``: the GPU's free memory, or the host's ``MemAvailable``."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - unknown platform: no estimate
        return 1 << 62
