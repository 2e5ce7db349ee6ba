"""Approximate search behind one small interface (`Approximate`), its backends registered by name.

An approximate index proposes candidates; `exact.rank` re-ranks them on the stored vectors, so a backend changes
which crops are found, never their order or distances. faiss is the one backend (faiss_ivf.py); another library
is a module with an `Approximate` subclass and one line in `BACKENDS`.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

import numpy as np

from wordspot.errors import WordspotError
from wordspot.search.exact import CHUNK

ANN_MIN = 200_000  # `wordspot index` builds an approximate index by itself from this many crops
RECALL = 0.97  # the recall@10 against exact search the approximate index is tuned to reach
ANN_PREFIX = "ann-"  # an approximate index's file: ann-<kind>-<generation>.<suffix>, beside the index's data
# name -> "module:class"; imported only when an index uses it
BACKENDS = {"faiss": "wordspot.search.faiss_ivf:FaissIVF"}
DEFAULT = "faiss"

__all__ = ["ANN_MIN", "ANN_PREFIX", "Approximate", "BACKENDS", "CHUNK", "RECALL", "backend_class",
           "build_approximate", "describe", "load_approximate"]


class Approximate:
    """One ranking's approximate index over an index's vectors, in that ranking's search form."""

    name = ""
    suffix = ""  # of its file

    @classmethod
    def build(cls, emb, vectors: np.ndarray, kind: str, seed: int = 0) -> "Approximate":
        raise NotImplementedError

    def candidates(self, emb, queries: np.ndarray, kind: str, n: int) -> np.ndarray:
        """(Q, n) row ids of candidates per query (-1 where fewer were found)."""
        raise NotImplementedError

    def tune(self, emb, vectors: np.ndarray, queries: np.ndarray, kind: str, k: int = 10,
             target: float = RECALL) -> float:
        """Trade speed for recall@k against exact search until `target`; returns the recall reached."""
        raise NotImplementedError

    def save(self, path: Path) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, path: Path, info: dict, rows: int) -> "Approximate":
        """Read one back, checking it indexes `rows` vectors as `info` (its index.json entry) says."""
        raise NotImplementedError

    def describe(self) -> dict:
        """What index.json records of it, besides its file, backend and recall."""
        return {}


def backend_class(name: str) -> type[Approximate]:
    if name not in BACKENDS:
        raise WordspotError(f"unknown approximate search backend {name!r} (this wordspot has: {', '.join(BACKENDS)})")
    module, cls = BACKENDS[name].split(":")
    return getattr(import_module(module), cls)


def build_approximate(emb, folder: Path, gen: int, vectors: np.ndarray, seed: int = 0,
                      sample: int = 300, backend: str = DEFAULT) -> dict:
    """Approximate indexes for the rankings of `emb` over `vectors`, written beside the index's
    data files; returns what index.json says of them (file, nprobe, recall@10 against exact)."""
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False))
    out = {}
    for kind in emb.search_kinds():
        ann = backend_class(backend).build(emb, vectors, kind, seed)
        recall = ann.tune(emb, vectors, emb.probe_queries(kind, np.asarray(vectors[picks], np.float32)), kind)
        name = f"{ANN_PREFIX}{kind}-{gen}.{ann.suffix}"
        ann.save(folder / name)
        out[kind] = {"file": name, "backend": ann.name, **ann.describe(), "recall_at_10": round(recall, 4),
                     "queries": len(picks)}
    return out


def load_approximate(path: Path, info: dict, rows: int) -> Approximate:
    """The approximate index an index.json entry names (written before backends had names: faiss)."""
    return backend_class(info.get("backend", "faiss")).load(path, info, rows)


def describe(info: dict) -> str:
    return "; ".join(f"{kind}: {v['nlist']} lists, nprobe {v['nprobe']}, recall@10 {v['recall_at_10']:.3f} "
                     f"against exact search ({v['queries']} sample queries)" for kind, v in info.items())
