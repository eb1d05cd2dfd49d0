"""Running an experiment on a Ray cluster (``spikeattack bench exp.toml --ray [ADDRESS]``).

The driver (this process) is the only writer of ``results.sqlite``. Everything else is a
Ray task that returns its result:

- a *training task* per model the pending cells need, keyed by the model's config hash
  (never two for one hash); it returns the checkpoint bytes, which the driver writes to
  ``RUN/models/<key>.pt`` and puts in the object store, so workers on any machine read
  the model without a shared folder. A model already in ``RUN/models/`` is not trained.
  A converted SNN's task depends on its ANN's task.
- a *cell task* per cell (or per chunk of its test inputs with ``chunk=N``), submitted
  once the models it needs exist; the driver writes each cell in one transaction as it
  arrives (:meth:`ResultsStore.put`). Chunks are merged first (:func:`merge_parts`): the
  per-input records are concatenated and summarised once, so the metrics are those of
  the unchunked cell whenever the chunks see the same inputs the same way (chunks hold
  whole batches and every attack reseeds its generator per batch; a *stochastic encoder*
  is reseeded at the start of each chunk, so Poisson models draw other noise when chunked).

Resume, skip and kill semantics are the plain runner's: finished cells (in the store) are
skipped, a SIGKILLed driver loses only cells in flight, and a worker that dies mid-cell
has its task retried by Ray (``max_retries``); the driver writes a cell once, when its
result arrives. Each task asks for one GPU when the cluster has GPUs, else one CPU, and
runs torch with one thread. Ray itself is the optional extra ``spikeattack[distributed]``.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..io import write_bytes
from ..training import load_checkpoint, save_checkpoint
from .cells import Cell, Experiment, digest
from ..evaluation.metrics import PerInput, Summary, summarize
from .runner import RunReport, Runner

#: spike-domain metrics that evaluate() averages over inputs, weighted by batch size
WEIGHTED_EXTRAS = ("flips", "flip_rate", "rsf", "iterations")


def import_ray():
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("the Ray runner needs Ray: pip install 'spikeattack[distributed]'") from exc
    return ray


# ---------------------------------------------------------------------------------------------- the address
#: seconds to wait for a Ray address to accept a connection (``SPIKEATTACK_RAY_TIMEOUT`` overrides)
RAY_CONNECT_TIMEOUT = 15.0


def check_address(address: str, timeout: float | None = None) -> None:
    """``ValueError`` naming ``address`` unless ``address`` (``host:port`` or ``ray://host:port``; ``auto``
    is Ray's to resolve) accepts a TCP connection within ``timeout`` seconds: Ray itself waits
    minutes for a cluster that is not there."""
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"address: expected 'auto' or host:port, got {address!r}")
    if address == "auto":
        return
    where = address.removeprefix("ray://")
    host, sep, port = where.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"address: expected 'auto' or host:port (e.g. 10.0.0.5:6379), got {address!r}")
    if timeout is None:
        try:
            timeout = float(os.environ.get("SPIKEATTACK_RAY_TIMEOUT", RAY_CONNECT_TIMEOUT))
        except ValueError:
            timeout = RAY_CONNECT_TIMEOUT
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        reason = (f"no answer within {timeout:g} s" if isinstance(exc, socket.timeout)
                  else (exc.strerror or str(exc) or type(exc).__name__).lower())
        raise ValueError(f"address: no Ray cluster answers at {address!r} ({reason}); start one there ('ray start "
                         "--head') or check the address") from exc


# ---------------------------------------------------------------------------------------------- merging
def chunk_ranges(n: int, chunk: int | None, batch_size: int) -> list[tuple[int, int]] | None:
    """``[(start, stop), ...]`` covering ``n`` inputs in chunks of whole batches; None when one chunk."""
    if chunk is None:
        return None
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk: expected an integer >= 1 (test inputs per task), got {chunk!r}")
    size = math.ceil(chunk / batch_size) * batch_size  # whole batches: the same batches as unchunked
    if size >= n:
        return None
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def merge_parts(parts: list[tuple[Summary, PerInput, float]]) -> tuple[Summary, PerInput, float]:
    """One cell's result from its input chunks, in input order.

    The per-input outcomes are concatenated and summarised once (:func:`summarize`), so
    ASR, robust accuracy and the perturbation means are computed exactly as for the whole
    cell; spike-domain means are recombined with their chunk sizes as weights, as
    evaluate() combines batches; seconds add up (compute time, not wall time).
    """
    if len(parts) == 1:
        return parts[0]
    per = PerInput.concat([p for _, p, _ in parts])
    summary = summarize(per)
    extra = dict(parts[0][0].extra)
    for key in WEIGHTED_EXTRAS:
        if key in extra:
            values = [(s.extra[key], s.n) for s, _, _ in parts if s.extra.get(key) is not None]
            extra[key] = sum(v * n for v, n in values) / summary.n if values and summary.n else None
    summary.extra = extra
    return summary, per, sum(seconds for _, _, seconds in parts)


# ---------------------------------------------------------------------------------------------- worker side
_WORKERS: dict[str, Runner] = {}


def _worker_runner(exp: Experiment, device: str) -> Runner:
    """This worker process's computing runner for ``exp`` (data loaded once, no store, one thread)."""
    torch.set_num_threads(1)
    # what fixes every model's config hash and the test inputs: one name means one model here
    key = digest({"models": {name: exp.model_key(name) for name in exp.models}, "data": exp.data,
                  "seed": exp.seed, "device": device})
    if key not in _WORKERS:
        scratch = Path(tempfile.gettempdir()) / "spikeattack-worker"
        _WORKERS[key] = Runner(exp, scratch, device=device, progress=False, log=lambda m: None, store=False)
    return _WORKERS[key]


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _load_models(runner: Runner, models: dict[str, dict[str, Any]]) -> None:
    """Put ``{name: {"key": config hash, "ref": [ObjectRef of checkpoint bytes]}}`` in the runner's
    cache (read once per worker; the reference sits in a list so Ray does not fetch it unasked)."""
    ray = import_ray()
    for name, entry in models.items():
        if name in runner._models:
            continue
        if entry["ref"][0] is None:  # a user model (factory + weights): loaded from its files on the worker
            runner.model(name)
            continue
        blob = ray.get(entry["ref"][0])
        with tempfile.NamedTemporaryFile(suffix=".pt") as f:
            f.write(blob)
            f.flush()
            model, _ = load_checkpoint(f.name, map_location=runner.device)  # weights_only=True, strict
        runner._models[name] = model.eval()


def train_task(exp: Experiment, name: str, deps: dict[str, dict[str, Any]], device: str) -> tuple[bytes, dict]:
    """Train (or convert) model ``name``; returns its checkpoint bytes and what the store records."""
    runner = _worker_runner(exp, device)
    _load_models(runner, deps)
    model, meta = runner._build(exp.models[name])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        save_checkpoint(model, path, meta | {"cache_key": exp.model_key(name)})  # as Runner.model writes it
        blob = path.read_bytes()
    return blob, {"meta": meta, "config": model.config.to_dict(), "clean": runner.clean_accuracy(model.eval()),
                  "worker": worker_id()}


def cell_task(exp: Experiment, cell: Cell, models: dict[str, dict[str, Any]], inputs: tuple[int, int] | None,
              device: str) -> tuple[tuple[Summary, PerInput, float], str]:
    """Compute one cell (or one chunk of its inputs); returns the result and the worker's name."""
    runner = _worker_runner(exp, device)
    _load_models(runner, models)
    return runner.compute_cell(cell, inputs), worker_id()


# ---------------------------------------------------------------------------------------------- driver side
@dataclass
class _Job:
    kind: str  # "model" or "cell"
    name: str  # model name, or cell id
    part: int = 0


class RayRunner:
    """Runs an experiment's cells as Ray tasks; this process alone writes ``out_dir``'s store.

    ``address``: None starts a local Ray instance (``num_cpus`` workers, default all
    cores) and stops it afterwards; ``"auto"`` or ``host:port`` joins a running cluster. If
    Ray is already initialised in this process, that session is used as it is. ``chunk``:
    test inputs per task (cells larger than that are split and merged). ``max_retries``:
    how often Ray re-runs a task whose worker died. ``on_written(cell_id, worker)`` is
    called after each cell is committed.
    """

    def __init__(self, experiment: Experiment, out_dir: str | os.PathLike, *, address: str | None = None,
                 num_cpus: int | None = None, device: str | None = None, chunk: int | None = None,
                 max_retries: int = 3, progress: bool = True, log: Callable[[str], None] | None = None,
                 on_written: Callable[[str, str], None] | None = None) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries: expected an integer >= 0, got {max_retries!r}")
        if num_cpus is not None and (isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 1):
            raise ValueError(f"num_cpus: expected an integer >= 1, got {num_cpus!r}")
        if device is not None and device not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu' or 'cuda' for Ray workers (one GPU per task), got {device!r}")
        chunk_ranges(1, chunk, 1)  # validate now, before the run folder is made
        if address is not None:
            check_address(address)  # a dead address is an error in seconds, not a hang, and writes nothing
        # the driver's own runner: the store, the pending cells, cached models, analyses (on the driver's CPU
        # unless it has a GPU itself)
        self.runner = Runner(experiment, out_dir, device="cuda" if torch.cuda.is_available() else "cpu",
                             progress=False, log=log)
        self.exp, self.out = experiment, Path(out_dir)
        self.address, self.num_cpus, self.device = address, num_cpus, device
        self.chunk_size = chunk
        self.max_retries = max_retries
        self.progress = progress
        self.log = self.runner.log
        self.on_written = on_written
        self.report: RunReport = self.runner.report
        self.startup_seconds = 0.0
        self.cell_tasks = 0  # cell tasks submitted (a chunked cell counts one per chunk)

    # -------------------------------------------------------------- ray session
    def _connect(self):
        ray = import_ray()
        started = False
        if not ray.is_initialized():
            start = time.perf_counter()
            if self.address is None:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=self.address, log_to_driver=False)
            self.startup_seconds = time.perf_counter() - start
            started = True
        return ray, started

    def _task_options(self, ray) -> tuple[dict[str, Any], str]:
        gpus = ray.cluster_resources().get("GPU", 0)
        if self.device == "cuda" and not gpus:
            raise ValueError(f"device: {self.device!r} asked for, but the Ray cluster has no GPU")
        if gpus and self.device != "cpu":
            return {"num_gpus": 1, "num_cpus": 1, "max_retries": self.max_retries}, "cuda"
        return {"num_cpus": 1, "max_retries": self.max_retries}, "cpu"

    # -------------------------------------------------------------- the run
    def run(self, shard: tuple[int, int] = (0, 1)) -> RunReport:
        start = time.perf_counter()
        todo = self.runner.pending(shard)
        self.log(f"experiment {self.exp.name}: {len(todo)} cells to run on Ray, {self.report.skipped} already finished")
        ray, started = self._connect()
        try:
            if todo:
                self._run_cells(ray, todo)
        finally:
            if started:
                ray.shutdown()
        self.runner.run_evaluations(shard)  # on the driver, with the models now in RUN/models/
        if shard[0] == 0:
            self.runner.run_analyses()
        self.report.seconds = time.perf_counter() - start
        return self.report

    def _needed_models(self, todo: list[tuple[str, Cell]]) -> list[str]:
        """Model names the cells need, each after the model it is converted from."""
        order: list[str] = []

        def visit(name: str) -> None:
            if name in order:
                return
            parent = self.exp.models[name].convert_from
            if parent is not None:
                visit(parent)
            order.append(name)

        for _, cell in todo:
            visit(cell.target)
            visit(cell.source)
        return order

    def _run_cells(self, ray, todo: list[tuple[str, Cell]]) -> None:
        options, device = self._task_options(ray)
        train = ray.remote(train_task).options(**options)
        compute = ray.remote(cell_task).options(**options)
        exp_ref = ray.put(self.exp)
        store = self.runner.store
        by_key: dict[str, list] = {}  # config hash -> [ObjectRef of checkpoint bytes] once it exists
        pending: dict[Any, _Job] = {}
        training: dict[str, str] = {}  # config hash -> model name being trained
        waiting = list(todo)
        parts: dict[str, dict[int, tuple]] = {}
        ranges_of: dict[str, list[tuple[int, int]] | None] = {}
        cells = dict(todo)
        n_inputs = len(self.runner.test_inputs()[1])

        def models_entry(names: set[str]) -> dict[str, dict[str, Any]]:
            return {n: {"key": self.exp.model_key(n), "ref": by_key[self.exp.model_key(n)]} for n in names}

        def submit_ready_models() -> None:
            for name in self._needed_models(todo):
                key = self.exp.model_key(name)
                if key in by_key or key in training:
                    continue
                parent = self.exp.models[name].convert_from
                if parent is not None and self.exp.model_key(parent) not in by_key:
                    continue  # after its ANN
                if self.exp.models[name].foreign is not None:  # never trained; each worker loads its files
                    self.runner.model(name)
                    by_key[key] = [None]
                    continue
                path = self.out / "models" / f"{key}.pt"
                if path.exists():  # trained by an earlier run: recorded and shared, not trained again
                    self.runner.model(name)
                    by_key[key] = [ray.put(path.read_bytes())]
                    continue
                deps = models_entry({parent}) if parent is not None else {}
                ref = train.remote(exp_ref, name, deps, device)
                pending[ref] = _Job("model", name)
                training[key] = name

        def submit_ready_cells() -> None:
            for cid, cell in list(waiting):
                names = {cell.target, cell.source}
                if not all(self.exp.model_key(n) in by_key for n in names):
                    continue
                waiting.remove((cid, cell))
                ranges = chunk_ranges(n_inputs, self.chunk_size, self.runner.batch_size)
                ranges_of[cid] = ranges
                parts[cid] = {}
                for i, inputs in enumerate(ranges or [None]):
                    ref = compute.remote(exp_ref, cell, models_entry(names), inputs, device)
                    pending[ref] = _Job("cell", cid, i)
                    self.cell_tasks += 1

        submit_ready_models()
        submit_ready_cells()
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc="cells", file=sys.stderr)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(done[0])
                result = ray.get(done[0])  # a task that failed for good raises here; written cells stay
                if job.kind == "model":
                    self._record_model(ray, job.name, result, by_key)
                    training.pop(self.exp.model_key(job.name), None)
                    submit_ready_models()
                    submit_ready_cells()
                    continue
                (computed, worker) = result
                parts[job.name][job.part] = computed
                ranges = ranges_of[job.name]
                if len(parts[job.name]) < (len(ranges) if ranges else 1):
                    continue
                merged = merge_parts([parts[job.name][i] for i in range(len(parts[job.name]))])
                del parts[job.name]
                row = self.runner.cell_row(cells[job.name], *merged)
                if store.put(job.name, row, worker=worker):
                    self.report.computed += 1
                if bar is not None:
                    bar.update(1)
                if self.on_written is not None:
                    self.on_written(job.name, worker)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            if bar is not None:
                bar.close()

    def _record_model(self, ray, name: str, result: tuple[bytes, dict], by_key: dict[str, list]) -> None:
        blob, info = result
        key = self.exp.model_key(name)
        path = self.out / "models" / f"{key}.pt"
        write_bytes(path, blob)  # atomic: a killed driver never leaves half a checkpoint
        self.runner.store.put_model(key, self.exp.name, name, str(path), info["config"], info["clean"], info["meta"])
        self.report.models_trained.append(name)
        by_key[key] = [ray.put(blob)]
        self.log(f"model {name} trained on {info['worker']}")
