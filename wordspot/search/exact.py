"""Nearest crops to a query vector: exact search over the stored vectors, or approximate (faiss).

Every ranking wordspot uses is a linear search once the vectors are transformed
(`Embedder.search_form`): LSDE by Euclidean distance, PHOC's probabilistic ranking as the largest
inner product with a per-crop bias column, PHOC's QbE by the largest inner product of unit vectors.
Both searches first take candidates by that form in float32, then rank the candidates by the
model's own distance in float64, so their order and distances are those of `Embedder`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from wordspot.errors import WordspotError
from wordspot.files import atomic_path

CHUNK = 65536  # rows converted from the stored type at a time: bounds the memory of a cold search
ANN_MIN = 200_000  # `wordspot index` builds an approximate index by itself from this many crops
RECALL = 0.97  # the recall@10 against exact search the approximate index is tuned to reach


def _scores(metric: str, xt: np.ndarray, qt: np.ndarray, half_sq: np.ndarray | None = None) -> np.ndarray:
    """(n, d') transformed rows, (Q, d') transformed queries -> (Q, n) scores, higher is closer."""
    s = qt @ xt.T
    if metric == "l2":  # |q - x|^2 = |q|^2 - 2 (q.x - |x|^2 / 2): the order of q.x - |x|^2 / 2
        s -= (half_sq if half_sq is not None else 0.5 * (xt * xt).sum(1))[None, :]
    return s


def _top(scores: np.ndarray, ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The best `n` of (Q, m) scores of rows (Q, m) `ids`, unordered."""
    if scores.shape[1] <= n:
        return scores, ids
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    return np.take_along_axis(scores, part, 1), np.take_along_axis(ids, part, 1)


class Prepared:
    """An index's vectors in a search form, kept in memory for repeated queries (the server)."""

    def __init__(self, emb, vectors: np.ndarray, kind: str) -> None:
        self.metric, image_form, _ = emb.search_form(kind)
        parts = [image_form(np.asarray(vectors[i:i + CHUNK], np.float32)) for i in range(0, len(vectors), CHUNK)]
        self.xt = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 1), np.float32)
        self.half_sq = 0.5 * (self.xt * self.xt).sum(1) if self.metric == "l2" else None


def within(emb, vectors: np.ndarray, word_vector: np.ndarray, radius: float, k: int) -> list[tuple[int, float]]:
    """The best `k` rows whose vector lies within `radius` of a word's in the model's Levenshtein-
    shaped space (the LSDE part): (row, distance) pairs by distance, the distance an estimate of
    the edit distance. An exact scan, a chunk of rows at a time."""
    q = np.asarray(emb.ranking.space(word_vector[None, :], images=False), np.float64)
    found: list[tuple[float, int]] = []
    for start in range(0, len(vectors), CHUNK):
        part = np.asarray(emb.ranking.space(np.asarray(vectors[start:start + CHUNK], np.float32), images=True),
                          np.float64)
        d = np.sqrt(np.maximum(((part - q) ** 2).sum(1), 0.0))
        rows = np.flatnonzero(d <= radius)
        found += zip(d[rows].tolist(), (rows + start).tolist())
        found = sorted(found)[:k]
    return [(r, d) for d, r in found]


def candidates(emb, vectors: np.ndarray, queries: np.ndarray, kind: str, n: int,
               prepared: Prepared | None = None) -> np.ndarray:
    """(Q, <=n) row ids of the best `n` rows by the search form, exactly, for each query."""
    metric, image_form, query_form = emb.search_form(kind)
    qt = query_form(np.asarray(queries, np.float32)).astype(np.float32)
    if prepared is not None:
        s = _scores(metric, prepared.xt, qt, prepared.half_sq)
        return _top(s, np.broadcast_to(np.arange(s.shape[1]), s.shape), n)[1]
    best_s = np.zeros((len(qt), 0), np.float32)
    best_i = np.zeros((len(qt), 0), np.int64)
    for start in range(0, len(vectors), CHUNK):
        xt = image_form(np.asarray(vectors[start:start + CHUNK], np.float32)).astype(np.float32)
        s = _scores(metric, xt, qt)
        best_s = np.concatenate([best_s, s], 1)
        best_i = np.concatenate([best_i, np.broadcast_to(np.arange(start, start + len(xt)), s.shape)], 1)
        best_s, best_i = _top(best_s, best_i, n)
    return best_i


def rank(emb, vectors: np.ndarray, query: np.ndarray, ids: np.ndarray, kind: str, k: int,
         skip: int | None = None) -> list[tuple[int, float]]:
    """The best `k` of candidate rows `ids` by the model's own distance: (row, distance) pairs,
    ties in row order."""
    ids = np.unique(np.asarray(ids, np.int64))  # sorted: ties keep collection order
    if skip is not None:
        ids = ids[ids != skip]
    if not len(ids):
        return []
    dist_fn = emb.string_distances if kind == "qbs" else emb.image_distances
    d = dist_fn(np.asarray(query, np.float32)[None, :], np.asarray(vectors[ids], np.float32))[0]
    if not np.isfinite(d).all():
        raise WordspotError("damaged index: some stored vectors give no finite distance; build it again "
                            "with `wordspot index`")
    order = np.argsort(d, kind="stable")[:k]
    return [(int(ids[i]), float(d[i])) for i in order]


# ---- approximate search ----------------------------------------------------------------------------
def _pad(x: np.ndarray, width: int) -> np.ndarray:
    return np.ascontiguousarray(np.pad(x, ((0, 0), (0, width - x.shape[1]))) if x.shape[1] < width else x,
                                dtype=np.float32)


class Approximate:
    """A faiss inverted-file index over one ranking's search form: candidates for `rank`.

    Below 20,000 rows its lists hold the vectors (IVF-Flat); above, 4-dimension product-quantised
    codes (IVF-PQ, 32 bytes a 128-d vector), since `rank` re-ranks the candidates on the stored
    vectors anyway.
    """

    def __init__(self, index, metric: str, width: int, nprobe: int) -> None:
        self.index, self.metric, self.width = index, metric, width
        self.index.nprobe = nprobe

    @classmethod
    def build(cls, emb, vectors: np.ndarray, kind: str, seed: int = 0) -> "Approximate":
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
    def load(cls, path: Path, info: dict, rows: int) -> "Approximate":
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


def build_approximate(emb, folder: Path, gen: int, vectors: np.ndarray, seed: int = 0,
                      sample: int = 300) -> dict:
    """Approximate indexes for the rankings of `emb` over `vectors`, written beside the index's
    data files; returns what index.json says of them (file, nprobe, recall@10 against exact)."""
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False))
    out = {}
    for kind in emb.search_kinds():
        ann = Approximate.build(emb, vectors, kind, seed)
        recall = ann.tune(emb, vectors, emb.probe_queries(kind, np.asarray(vectors[picks], np.float32)), kind)
        name = f"ann-{kind}-{gen}.faiss"
        ann.save(folder / name)
        out[kind] = {"file": name, "metric": ann.metric, "width": ann.width, "nlist": int(ann.index.nlist),
                     "nprobe": int(ann.index.nprobe), "recall_at_10": round(recall, 4), "queries": len(picks)}
    return out


def describe(info: dict) -> str:
    return "; ".join(f"{kind}: {v['nlist']} lists, nprobe {v['nprobe']}, recall@10 {v['recall_at_10']:.3f} "
                     f"against exact search ({v['queries']} sample queries)" for kind, v in info.items())
