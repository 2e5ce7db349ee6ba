"""The faiss backend of approximate search: an inverted-file index (IVF-Flat, or IVF-PQ when large)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from wordspot.errors import WordspotError
from wordspot.files import atomic_path
from wordspot.search.backend import CHUNK, RECALL, Approximate
from wordspot.search.exact import candidates, rank


def _pad(x: np.ndarray, width: int) -> np.ndarray:
    return np.ascontiguousarray(np.pad(x, ((0, 0), (0, width - x.shape[1]))) if x.shape[1] < width else x,
                                dtype=np.float32)


class FaissIVF(Approximate):
    """A faiss inverted-file index over one ranking's search form: candidates for `rank`.

    Below 20,000 rows its lists hold the vectors (IVF-Flat); above, 4-dimension product-quantised
    codes (IVF-PQ, 32 bytes a 128-d vector), since `rank` re-ranks the candidates on the stored
    vectors anyway.
    """

    name = "faiss"
    suffix = "faiss"

    def __init__(self, index, metric: str, width: int, nprobe: int) -> None:
        self.index, self.metric, self.width = index, metric, width
        self.index.nprobe = nprobe

    @classmethod
    def build(cls, emb, vectors: np.ndarray, kind: str, seed: int = 0) -> "FaissIVF":
        import faiss  # only indexes that use it pay for importing it

        metric, image_form, _ = emb.search_form(kind)
        n = len(vectors)
        first = image_form(np.asarray(vectors[:1], np.float32))
        width = 8 * math.ceil(first.shape[1] / 8)
        fmetric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        nlist = max(1, min(int(4 * math.sqrt(n)), n // 39))
        quantizer = faiss.IndexFlat(width, fmetric)
        if n < 20_000:
            index = faiss.IndexIVFFlat(quantizer, width, nlist, fmetric)
        else:
            index = faiss.IndexIVFPQ(quantizer, width, nlist, width // 4, 8, fmetric)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, max(100 * nlist, 50_000)), replace=False))
        index.train(_pad(image_form(np.asarray(vectors[sample], np.float32)), width))
        for start in range(0, n, CHUNK):
            index.add(_pad(image_form(np.asarray(vectors[start:start + CHUNK], np.float32)), width))
        quantizer.this.disown()  # the IVF index owns its quantizer from here on
        index.own_fields = True
        return cls(index, metric, width, 1)

    def candidates(self, emb, queries: np.ndarray, kind: str, n: int) -> np.ndarray:
        _, _, query_form = emb.search_form(kind)
        qt = _pad(query_form(np.asarray(queries, np.float32)), self.width)
        _, ids = self.index.search(qt, n)
        return ids

    def tune(self, emb, vectors: np.ndarray, queries: np.ndarray, kind: str, k: int = 10,
             target: float = RECALL) -> float:
        """Raise nprobe until recall@k against exact search reaches `target` on `queries`;
        returns the recall reached."""
        exact = [{r for r, _ in rank(emb, vectors, q, c, kind, k)}
                 for q, c in zip(queries, candidates(emb, vectors, queries, kind, 4 * k + 32))]
        nprobe, nlist = 1, self.index.nlist
        while True:
            self.index.nprobe = nprobe
            found = self.candidates(emb, queries, kind, 4 * k + 32)
            hits = [len(e & {r for r, _ in rank(emb, vectors, q, f[f >= 0], kind, k)}) / max(1, len(e))
                    for q, f, e in zip(queries, found, exact)]
            recall = float(np.mean(hits))
            if recall >= target or nprobe >= nlist:
                return recall
            nprobe = min(nlist, 2 * nprobe)

    def save(self, path: Path) -> None:
        import faiss
        with atomic_path(path) as tmp:
            faiss.write_index(self.index, str(tmp))

    @classmethod
    def load(cls, path: Path, info: dict, rows: int) -> "FaissIVF":
        """Read an approximate index of `rows` vectors. faiss parses the file itself, so wordspot
        first bounds its size by what such an index can hold (the vectors in float32, the lists'
        ids, the centroids), and afterwards checks that it indexes those rows at that width."""
        import faiss
        try:
            width, nlist = int(info["width"]), int(info.get("nlist", 0))
            bound = (rows * (width * 4 + 8) + (nlist + 1) * width * 4) * 2 + 2**24
            if not path.is_file() or path.stat().st_size > bound:
                raise RuntimeError("missing, or larger than an index of its vectors can be")
            index = faiss.read_index(str(path))
            if index.ntotal != rows or index.d != width:
                raise RuntimeError(f"it holds {index.ntotal} vectors of {index.d}, not {rows} of {width}")
        except (RuntimeError, KeyError, TypeError, ValueError) as e:
            raise WordspotError(f"{path}: damaged approximate index ({str(e).splitlines()[0][:80]}); build it "
                                f"again with `wordspot index --ann`, or search with --exact") from None
        return cls(index, info["metric"], width, info["nprobe"])

    def describe(self) -> dict:
        return {"metric": self.metric, "width": self.width, "nlist": int(self.index.nlist),
                "nprobe": int(self.index.nprobe)}
