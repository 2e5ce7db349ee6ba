"""An index on disk: a folder of memory-mapped vectors, crop records in SQLite, and index.json.

index.json is the commit point: it names the generation of the data files and how many of their
rows count. Rows past that count are work in progress, never read: a build or an append killed
midway (even by kill -9) leaves the previous index as it was, and build.json, written after each
chunk, lets a rerun of the same command continue where it stopped. A new build writes a new
generation beside the old one and switches index.json to it when done.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import WordspotError
from .files import atomic_write_text

FORMAT = 3  # 3: a folder (vectors, SQLite records, index.json); 2 and 1 were single .npz files
META, JOB, LOCK, MANIFEST = "index.json", "build.json", ".lock", "manifest.json"
DTYPES = ("float32", "float16")
REBUILD = "build it again with `wordspot index`"
SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (id INTEGER PRIMARY KEY, path TEXT NOT NULL, page TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS crops (id INTEGER PRIMARY KEY, source INTEGER NOT NULL,
                                  x1 INTEGER, y1 INTEGER, x2 INTEGER, y2 INTEGER, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS crops_by_source ON crops (source);
"""


@dataclass(frozen=True)
class Crop:
    """A word on a page: the whole image at `source` when `box` is None."""

    source: str
    page: str
    box: tuple[int, int, int, int] | None = None  # x1, y1, x2, y2
    text: str = ""


class IndexFileError(WordspotError):
    """An index that cannot be used as asked (missing, damaged, or made by another model)."""


def _vectors_file(gen: int) -> str:
    return f"vectors-{gen}.bin"


def _records_file(gen: int) -> str:
    return f"crops-{gen}.sqlite"


MAX_JSON = 16 * 2**20  # index.json, build.json, manifest.json: kilobytes when wordspot wrote them


def _small_json(path: Path) -> object:
    """A JSON file of wordspot's, refused unread when larger than any it writes."""
    if path.stat().st_size > MAX_JSON:
        raise ValueError(f"{path.name} of {path.stat().st_size:,} bytes")
    return json.loads(path.read_text(encoding="utf-8"))


def is_old_index_file(path: Path) -> bool:
    """A single-file index of format 1 or 2 (an .npz archive)."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as z:
            if z.getinfo("meta.npy").file_size > MAX_JSON:  # its header only: never decompressed if large
                return False
        with np.load(path, allow_pickle=False) as z:
            return json.loads(str(z["meta"])).get("kind") == "wordspot-index"
    except Exception:  # anything unreadable is not an index
        return False


def is_index(path: str | Path) -> bool:
    """Whether `path` holds a wordspot index of any format (safe to replace), or an unfinished build."""
    path = Path(path)
    if path.is_dir():
        return (path / META).is_file() or (path / JOB).is_file()
    return path.is_file() and is_old_index_file(path)


def read_meta(path: Path) -> dict:
    """index.json of the index folder `path`, checked; IndexFileError says what is wrong."""
    if path.is_file() and is_old_index_file(path):
        raise IndexFileError(f"{path}: an index in an older format (one file); {REBUILD}")
    if not path.exists():
        raise IndexFileError(f"{path}: no such index")
    if not path.is_dir() or not (path / META).is_file():
        if path.is_dir() and (path / JOB).is_file():
            raise IndexFileError(f"{path}: the index was never finished: rerun the `wordspot index` command "
                                 f"that started it (it continues where it stopped)")
        raise IndexFileError(f"{path}: not a wordspot index (made by `wordspot index --out`)")
    try:
        meta = _small_json(path / META)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise IndexFileError(f"{path}: damaged index ({META} unreadable: {type(e).__name__}); {REBUILD}") from None
    if not isinstance(meta, dict) or meta.get("kind") != "wordspot-index":
        raise IndexFileError(f"{path}: not a wordspot index")
    if meta.get("format") != FORMAT:
        raise IndexFileError(f"{path}: index format {meta.get('format')}, this wordspot reads {FORMAT}: {REBUILD}")
    ok = (all(isinstance(meta.get(k), int) and not isinstance(meta.get(k), bool) for k in ("count", "dim", "generation"))
          and meta["count"] >= 0 and meta["dim"] >= 1 and meta.get("dtype") in DTYPES
          and isinstance(meta.get("model_id"), str) and isinstance(meta.get("model_path", ""), str))
    if not ok:
        raise IndexFileError(f"{path}: damaged index ({META} lacks or mangles count, dim, dtype or model_id); {REBUILD}")
    return meta


def _box(row) -> tuple[int, int, int, int] | None:
    if all(v is None for v in row):
        return None
    if not all(isinstance(v, int) for v in row) or row[2] <= row[0] or row[3] <= row[1]:
        raise ValueError("bad box")
    return tuple(row)


def check_model(dim: int, model_id: str, emb) -> None:
    """Refuse to search an index with a model other than the one that built it."""
    if emb.model_id() != model_id:  # first: another model's index is not a damaged one
        raise IndexFileError(f"this index was made by another model ({model_id}), not by the given model "
                             f"{emb.model_id()}: re-index with this model or query with the one that built it")
    if dim != emb.dim:
        raise IndexFileError(f"damaged index: its vectors have {dim} dimensions, the model's {emb.dim}: {REBUILD}")


class IndexStore:
    """A committed index, opened read-only: vectors memory-mapped, crop records read when asked for.

    Safe to share between threads (the server's); the records connection is used under a lock.
    """

    def __init__(self, path: str | Path, root: str | Path | None = None) -> None:
        self.path = Path(path)
        self.meta = meta = read_meta(self.path)
        # the folder the collection was indexed from, and where it is now (`root`): a moved collection
        self.old_root = meta.get("root") if isinstance(meta.get("root"), str) else ""
        self.new_root = os.path.abspath(root) if root else ""
        if self.new_root and not self.old_root:
            raise IndexFileError(f"{self.path}: the index does not record the folder it was built from (an index "
                                 f"of an older wordspot): --root cannot move it; build it again where the files are")
        self.count, self.dim, self.dtype = meta["count"], meta["dim"], np.dtype(meta["dtype"])
        self.model_id, self.model_path = meta["model_id"], meta.get("model_path", "")
        self.method = meta.get("method", "")
        gen = meta["generation"]
        vec, rec = self.path / _vectors_file(gen), self.path / _records_file(gen)
        need = self.count * self.dim * self.dtype.itemsize
        if not vec.is_file() or vec.stat().st_size < need or not rec.is_file():
            raise IndexFileError(f"{self.path}: damaged index ({vec.name} or {rec.name} missing or short); {REBUILD}")
        self.vectors = (np.memmap(vec, self.dtype, "r", shape=(self.count, self.dim)) if self.count
                        else np.zeros((0, self.dim), self.dtype))
        try:
            self._db = sqlite3.connect(f"{rec.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            self._db.execute("SELECT count(*) FROM crops").fetchone()
        except sqlite3.Error as e:
            raise IndexFileError(f"{self.path}: damaged index ({rec.name}: {e}); {REBUILD}") from None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.count

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise IndexFileError(f"{self.path}: damaged index (crop records: {e}); {REBUILD}") from None

    def crops_at(self, ids: list[int]) -> list:
        """The crop records of rows `ids`, in that order."""
        ids = [int(i) for i in ids]
        found: dict[int, object] = {}
        for start in range(0, len(ids), 500):  # SQLite caps the number of parameters
            part = ids[start:start + 500]
            rows = self._rows("SELECT c.id, s.path, s.page, c.x1, c.y1, c.x2, c.y2, c.text FROM crops c "
                              f"JOIN sources s ON s.id = c.source WHERE c.id IN ({','.join('?' * len(part))})",
                              tuple(part))
            for r in rows:
                try:
                    found[r[0]] = Crop(self._moved(str(r[1])), str(r[2]), _box(r[3:7]), str(r[7]))
                except ValueError:
                    raise IndexFileError(f"{self.path}: damaged index (crop record {r[0]} is malformed); "
                                         f"{REBUILD}") from None
        missing = [i for i in ids if i not in found]
        if missing:
            raise IndexFileError(f"{self.path}: damaged index (no crop record for row {missing[0]}); {REBUILD}")
        return [found[i] for i in ids]

    def _moved(self, source: str, back: bool = False) -> str:
        """A recorded path where the collection is now (`back`: a path now -> as recorded)."""
        if not self.new_root:
            return source
        old, new = (self.new_root, self.old_root) if back else (self.old_root, self.new_root)
        if source == old or source.startswith(old.rstrip(os.sep) + os.sep):
            return os.path.join(new, os.path.relpath(source, old))
        return source

    @property
    def crops(self) -> list:
        """Every crop record (reads them all: for evaluation and small indexes)."""
        return self.crops_at(list(range(self.count)))

    def sources(self, limit: int) -> list[tuple[int, str]]:
        """(id, path) of the page images the committed rows come from, at most `limit`, by id."""
        rows = self._rows("SELECT DISTINCT s.id, s.path FROM sources s JOIN crops c ON c.source = s.id "
                          "WHERE c.id < ? ORDER BY s.id LIMIT ?", (self.count, limit))
        return [(int(i), self._moved(str(p))) for i, p in rows]

    def source(self, source_id: int) -> str | None:
        """The path of one page image by its id, if a committed row comes from it."""
        rows = self._rows("SELECT s.path FROM sources s JOIN crops c ON c.source = s.id WHERE s.id = ? AND c.id < ? "
                          "LIMIT 1", (int(source_id), self.count))
        return self._moved(str(rows[0][0])) if rows else None

    def source_ids(self, ids: list[int]) -> list[int]:
        """The page image id of each of rows `ids`."""
        found = dict(self._rows(f"SELECT id, source FROM crops WHERE id IN ({','.join('?' * len(ids))})",
                                tuple(int(i) for i in ids))) if ids else {}
        return [int(found[int(i)]) for i in ids]

    def find(self, source: str | Path, box: tuple[int, int, int, int] | None) -> int | None:
        """The row of the crop cut from `source` at `box` (the whole image when None), if indexed."""
        path = self._moved(os.path.abspath(source), back=True)
        cond = " AND ".join(f"c.{k} IS ?" for k in ("x1", "y1", "x2", "y2"))
        rows = self._rows(f"SELECT c.id FROM crops c JOIN sources s ON s.id = c.source WHERE s.path = ? AND {cond} "
                          f"AND c.id < ? ORDER BY c.id LIMIT 1", (path, *(box or (None,) * 4), self.count))
        return rows[0][0] if rows else None

    def check_model(self, emb) -> None:
        check_model(self.dim, self.model_id, emb)

    def close(self) -> None:
        self._db.close()


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
            if kind in ("vectors", "crops", "ann-qbs", "ann-qbe") and gen.isdigit() and int(gen) not in keep:
                f.unlink(missing_ok=True)

    def existing(self, source: str) -> set:
        """Boxes of `source` already in the committed index (None for a whole image): an append skips them."""
        sid = self._sources.get(os.path.abspath(source))
        if sid is None:
            return set()
        rows = self._db.execute("SELECT x1, y1, x2, y2 FROM crops WHERE source = ? AND id < ?", (sid, self.base))
        return {_box(r) for r in rows}

    def add(self, vectors: np.ndarray, crops: list, done: int) -> None:
        """Write one chunk: `vectors` (n, dim) of `crops`; `done` of the job's crops are now dealt with."""
        vectors = np.asarray(vectors)
        if vectors.shape != (len(crops), self.dim):
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


def read_manifest(folder: Path) -> dict | None:
    """The manifest of an archive indexed as shards (distributed.py), checked; None when there is none."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        m = _small_json(path)
        ok = (m.get("kind") == "wordspot-archive" and isinstance(m.get("shards"), list)
              and all(isinstance(s, dict) and isinstance(s.get("name"), str) and "/" not in s["name"]
                      and "\\" not in s["name"] and s["name"] not in ("", ".", "..") and isinstance(s.get("job"), str)
                      for s in m["shards"]))
    except (OSError, ValueError, AttributeError):
        ok = False
    if not ok:
        raise IndexFileError(f"{path}: damaged archive manifest; rerun the `wordspot index` command that made it")
    return m


def open_shards(paths: list[str | Path], root: str | Path | None = None) -> list[IndexStore]:
    """Index folders to search as one collection; a folder holding index folders gives all of them
    (those its manifest names, in its order, when it has one)."""
    out = []
    for p in map(Path, paths):
        manifest = read_manifest(p) if p.is_dir() and not is_index(p) else None
        if manifest is not None:
            inner = [p / s["name"] for s in manifest["shards"]]
        else:
            inner = sorted(d for d in p.iterdir() if d.is_dir() and is_index(d)) if p.is_dir() and not is_index(p) else []
        done = [d for d in inner if (d / META).is_file()]
        if len(done) < len(inner):  # a shard still being built (or killed): the others are searched
            warnings.warn(f"{p}: {len(inner) - len(done)} unfinished shard(s) left out "
                          f"({', '.join(d.name for d in inner if d not in done)[:200]}); rerun their "
                          f"`wordspot index` command to finish them", UserWarning, stacklevel=2)
            if not done:
                raise IndexFileError(f"{p}: no finished index among its {len(inner)} shard(s)")
        out += [IndexStore(d, root) for d in done] if inner else [IndexStore(p, root)]
    return out
