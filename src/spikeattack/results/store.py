"""The results store: one SQLite row per finished cell, written as soon as it finishes.

Rows are keyed by the cell's config hash, so re-running an experiment skips finished
cells and a run killed at any moment (even SIGKILL) resumes without recomputing or losing
a finished cell: each result and its computation log entry are committed in one
transaction. Several processes on one machine may share a store (WAL journal, busy
timeout): cells are independent, the store is the only shared state. WAL needs shared
memory, so the file must be on a local disk, not a network file system.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from ..io import check_regular
from .rows import row_problems

#: the results store's file name inside a run folder
STORE_NAME = "results.sqlite"

MODELS_TABLE = """CREATE TABLE IF NOT EXISTS models (
    key TEXT NOT NULL,
    experiment TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    config TEXT NOT NULL,
    clean_accuracy REAL,
    info TEXT NOT NULL,
    PRIMARY KEY (key, experiment)
);
"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    scenario TEXT NOT NULL,
    attack TEXT NOT NULL,
    grad TEXT NOT NULL,
    eps REAL,
    config TEXT NOT NULL,
    metrics TEXT NOT NULL,
    per_input TEXT NOT NULL,
    seconds REAL NOT NULL,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS computations (
    cell_id TEXT NOT NULL,
    worker TEXT NOT NULL,
    finished_at REAL NOT NULL
);
""" + MODELS_TABLE + """CREATE TABLE IF NOT EXISTS evaluations (
    id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    target TEXT NOT NULL,
    eps REAL NOT NULL,
    norm TEXT NOT NULL,
    version TEXT NOT NULL,
    result TEXT NOT NULL,
    seconds REAL NOT NULL,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS analyses (
    id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    result TEXT NOT NULL,
    finished_at REAL NOT NULL
);
"""

COLUMNS = ("id", "experiment", "target", "source", "scenario", "attack", "grad", "eps", "seconds")
TABLES = {"cells", "computations", "models", "analyses"}  # required; "evaluations" came later (optional to read)


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


class StoreError(ValueError):
    """The file is not a usable results store (damaged, or an SQLite file of something else)."""


class ResultsStore:
    """SQLite store at ``path``: created on first use, or with ``readonly=True`` opened
    read-only (``mode=ro``: listing and reporting never write, and work on a read-only
    archive). A damaged file, or an SQLite file without spikeattack's tables, raises
    :class:`StoreError` and is left untouched."""

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        check_regular(self.path, "store")  # never open a FIFO or device as a database (it would block or clobber)
        if readonly:
            if not self.path.is_file():
                raise FileNotFoundError(f"store: no results store at {str(self.path)!r}")
            # a file nobody may write cannot change under us: immutable needs no -wal/-shm files
            frozen = "&immutable=1" if not self.path.stat().st_mode & 0o222 else ""
            uri = f"file:{quote(str(self.path.absolute()))}?mode=ro{frozen}"
            self.conn = sqlite3.connect(uri, uri=True, timeout=120, isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=120, isolation_level=None)
        try:
            self._check_schema()
            if not readonly:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.executescript(f"BEGIN IMMEDIATE;{SCHEMA}COMMIT;")  # all tables or none, for a peer
                self._migrate_models()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise StoreError(f"store: {str(self.path)!r} is not a readable results store ({exc})") from exc
        except StoreError:
            self.conn.close()
            raise
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def _check_schema(self) -> None:
        """Refuse an SQLite file that holds tables but not ours (never write our schema into it)."""
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables and not self.readonly:
            return  # a new, empty store
        missing = TABLES - tables
        if missing:
            raise StoreError(f"store: {str(self.path)!r} is not a spikeattack results store (no table "
                             f"{', '.join(sorted(missing))}); refusing to use it")

    def _migrate_models(self) -> None:
        """Stores of 0.1.0 keyed a model record by its config hash alone, so two experiments sharing
        a model overwrote each other's record; now ``(key, experiment)`` (copied over once)."""
        def keyed_by_key_alone() -> bool:
            pk = [r[1] for r in self.conn.execute("PRAGMA table_info(models)") if r[5]]
            return pk == ["key"]

        if not keyed_by_key_alone():
            return
        with self._transaction():
            if keyed_by_key_alone():  # another process may have migrated it meanwhile
                self.conn.execute("ALTER TABLE models RENAME TO models_0_1")
                self.conn.execute(MODELS_TABLE)
                self.conn.execute("INSERT INTO models SELECT * FROM models_0_1")
                self.conn.execute("DROP TABLE models_0_1")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ cells
    def has(self, cell_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM cells WHERE id = ?", (cell_id,)).fetchone() is not None

    def finished_ids(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT id FROM cells")}

    def put(self, cell_id: str, row: dict[str, Any], worker: str | None = None) -> bool:
        """Insert a finished cell (and its computation log entry) atomically.

        ``worker`` names who computed it in the log (default: this process). Returns False
        (and writes nothing) when another process finished it first.
        """
        now = time.time()
        with self._transaction():
            if self.has(cell_id):
                return False
            self.conn.execute(
                "INSERT INTO cells (id, experiment, target, source, scenario, attack, grad, eps, config, metrics, "
                "per_input, seconds, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (cell_id, row["experiment"], row["target"], row["source"], row["scenario"], row["attack"],
                 row["grad"], row["eps"], json.dumps(row["config"]), json.dumps(row["metrics"]),
                 json.dumps(row["per_input"]), row["seconds"], now),
            )
            self.conn.execute("INSERT INTO computations (cell_id, worker, finished_at) VALUES (?, ?, ?)",
                              (cell_id, worker or self.worker, now))
        return True

    def adopt(self, table: str, old_id: str, new_id: str, experiment: str) -> bool:
        """Give the row ``old_id`` of ``table`` (``cells`` or ``analyses``) the id ``new_id`` when
        it belongs to ``experiment`` and ``new_id`` is free (ids of 0.1.0 lacked the experiment's
        name). Returns whether a row was adopted."""
        if table not in ("cells", "analyses"):
            raise ValueError(f"table: expected 'cells' or 'analyses', got {table!r}")
        with self._transaction():
            if self.conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (new_id,)).fetchone() is not None:
                return False
            moved = self.conn.execute(f"UPDATE {table} SET id = ? WHERE id = ? AND experiment = ?",
                                      (new_id, old_id, experiment)).rowcount
            if moved and table == "cells":
                self.conn.execute("UPDATE computations SET cell_id = ? WHERE cell_id = ?", (new_id, old_id))
        return bool(moved)

    def _transaction(self):
        store = self

        class _Tx:
            def __enter__(self_inner):
                store.conn.execute("BEGIN IMMEDIATE")

            def __exit__(self_inner, exc_type, *rest):
                store.conn.execute("ROLLBACK" if exc_type else "COMMIT")
                return False

        return _Tx()

    def rows(self, **filters: Any) -> list[dict[str, Any]]:
        """Finished cells as dicts (``config``/``metrics``/``per_input`` decoded), filtered by column values."""
        where, values = [], []
        for key, value in filters.items():
            if value is None:
                continue
            if key not in COLUMNS:
                raise ValueError(f"filter: unknown column {key!r}; expected one of {', '.join(COLUMNS)}")
            where.append(f"{key} = ?")
            values.append(value)
        sql = "SELECT id, experiment, target, source, scenario, attack, grad, eps, config, metrics, per_input, " \
              "seconds, finished_at FROM cells"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY experiment, target, attack, scenario, grad, eps"
        out, seen = [], {}
        for r in self.conn.execute(sql, values):
            row = {"id": r[0], "experiment": r[1], "target": r[2], "source": r[3], "scenario": r[4],
                   "attack": r[5], "grad": r[6], "eps": r[7], "seconds": r[11], "finished_at": r[12]}
            for column, text in (("config", r[8]), ("metrics", r[9]), ("per_input", r[10])):
                row[column] = self._decode(row, column, text)
            problems = row_problems(row)
            if problems:
                raise self._damaged(row, "; ".join(problems))
            same = canonical([row[c] for c in COLUMNS[1:-1]]
                             + [{k: v for k, v in row["config"].items() if k != "attack_config"}])
            if same in seen:
                raise self._damaged(row, f"it duplicates cell {seen[same]!r} (the same cell stored twice)", again=False)
            seen[same] = row["id"]
            out.append(row)
        return out

    def _decode(self, row: dict[str, Any], column: str, text: Any) -> Any:
        try:
            return json.loads(text)
        except (TypeError, ValueError) as exc:
            raise self._damaged(row, f"its {column} is not valid JSON ({type(exc).__name__})") from None

    def _damaged(self, row: dict[str, Any], problem: str, again: bool = True) -> "StoreError":
        """A StoreError naming the damaged cell and how to remove it (``again``: the next run of the
        experiment recomputes it)."""
        delete = f"sqlite3 {str(self.path)!r} \"DELETE FROM cells WHERE id = '{row['id']}'\""
        cell = f"{row['target']} / {row['attack']} / {row['grad']} / eps {row['eps']}"
        return StoreError(f"store: {str(self.path)!r}: cell {row['id']!r} (experiment {row['experiment']!r}, {cell}) "
                          f"is damaged: {problem}; delete that row ({delete})"
                          + ("; the next run of the experiment recomputes it" if again else ""))

    def computation_counts(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT cell_id, COUNT(*) FROM computations GROUP BY cell_id").fetchall())

    # ------------------------------------------------------------------ standard evaluations
    def _has_table(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                 (name,)).fetchone() is not None

    def has_evaluation(self, evaluation_id: str) -> bool:
        return self._has_table("evaluations") and self.conn.execute(
            "SELECT 1 FROM evaluations WHERE id = ?", (evaluation_id,)).fetchone() is not None

    def put_evaluation(self, evaluation_id: str, experiment: str, target: str, result: dict[str, Any]) -> bool:
        """Store a finished standard or event evaluation (``StandardEvaluation.to_dict()`` or
        ``EventEvaluation.to_dict()``, eps in elements; per-input records included); False when it
        is stored already."""
        with self._transaction():
            if self.has_evaluation(evaluation_id):
                return False
            self.conn.execute(
                "INSERT INTO evaluations (id, experiment, target, eps, norm, version, result, seconds, finished_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (evaluation_id, experiment, target, float(result["eps"]), str(result["norm"]), str(result["version"]),
                 json.dumps(result), float(result.get("seconds", 0.0)), time.time()))
        return True

    def evaluations(self, experiment: str | None = None, target: str | None = None) -> list[dict[str, Any]]:
        """Stored standard evaluations: ``{id, experiment, target, eps, norm, version, seconds, result}``."""
        if not self._has_table("evaluations"):
            return []  # a store written before the table existed
        sql, values = _filtered("SELECT id, experiment, target, eps, norm, version, result, seconds FROM evaluations",
                                experiment=experiment, target=target)
        return [{"id": r[0], "experiment": r[1], "target": r[2], "eps": r[3], "norm": r[4], "version": r[5],
                 "result": self._json(r[6], f"standard evaluation of {r[2]!r} (experiment {r[1]!r}): its result"),
                 "seconds": r[7]}
                for r in self.conn.execute(sql + " ORDER BY experiment, target, norm, eps", values)]

    # ------------------------------------------------------------------ models & analyses
    def put_model(self, key: str, experiment: str, name: str, path: str, config: dict, clean_accuracy: float | None,
                  info: dict) -> None:
        self.conn.execute("INSERT OR REPLACE INTO models VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (key, experiment, name, path, json.dumps(config), clean_accuracy, json.dumps(info)))

    def models(self, experiment: str | None = None) -> list[dict[str, Any]]:
        sql, values = _filtered("SELECT key, experiment, name, path, config, clean_accuracy, info FROM models",
                                experiment=experiment)
        return [{"key": r[0], "experiment": r[1], "name": r[2], "path": r[3],
                 "config": self._json(r[4], f"model {r[2]!r} (experiment {r[1]!r}): its config"),
                 "clean_accuracy": r[5], "info": self._json(r[6], f"model {r[2]!r} (experiment {r[1]!r}): its info")}
                for r in self.conn.execute(sql + " ORDER BY name", values)]

    def put_analysis(self, analysis_id: str, experiment: str, kind: str, subject: str, result: dict) -> None:
        self.conn.execute("INSERT OR REPLACE INTO analyses VALUES (?, ?, ?, ?, ?, ?)",
                          (analysis_id, experiment, kind, subject, json.dumps(result), time.time()))

    def has_analysis(self, analysis_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM analyses WHERE id = ?", (analysis_id,)).fetchone() is not None

    def analyses(self, experiment: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        sql, values = _filtered("SELECT id, experiment, kind, subject, result FROM analyses", experiment=experiment,
                                kind=kind)
        return [{"id": r[0], "experiment": r[1], "kind": r[2], "subject": r[3],
                 "result": self._json(r[4], f"analysis {r[2]} of {r[3]!r} (experiment {r[1]!r}): its result")}
                for r in self.conn.execute(sql + " ORDER BY kind, subject", values)]

    def _json(self, text: Any, what: str) -> Any:
        try:
            return json.loads(text)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"store: {str(self.path)!r}: {what} is not valid JSON ({type(exc).__name__}); the "
                             "record is damaged: delete it and re-run the experiment") from None


def _filtered(sql: str, **filters: Any) -> tuple[str, list[Any]]:
    """``sql`` with ``WHERE col = ?`` for each filter that is not None, and the values."""
    given = {k: v for k, v in filters.items() if v is not None}
    if given:
        sql += " WHERE " + " AND ".join(f"{k} = ?" for k in given)
    return sql, list(given.values())


def export_rows(rows: Iterable[dict[str, Any]], fmt: str, public: bool = False) -> str:
    """Rows as CSV (flat: columns + metrics) or JSON (everything but per-input arrays).

    Both carry the 95% Clopper-Pearson intervals of ASR and robust accuracy
    (:func:`.intervals.cell_intervals`): JSON as ``metrics.asr_ci`` / ``metrics.robust_accuracy_ci``
    (``[low, high]``), CSV as ``*_ci_low`` / ``*_ci_high`` columns. ``public``: values as they
    leave the package (:func:`.output.public`: 6 significant digits, norms ``Linf``/``L2``/``L0``).
    """
    from .intervals import cell_intervals
    from .output import public as made_public

    rows = list(rows)
    cis = [cell_intervals(r) for r in rows]
    final = made_public if public else (lambda value: value)
    if fmt == "json":
        return json.dumps(final([{k: v for k, v in r.items() if k != "per_input"} | {"metrics": r["metrics"] | ci}
                                 for r, ci in zip(rows, cis)]), indent=2)
    if fmt == "csv":
        metric_keys = sorted({k for r in rows for k, v in r["metrics"].items()
                              if not isinstance(v, (dict, list)) and k not in COLUMNS})
        ci_keys = [f"{name}_ci_{end}" for name in ("asr", "robust_accuracy") for end in ("low", "high")]
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(list(COLUMNS) + metric_keys + ci_keys)
        for r, ci in zip(rows, cis):
            bounds = [None if ci[f"{name}_ci"] is None else ci[f"{name}_ci"][j]
                      for name in ("asr", "robust_accuracy") for j in (0, 1)]
            writer.writerow(final([r[c] for c in COLUMNS] + [r["metrics"].get(k) for k in metric_keys] + bounds))
        return buf.getvalue()
    raise ValueError(f"format: expected 'csv' or 'json', got {fmt!r}")
