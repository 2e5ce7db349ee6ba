"""An index on disk: a folder of memory-mapped vectors, crop records in SQLite, and index.json.

index.json is the commit point: it names the generation of the data files and how many of their
rows count. Rows past that count are work in progress, never read: a build or an append killed
midway (even by kill -9) leaves the previous index as it was, and build.json, written after each
chunk, lets a rerun of the same command continue where it stopped. A new build writes a new
generation beside the old one and switches index.json to it when done.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import warnings
from pathlib import Path

import numpy as np

from wordspot.data.sample import Crop
from wordspot.errors import WordspotError

FORMAT = 3  # 3: a folder (vectors, SQLite records, index.json); 2 and 1 were single .npz files
META, JOB, LOCK, MANIFEST = "index.json", "build.json", ".lock", "manifest.json"
DTYPES = ("float32", "float16")
REBUILD = "build it again with `wordspot index`"
SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (id INTEGER PRIMARY KEY, path TEXT NOT NULL, page TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS crops (id INTEGER PRIMARY KEY, source INTEGER NOT NULL,
                                  x1 INTEGER, y1 INTEGER, x2 INTEGER, y2 INTEGER, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS crops_by_source ON crops (source);
CREATE TABLE IF NOT EXISTS readings (id INTEGER PRIMARY KEY, text TEXT NOT NULL);
"""  # readings: what a reading model read in each crop (indexes of older wordspots and other models have none)


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

    def crop_readings(self) -> list[str] | None:
        """What the model read in each committed row (a reading model's index), else None; also None when
        some rows have none (crops appended to an index of an older wordspot)."""
        if not self._rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'readings'"):
            return None
        rows = self._rows("SELECT id, text FROM readings WHERE id < ? ORDER BY id", (self.count,))
        if len(rows) != self.count:
            return None
        return [str(t) for _, t in rows]

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
