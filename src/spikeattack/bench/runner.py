"""Running an experiment: models trained on demand (cached by config hash), every cell
written to the results store as soon as it finishes, finished cells skipped on re-runs.

Cells are independent: ``shard=(i, n)`` runs the cells whose id hashes to ``i`` modulo
``n``, so several processes *on one machine* can split a run with no shared state but the
store. SQLite's WAL journal needs shared memory, so the store must live on a local disk,
never on a network file system: to spread a run over machines use the Ray runner
(:mod:`spikeattack.bench.distributed`, ``bench --ray``), whose driver alone writes the store.
The default is one process, every cell.

A cell is computed (:meth:`Runner.compute_cell`, optionally on a slice of the test inputs)
apart from the row that is written (:meth:`Runner.cell_row`), so other executors can
compute where they like and write here.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from ..attacks import attack_parameters, make_attack
from ..data import ImageDataset, load_dataset
from ..device import resolve_device
from ..io import file_lock
from ..models import ModelConfig, SpikingModel, build_model
from ..models.footprint import check_fits
from ..evaluation import accuracy, evaluate, event_evaluation, standard_evaluation, tune_estimator
from ..evaluation.analyses import shuffles_time, spike_shuffle_accuracy
from ..evaluation.metrics import PerInput, Summary
from ..training import TrainConfig, load_checkpoint, save_checkpoint, train_model
from .sharing import shared_groups, sharing
from .cells import Cell, Experiment, ModelSpec, attack_eps, cell_gradient, digest, row_eps
from ..results.store import STORE_NAME, ResultsStore

@dataclass
class RunReport:
    computed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    models_trained: list[str] = field(default_factory=list)


class Runner:
    """Executes an :class:`Experiment` into ``out_dir`` (``results.sqlite``, ``models/``)."""

    def __init__(self, experiment: Experiment, out_dir: str | os.PathLike, *, device: str | None = None,
                 progress: bool = True, log: Callable[[str], None] | None = None, store: bool = True) -> None:
        self.exp = experiment
        self.out = Path(out_dir)
        self.device = resolve_device(device)
        self.progress = progress
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self._data: ImageDataset | None = None
        self._models: dict[str, SpikingModel] = {}
        self.report = RunReport()
        if store:  # the driver: every model must fit the device before a folder is made or a model built
            self.check_models()
        self.out.mkdir(parents=True, exist_ok=True)
        #: None in a worker that only computes (another process writes the store)
        self.store = ResultsStore(self.out / STORE_NAME) if store else None

    # ------------------------------------------------------------------ data & models
    @property
    def data(self) -> ImageDataset:
        if self._data is None:
            d = self.exp.data
            kwargs = {k: d[k] for k in ("resize", "frames", "time_bins") if d.get(k) is not None}
            self._data = load_dataset(d["dataset"], d.get("root"), **kwargs)
        return self._data

    def test_inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.data.split("test")
        n = min(self.exp.data["limit"], len(y))
        return (x[:, :n] if self.data.is_sequence else x[:n]), y[:n]

    def model_config(self, spec: ModelSpec) -> ModelConfig:
        config = dict(spec.config)
        if self.data.is_sequence:  # the frames are the spike train: their T, whatever the table says
            config.update(encoding="spikes", timesteps=self.data.timesteps)
        return ModelConfig.for_dataset(self.data, normalize=spec.normalize, encoder_seed=spec.seed, **config)

    def check_models(self) -> None:
        """Every model the experiment trains or converts can be built for the data and fits the
        device for training and attacking (:func:`~spikeattack.models.footprint.check_fits`),
        checked on the meta device before anything is allocated; ``ValueError`` naming the model
        table (``models.NAME``) otherwise. A user's model (``factory``) is the user's to size."""
        for name, spec in self.exp.models.items():
            if spec.foreign is not None:
                continue
            table = f"models.{name.split('#')[0].split('@')[0]}"
            where = table if name == table.removeprefix("models.") else f"{table} ({name})"
            try:
                config = self.model_config(spec)
                batch = max(int(spec.train.get("batch_size", 64)), self.batch_size)
                check_fits(config, self.device, batch=batch, gradient=True, origin=where)
            except ValueError as exc:
                message = str(exc)
                raise ValueError(message if message.startswith(where) else f"{where}: {message}") from exc

    def model(self, name: str) -> SpikingModel:
        """The trained model ``name``: from the cache folder, or trained (or converted) now."""
        if name in self._models:
            return self._models[name]
        spec = self.exp.models[name]
        key = self.exp.model_key(name)
        path = self.out / "models" / f"{key}.pt"
        if spec.foreign is not None:  # a user model: loaded from its own files, never cached
            model, meta = self._load_foreign(spec)
            path = Path(spec.foreign.get("weights") or spec.foreign["factory"])
        else:
            # train-or-load exactly once across shard processes sharing this folder
            with file_lock(path.with_suffix(".lock")):
                if path.exists():
                    model, meta = load_checkpoint(path, map_location=self.device)
                    self._verify_cached(path, name, key, model, meta)
                else:
                    model, meta = self._build(spec)
                    save_checkpoint(model, path, meta | {"cache_key": key})
                    self.report.models_trained.append(name)
        if self.store is not None:
            self.store.put_model(key, self.exp.name, name, str(path), model.config.to_dict(),
                                 self.clean_accuracy(model), meta)
        self._models[name] = model.eval()
        return model

    def clean_accuracy(self, model: SpikingModel) -> float:
        x, y = self.test_inputs()
        return accuracy(model, x.transpose(0, 1) if model.takes_sequence else x, y)

    def _verify_cached(self, path: Path, name: str, key: str, model: SpikingModel, meta: dict) -> None:
        """A model-cache entry is used only if it was written for this config hash (and, for a
        trained model, holds exactly the config this experiment builds); never a stray file."""
        stored = meta.get("cache_key")
        same = stored == key and (self.exp.models[name].convert_from is not None
                                  or model.config == self.model_config(self.exp.models[name]))
        if not same:
            raise ValueError(f"model cache: {str(path)!r} is not the cached model {name!r} of this experiment "
                             f"(its cache key is {stored!r}, expected {key!r}); delete the file to retrain it")

    def _load_foreign(self, spec: ModelSpec) -> tuple[SpikingModel, dict]:
        """A user model (``factory`` + ``weights``; spikeattack.interop), shaped for the dataset."""
        from ..interop import load_foreign_model

        f, c = spec.foreign, spec.config
        encoding = c.get("encoding", "spikes" if self.data.is_sequence else None)
        model = load_foreign_model(f["factory"], f.get("weights"), input_shape=tuple(self.data.input_shape),
                                   num_classes=self.data.num_classes, timesteps=c.get("timesteps"),
                                   time=f.get("time"), readout=f.get("readout"), encoding=encoding,
                                   mean=c.get("mean"), std=c.get("std"), encoder_seed=spec.seed, device=self.device)
        return model, {"name": spec.name, "factory": f["factory"], "weights": f.get("weights")}

    def _build(self, spec: ModelSpec) -> tuple[SpikingModel, dict]:
        if spec.convert_from is not None:
            from ..training.conversion import convert_ann_to_snn

            ann = self.model(spec.convert_from)
            calib, _ = self.data.split("train")
            calib = calib[torch.randperm(len(calib), generator=torch.Generator().manual_seed(spec.seed))[:512]]
            cfg = self.model_config(spec)
            self.log(f"converting {spec.convert_from} -> {spec.name} (T={cfg.timesteps})")
            result = convert_ann_to_snn(ann, calib.to(self.device), timesteps=cfg.timesteps, reset=cfg.reset,
                                        **spec.convert)
            model, info = result if isinstance(result, tuple) else (result, {})
            return model, {"converted_from": spec.convert_from, "conversion": info}
        torch.manual_seed(spec.seed)
        model = build_model(self.model_config(spec)).to(self.device)
        perturb = None
        if spec.adv is not None:
            from ..training.adversarial import adversarial_perturbation

            perturb = adversarial_perturbation(**spec.adv)
        self.log(f"training {spec.name} ({'spiking' if spec.is_spiking else 'ANN'}, seed {spec.seed}"
                 f"{', adversarial' if perturb else ''})")
        history = train_model(model, self.data, TrainConfig(**spec.train, seed=spec.seed), perturb=perturb,
                              progress=self.progress, evaluate_each_epoch=False)
        return model, {"name": spec.name, "history": history.to_list(), "adv": spec.adv}

    # ------------------------------------------------------------------ cells
    def attack_factory(self, cell: Cell) -> Callable[[SpikingModel], object]:
        # a grid's params serve several attacks: each gets those it (or the shared base) takes;
        # parse_experiment already refused keys that no attack of the grid takes
        params = {k: v for k, v in cell.params.items() if k in attack_parameters(cell.attack)}
        if cell.eps is not None:
            params["eps"] = attack_eps(cell, self.elements)

        def factory(model: SpikingModel):
            return make_attack(cell.attack, model, **cell_gradient(cell, model.is_spiking),
                               **({"seed": self.exp.seed} | params))

        return factory

    def compute_cell(self, cell: Cell, inputs: tuple[int, int] | None = None) -> tuple[Summary, PerInput, float]:
        """Attack the cell's test inputs (or ``inputs = (start, stop)`` of them): summary, per input, seconds."""
        target, source = self.model(cell.target), self.model(cell.source)
        x, y = self.test_inputs()
        if inputs is not None:
            start, stop = inputs
            x, y = (x[:, start:stop] if self.data.is_sequence else x[start:stop]), y[start:stop]
        start_time = time.perf_counter()
        result = evaluate(target, (x, y), self.attack_factory(cell), None if source is target else source,
                          seed=self.exp.seed, batch_size=self.batch_size, amp=cell.amp, keep_examples=False)
        return result.summary, result.per_input, time.perf_counter() - start_time

    @property
    def elements(self) -> int | None:
        """Elements of one event input (``T*C*H*W``: what an L0 budget counts); None for images."""
        return self.data.timesteps * math.prod(self.data.input_shape) if self.data.is_sequence else None

    @property
    def batch_size(self) -> int:
        return self.exp.data.get("batch_size", 128)

    def cell_row(self, cell: Cell, summary: Summary, per: PerInput, seconds: float) -> dict:
        """The store row of a computed cell."""
        extra = dict(summary.extra)
        for key in ("examples", "attack", "grad", "scenario"):  # the row's own columns say these
            extra.pop(key, None)
        config = extra.pop("config")
        metrics = dataclasses.replace(summary, extra=extra).to_dict()
        events = {"elements": self.elements} if per.flips is not None else {}  # what an L0 eps counts
        per_input = {"label": per.label.tolist(), "clean_pred": per.clean_pred.tolist(),
                     "adv_pred": per.adv_pred.tolist(), "target": None if per.target is None else per.target.tolist(),
                     "vanishing": per.vanishing.tolist()}
        if per.flips is not None:
            per_input["flips"] = per.flips.tolist()
        return {"experiment": self.exp.name, "target": cell.target, "source": cell.source,
                "scenario": cell.scenario, "attack": cell.label, "grad": cell.grad,
                "eps": row_eps(cell, self.elements),
                "config": cell.config(self.exp) | {"attack_config": config} | events,
                "metrics": metrics, "per_input": per_input, "seconds": seconds}

    def run_cell(self, cell: Cell) -> dict:
        return self.cell_row(cell, *self.compute_cell(cell))

    def pending(self, shard: tuple[int, int] = (0, 1)) -> list[tuple[str, Cell]]:
        """``(id, cell)`` of the shard's cells not yet in the store (finished ones count as skipped)."""
        index, count = shard
        if not (isinstance(count, int) and count >= 1 and isinstance(index, int) and 0 <= index < count):
            raise ValueError(f"shard: expected i/n with 0 <= i < n, got {index}/{count}")
        finished = self.store.finished_ids()
        todo = []
        for cell in self.exp.cells:
            cid = cell.id(self.exp)
            if int(cid, 16) % count != index:
                continue
            if cid not in finished and self.store.adopt("cells", cell.legacy_id(self.exp), cid, self.exp.name):
                finished.add(cid)  # written by 0.1.0, whose ids lacked the experiment's name
            if cid in finished:
                self.report.skipped += 1
            else:
                todo.append((cid, cell))
        return todo

    def run(self, shard: tuple[int, int] = (0, 1)) -> RunReport:
        start = time.perf_counter()
        todo = self.pending(shard)
        self.log(f"experiment {self.exp.name}: {len(todo)} cells to run, {self.report.skipped} already finished")
        bar = tqdm(total=len(todo), desc="cells", disable=not self.progress, file=sys.stderr)
        for group in shared_groups(todo):  # cells differing only by estimator share forwards
            with sharing([cell for _, cell in group]):
                for cid, cell in group:
                    row = self.run_cell(cell)
                    if self.store.put(cid, row):
                        self.report.computed += 1
                    bar.update()
        bar.close()
        self.run_evaluations(shard)
        if shard[0] == 0:
            self.run_analyses()
        self.report.seconds = time.perf_counter() - start
        return self.report

    def run_evaluations(self, shard: tuple[int, int] = (0, 1)) -> None:
        """The experiment's ``[[evaluate]]`` evaluations (this shard's, skipped when stored): the standard
        evaluation on images, the event evaluation (L0) on event frames; on the first ``limit`` test
        inputs, the same ones the grid attacks, so the report can compare the two per input."""
        index, count = shard
        for spec in self.exp.evaluations:
            eid = spec.id(self.exp)
            if int(eid, 16) % count != index or self.store.has_evaluation(eid):
                continue
            model = self.model(spec.target)
            x, y = self.test_inputs()
            if spec.limit is not None:
                x, y = (x[:, :spec.limit] if self.data.is_sequence else x[:spec.limit]), y[:spec.limit]
            device = next(model.parameters()).device
            progress = (lambda line: self.log(f"  {line}")) if self.progress else False
            if self.data.is_sequence:
                self.log(f"event evaluation ({spec.version}, L0, eps={spec.eps}{', minimal' if spec.minimal else ''}) "
                         f"of {spec.target} on {len(y)} inputs")
                result = event_evaluation(model, x.to(device), y.to(device), eps=spec.eps, version=spec.version,
                                          seed=self.exp.seed, batch_size=self.batch_size, minimal=spec.minimal,
                                          progress=progress)
            else:
                self.log(f"standard evaluation ({spec.version}, {spec.norm}, eps={spec.eps:g}) of {spec.target} "
                         f"on {len(y)} inputs")
                result = standard_evaluation(model, x.to(device), y.to(device), eps=spec.eps, norm=spec.norm,
                                             version=spec.version, seed=self.exp.seed, train_data=self.data,
                                             batch_size=self.batch_size, progress=progress)
            self.store.put_evaluation(eid, self.exp.name, spec.target, result.to_dict())

    def analysis_id(self, what: dict) -> str:
        """The id of an analysis of this experiment (its name included, as in cell ids); one stored
        under the id of 0.1.0 (without the name) by this experiment is adopted."""
        aid = digest(what | {"experiment": self.exp.name})
        if not self.store.has_analysis(aid):
            self.store.adopt("analyses", digest(what), aid, self.exp.name)
        return aid

    def run_analyses(self) -> None:
        """Analyses named in the experiment's ``[analyses]`` table (skipped when stored).

        ``spike_shuffle = true``: Bu et al.'s spike-shuffle test on every spiking model.
        ``hart_gamma = [0.25, 0.5, 1, 2, 4]``: HART's gamma chosen per spiking model by FGSM
        ASR on a held-out slice of the training set (:func:`tune_estimator`), with the ASR curve.
        """
        gammas = self.exp.analyses.get("hart_gamma")
        if gammas:
            values = gammas if isinstance(gammas, list) else [0.25, 0.5, 1.0, 2.0, 4.0]
            eps = min((c.eps for c in self.exp.cells if c.eps), default=8 / 255)
            for name, spec in self.exp.models.items():
                if not spec.is_spiking or "#seed" in name:
                    continue
                aid = self.analysis_id({"kind": "hart_gamma", "model": self.exp.model_key(name), "values": values,
                                        "eps": eps})
                if self.store.has_analysis(aid):
                    continue
                model = self.model(name)
                if model.takes_sequence:
                    continue  # image-domain FGSM only
                result = tune_estimator(model, self.data, "hart", "gamma", values, attack_params={"eps": eps},
                                        seed=self.exp.seed)
                self.store.put_analysis(aid, self.exp.name, "hart_gamma", name, result.to_dict() | {"eps": eps})
        if self.exp.analyses.get("spike_shuffle", False):
            x, y = self.test_inputs()
            for name, spec in self.exp.models.items():
                if not spec.is_spiking or "#seed" in name:
                    continue
                aid = self.analysis_id({"kind": "spike_shuffle", "model": self.exp.model_key(name),
                                        "seed": self.exp.seed})
                if self.store.has_analysis(aid):
                    continue
                if not shuffles_time(self.model(name)):
                    self.log(f"spike shuffle: skipped {name} (its neurons run one time step per call)")
                    continue
                result = spike_shuffle_accuracy(self.model(name), x, y, seed=self.exp.seed)
                self.store.put_analysis(aid, self.exp.name, "spike_shuffle", name, result)


def run_experiment(experiment: Experiment, out_dir: str | os.PathLike, **kwargs) -> RunReport:
    shard = kwargs.pop("shard", (0, 1))
    runner = Runner(experiment, out_dir, **kwargs)
    try:
        return runner.run(shard)
    finally:
        runner.store.close()
