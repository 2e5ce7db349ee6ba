"""Writing an index folder: a chunk at a time, committed by one rename of index.json (store.py
says the layout), resumable after a crash, one writer at a time."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np

from wordspot.errors import WordspotError
from wordspot.files import atomic_write_text
from wordspot.index.store import (
    DTYPES,
    FORMAT,
    JOB,
    LOCK,
    META,
    REBUILD,
    SCHEMA,
    IndexFileError,
    _box,
    _records_file,
    _small_json,
    _vectors_file,
    is_index,
    is_old_index_file,
    read_meta,
)
from wordspot.search.backend import ANN_PREFIX


def check_target(path: Path, append: bool = False) -> None:
    """Refuse to write an index where something else is (a file or a folder that is not an index),
    or to append to an index of the older single-file format."""
    if path.is_file():
        if not is_old_index_file(path):
            raise WordspotError(f"{path}: exists and is not a wordspot index; not overwritten")
        if append:
            raise IndexFileError(f"{path}: an index in an older format (one file) cannot be appended to; {REBUILD}")
    elif path.is_dir() and any(path.iterdir()) and not is_index(path):
        raise WordspotError(f"{path}: a folder that is not a wordspot index; not overwritten")


class IndexWriter:
    """Adds crops to an index folder chunk by chunk; `commit` makes them count.

    `done` says how many of this job's crops an earlier, interrupted run of the same job (same
    `fingerprint`) already wrote: the caller skips them. Holds the folder's lock until closed, so
    two writers of one index wait for each other.
    """

    def __init__(self, path: str | Path, *, model_id: str, dim: int, fingerprint: str, method: str = "",
                 model_path: str = "", dtype: str = "float32", append: bool = False) -> None:
        self.path = path = Path(path)
        if dtype not in DTYPES:
            raise WordspotError(f"vector type {dtype!r}: use one of {', '.join(DTYPES)}")
        check_target(path, append)
        if path.is_file():
            path.unlink()  # an old index this wordspot cannot read: replaced, as a new build would
        self._created = not path.exists()  # removed again if the job ends with nothing written
        self._committed = False
        path.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(path / LOCK, "a")
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            self._open(model_id, dim, fingerprint, method, model_path, dtype, append)
        except BaseException:
            self.close()
            raise

    def _open(self, model_id, dim, fingerprint, method, model_path, dtype, append) -> None:
        path = self.path
        committed = read_meta(path) if (path / META).is_file() else None
        self.had_ann = bool(committed and committed.get("ann"))
        if append and committed:
            if committed["model_id"] != model_id:
                raise IndexFileError(f"cannot append to {path}: it was built by model {committed['model_id']}, "
                                     f"the new crops by {model_id}")
            gen, base, dtype = committed["generation"], committed["count"], committed["dtype"]
        else:
            gen, base = (committed["generation"] + 1 if committed else 1), 0
        job = self._read_job()
        resume = bool(job) and (job["fingerprint"], job["generation"], job["base"]) == (fingerprint, gen, base)
        self.gen, self.base, self.dtype, self.dim = gen, base, np.dtype(dtype), dim
        self.rows = job["rows"] if resume else 0  # rows written by this job
        self.done = job["done"] if resume else 0  # the job's crops dealt with (written or skipped)
        self.meta = {"kind": "wordspot-index", "format": FORMAT, "model_id": model_id, "model_path": model_path,
                     "method": method, "dim": dim, "dtype": str(self.dtype), "generation": gen}
        self.fingerprint = fingerprint
        # the folder every source is in (an append starts from the index's, a resumed job from build.json)
        self.root = committed.get("root", "") if append and committed else ""
        if resume and isinstance(job.get("root"), str):
            self.root = job["root"]
        keep = {committed["generation"]} if committed else set()
        self._remove_generations(keep | ({gen} if resume else set()))  # left by a job that was not this one
        self._vec = open(path / _vectors_file(gen), "a+b")
        self._vec.truncate((base + self.rows) * dim * self.dtype.itemsize)  # drop a half-written chunk
        self._db = sqlite3.connect(path / _records_file(gen))
        self._db.executescript(SCHEMA)
        self._db.execute("DELETE FROM crops WHERE id >= ?", (base + self.rows,))
        self._db.execute("DELETE FROM readings WHERE id >= ?", (base + self.rows,))
        self._db.commit()
        self._sources = {p: i for i, p in self._db.execute("SELECT id, path FROM sources")}
        self._write_job()

    def _read_job(self) -> dict | None:
        try:
            job = _small_json(self.path / JOB)
            ok = isinstance(job, dict) and isinstance(job.get("fingerprint"), str) and all(
                isinstance(job.get(k), int) for k in ("generation", "base", "rows", "done"))
            return job if ok else None
        except (OSError, ValueError):
            return None

    def _write_job(self) -> None:
        atomic_write_text(self.path / JOB, json.dumps({"fingerprint": self.fingerprint, "generation": self.gen,
                                                       "base": self.base, "rows": self.rows, "done": self.done,
                                                       "root": getattr(self, "root", "")}))

    def _remove_generations(self, keep: set[int]) -> None:
        for f in self.path.iterdir():
            stem = f.name.split(".")[0]
            kind, _, gen = stem.rpartition("-")
            ours = kind in ("vectors", "crops") or kind.startswith(ANN_PREFIX)
            if ours and gen.isdigit() and int(gen) not in keep:
                f.unlink(missing_ok=True)

    def existing(self, source: str) -> set:
        """Boxes of `source` already in the committed index (None for a whole image): an append skips them."""
        sid = self._sources.get(os.path.abspath(source))
        if sid is None:
            return set()
        rows = self._db.execute("SELECT x1, y1, x2, y2 FROM crops WHERE source = ? AND id < ?", (sid, self.base))
        return {_box(r) for r in rows}

    def add(self, vectors: np.ndarray, crops: list, done: int, readings: list[str] | None = None) -> None:
        """Write one chunk: `vectors` (n, dim) of `crops`, and what a reading model read in each; `done` of
        the job's crops are now dealt with."""
        vectors = np.asarray(vectors)
        if vectors.shape != (len(crops), self.dim) or (readings is not None and len(readings) != len(crops)):
            raise ValueError(f"{vectors.shape} vectors for {len(crops)} crops of dimension {self.dim}")
        if not np.isfinite(vectors).all():
            raise IndexFileError("the model gave NaN or infinite vectors; nothing of this chunk was written")
        first = self.base + self.rows
        self._vec.seek(first * self.dim * self.dtype.itemsize)
        self._vec.write(vectors.astype(self.dtype).tobytes())
        self._vec.flush()
        os.fsync(self._vec.fileno())
        rows = []
        for i, c in enumerate(crops):
            src = os.path.abspath(c.source)
            if src not in self._sources:
                self._sources[src] = self._db.execute("INSERT INTO sources (path, page) VALUES (?, ?)",
                                                      (src, c.page)).lastrowid
            box = tuple(int(v) for v in c.box) if c.box else (None,) * 4  # NumPy integers would be stored as bytes
            rows.append((first + i, self._sources[src], *box, str(c.text)))
        self._db.executemany("INSERT INTO crops VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        if readings is not None:
            self._db.executemany("INSERT INTO readings VALUES (?, ?)",
                                 [(first + i, str(t)) for i, t in enumerate(readings)])
        self._db.commit()
        folders = {os.path.dirname(os.path.abspath(c.source)) for c in crops}
        if folders:
            self.root = os.path.commonpath([*folders, *([self.root] if self.root else [])])
        self.rows += len(crops)
        self.done = done
        self._write_job()

    def vectors(self) -> np.ndarray:
        """Every row of the index as it will be once committed (memory-mapped)."""
        n = self.base + self.rows
        return (np.memmap(self._vec.name, self.dtype, "r", shape=(n, self.dim)) if n
                else np.zeros((0, self.dim), self.dtype))

    def commit(self, **extra: object) -> dict:
        """Make the written rows count (one atomic rename); `extra` goes into index.json too.
        Returns the new index.json."""
        meta = {**self.meta, **extra, "count": self.base + self.rows, **({"root": self.root} if self.root else {})}
        atomic_write_text(self.path / META, json.dumps(meta, indent=1))
        (self.path / JOB).unlink(missing_ok=True)
        self._remove_generations({self.gen})
        self._committed = True
        return meta

    def close(self) -> None:
        for name in ("_vec", "_db"):
            if hasattr(self, name):
                getattr(self, name).close()
        if self._created and not self._committed and not getattr(self, "rows", 0):
            shutil.rmtree(self.path, ignore_errors=True)  # a failed first job leaves no empty index behind
        fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._lock_file.close()

    def __enter__(self) -> "IndexWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
