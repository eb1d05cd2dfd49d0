"""Per-input bookkeeping shared by ``vs_peers.py`` and ``stages.py``.

A :class:`Context` holds one suite model (its raw network, the native logits module and
spikeattack's wrap), the first ``n`` test inputs, ``eps`` and the seed. Every recipe or stage
returns a :class:`Record`: per input (over the ``n`` inputs) whether it was classified correctly
clean, whether the recipe broke it, and the CPU seconds spent on it (``time.process_time``, one
thread); saved as one JSON file per model x eps x recipe under ``results/`` (``--results``), so
an interrupted run resumes where it stopped.

Every verdict comes from one place, :meth:`Context.verify`: the wrapped model's prediction on the
adversarial images (which equals the network's own loop for deterministic inputs, checked at build
time); a Poisson-coded model is re-seeded before each verification and run in fixed batches, so
an input's verdict does not depend on which recipe produced its image.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import data
from .models import Native, load, wrapped

RESULTS = Path(os.environ.get("SPIKEATTACK_PEERS_RESULTS", Path(__file__).resolve().parent / "results"))
BATCH = 128


def eps_label(eps: float) -> str:
    k = eps * 255
    return f"{round(k)}_255" if abs(k - round(k)) < 1e-9 else f"{eps:g}"


@dataclass
class Record:
    """What one recipe did on one model at one eps, per input (lists over the ``n`` inputs)."""

    model: str
    eps: float
    recipe: str
    n: int
    clean_correct: list[int]
    broken: list[int]
    cost: list[float]
    cpu_s: float
    wall_s: float
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def robust(self) -> int:
        return sum(c and not b for c, b in zip(self.clean_correct, self.broken))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "Record":
        return cls(**json.loads(path.read_text()))


class Context:
    """One suite model at one eps on the first ``n`` test inputs."""

    def __init__(self, name: str, eps: float, n: int, seed: int = 0, weights: Path | None = None,
                 results: Path | None = None) -> None:
        self.name, self.eps, self.n, self.seed = name, float(eps), int(n), int(seed)
        self.net, self.spec, self.meta = load(name, weights)
        self.model = wrapped(self.net, self.spec, name)  # wrap before any gradient forward of the net
        self.native = Native(self.net, self.spec).eval()
        train_x, train_y, test_x, test_y = data.load(self.spec["dataset"])
        self.x, self.y = test_x[:n].contiguous(), test_y[:n].contiguous()
        self._train = (train_x, train_y, test_x, test_y)
        self.folder = Path(results or RESULTS) / name / eps_label(self.eps)
        self.outside = 0
        self.clean_correct = self.verify(self.x)
        self.stochastic = bool(getattr(self.model.encoder, "stochastic", False))

    # ------------------------------------------------------------------ verdicts
    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        reseed = getattr(self.model.encoder, "reseed", None)
        if reseed is not None:
            reseed(self.seed)
        return torch.cat([self.model(x[i:i + BATCH]).argmax(-1) for i in range(0, len(x), BATCH)])

    def verify(self, x_adv: torch.Tensor) -> torch.Tensor:
        """Per input: correctly classified (all ``n`` images, in order)."""
        return self.predict(x_adv) == self.y

    def broken_by(self, x_adv: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """For the inputs ``idx`` with adversarial images ``x_adv``: misclassified now, by an image
        inside the eps-ball and the [0, 1] box (an image outside counts as not broken and is
        counted in ``self.outside``)."""
        full = self.x.clone()
        full[idx] = x_adv
        linf = (x_adv - self.x[idx]).flatten(1).abs().amax(1) if len(idx) else torch.zeros(0)
        inside = (linf <= self.eps * (1 + 1e-5) + 1e-7) & (x_adv.flatten(1).amin(1) >= 0) & (x_adv.flatten(1).amax(1) <= 1)
        broken = ~self.verify(full)[idx]
        self.outside += int((broken & ~inside).sum())
        return broken & inside

    def correct_idx(self) -> torch.Tensor:
        return self.clean_correct.nonzero().squeeze(1)

    def train_dataset(self):
        """The training split as spikeattack's ``ImageDataset`` (HART's gamma is tuned on it)."""
        from .sa import ImageDataset

        train_x, train_y, test_x, test_y = self._train
        return ImageDataset(self.spec["dataset"], train_x, train_y, test_x, test_y, 10)

    # ------------------------------------------------------------------ records
    def path(self, recipe: str) -> Path:
        return self.folder / f"{recipe}.json"

    def cached(self, recipe: str) -> Record | None:
        path = self.path(recipe)
        if not path.exists():
            return None
        rec = Record.load(path)
        return rec if rec.n == self.n else None

    def record(self, recipe: str, broken_idx: torch.Tensor, cost: torch.Tensor, cpu: float, wall: float,
               config: dict | None = None, extra: dict | None = None) -> Record:
        broken = torch.zeros(self.n, dtype=torch.bool)
        broken[broken_idx] = True
        broken &= self.clean_correct
        rec = Record(self.name, self.eps, recipe, self.n, [int(c) for c in self.clean_correct],
                     [int(b) for b in broken], [round(float(c), 6) for c in cost], round(cpu, 3), round(wall, 3),
                     config or {}, (extra or {}) | {"outside_ball": self.outside})
        self.outside = 0
        rec.save(self.path(recipe))
        return rec


class Clock:
    """CPU (``process_time``) and wall seconds of a block."""

    def __enter__(self) -> "Clock":
        self.c0, self.w0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu, self.wall = time.process_time() - self.c0, time.perf_counter() - self.w0


def in_batches(ctx: Context, fn, idx: torch.Tensor, cost: torch.Tensor, *extras: torch.Tensor) -> torch.Tensor:
    """``fn(x[b], y[b], *extras[b])`` over ``idx`` in batches; adds each batch's CPU seconds, split
    evenly, to ``cost`` of its inputs; returns the adversarial images of ``idx``."""
    out = ctx.x[idx].clone()
    for start in range(0, len(idx), BATCH):
        b = idx[start:start + BATCH]
        parts = [e[start:start + BATCH] for e in extras]
        c0 = time.process_time()
        out[start:start + len(b)] = fn(ctx.x[b], ctx.y[b], *parts)
        cost[b] += (time.process_time() - c0) / len(b)
    return out
