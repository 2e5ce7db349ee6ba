"""Nearest crops to a query vector by exact search over the stored vectors (approximate search: backend.py).

Every ranking wordspot uses is a linear search once the vectors are transformed
(`Embedder.search_form`): LSDE by Euclidean distance, PHOC's probabilistic ranking as the largest
inner product with a per-crop bias column, PHOC's QbE by the largest inner product of unit vectors.
Both searches first take candidates by that form in float32, then rank the candidates by the
model's own distance in float64, so their order and distances are those of `Embedder`.
"""

from __future__ import annotations

import numpy as np

from wordspot.errors import WordspotError

CHUNK = 65536  # rows converted from the stored type at a time: bounds the memory of a cold search


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


def _in_space(emb, word_vector: np.ndarray):
    """A word's vector in the model's Levenshtein-shaped space (the LSDE part), and the distances of index
    rows from it there: estimates of their edit distance."""
    q = np.asarray(emb.ranking.space(word_vector[None, :], images=False), np.float64)

    def distances(part: np.ndarray) -> np.ndarray:
        x = np.asarray(emb.ranking.space(np.asarray(part, np.float32), images=True), np.float64)
        return np.sqrt(np.maximum(((x - q) ** 2).sum(1), 0.0))
    return distances


def space_distances(emb, vectors: np.ndarray, word_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The distances of rows `rows` from a word's vector in the model's Levenshtein-shaped space."""
    order = np.argsort(rows, kind="stable")  # a memory-mapped index reads rows in order
    out = np.empty(len(rows))
    out[order] = _in_space(emb, word_vector)(vectors[rows[order]])
    return out


def within(emb, vectors: np.ndarray, word_vector: np.ndarray, radius: float, k: int) -> list[tuple[int, float]]:
    """The best `k` rows whose vector lies within `radius` of a word's in the model's Levenshtein-
    shaped space (the LSDE part): (row, distance) pairs by distance, the distance an estimate of
    the edit distance. An exact scan, a chunk of rows at a time."""
    distances = _in_space(emb, word_vector)
    found: list[tuple[float, int]] = []
    for start in range(0, len(vectors), CHUNK):
        d = distances(vectors[start:start + CHUNK])
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
         skip: int | None = None, reading: str | None = None) -> list[tuple[int, float]]:
    """The best `k` of candidate rows `ids` by the model's own distance: (row, distance) pairs,
    ties in row order. `reading`: what the model read in a QbE example (`Rankings.example_distances`)."""
    ids = np.unique(np.asarray(ids, np.int64))  # sorted: ties keep collection order
    if skip is not None:
        ids = ids[ids != skip]
    if not len(ids):
        return []
    q, x = np.asarray(query, np.float32)[None, :], np.asarray(vectors[ids], np.float32)
    d = (emb.string_distances(q, x) if kind == "qbs"
         else emb.example_distances(q, x, None if reading is None else [reading]))[0]
    if not np.isfinite(d).all():
        raise WordspotError("damaged index: some stored vectors give no finite distance; build it again "
                            "with `wordspot index`")
    order = np.argsort(d, kind="stable")[:k]
    return [(int(ids[i]), float(d[i])) for i in order]
