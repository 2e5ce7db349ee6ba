"""Edit-radius search (`great~2`): the crops whose word is within r edits of a typed word. NumPy and
rapidfuzz only.

A reading model's index keeps what the model read in each crop (its best path). The crops whose reading is
within r edits of the query come first, fewest edits first; among as many edits, those whose reading keeps
more of the query's letters in order (`greatly` and `greater` keep all of `great`, `get` and `bread` three),
then the nearest in the model's Levenshtein-shaped space. That order was chosen on GW validation images
(`benchmarks/radius.py`). A model that does not read has only the space: its distance estimates the edits
(`exact.within`).
"""

from __future__ import annotations

import numpy as np
from rapidfuzz.distance import LCSseq, Levenshtein
from rapidfuzz.process import cdist


class ReadingsVocabulary:
    """The distinct readings of an index and the rows that hold each, built once per index."""

    def __init__(self, readings: list[str]) -> None:
        self.readings = readings
        rows_of: dict[str, list[int]] = {}
        for i, r in enumerate(readings):
            rows_of.setdefault(r, []).append(i)
        self.words = list(rows_of)
        self.rows = [np.asarray(rows_of[w], np.int64) for w in self.words]

    def near(self, word: str, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows whose reading is within `radius` edits of `word`: (rows, edits, dropped), dropped the
        letters of `word` the reading does not keep in order."""
        none = np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32)
        if not self.words:
            return none
        dist = cdist([word], self.words, scorer=Levenshtein.distance, score_cutoff=radius, dtype=np.int32)[0]
        near = np.flatnonzero(dist <= radius)
        if not len(near):
            return none
        rows = [self.rows[j] for j in near]
        edits = [np.full(len(r), dist[j], np.int32) for j, r in zip(near, rows)]
        dropped = [np.full(len(r), len(word) - LCSseq.similarity(word, self.words[j]), np.int32)
                   for j, r in zip(near, rows)]
        return np.concatenate(rows), np.concatenate(edits), np.concatenate(dropped)


def radius_order(edits: np.ndarray, dropped: np.ndarray, space: np.ndarray) -> np.ndarray:
    """The order of candidate rows: fewest edits of their readings, then fewest of the query's letters
    dropped, then nearest in the model's space."""
    return np.lexsort((space, dropped, edits))


def radius_ranks(queries: list[str], readings: list[str], space: np.ndarray) -> np.ndarray:
    """(Q, N): where each row stands in each query's edit-radius order (`radius_order`), for evaluation;
    `space` the (Q, N) distances in the model's space."""
    edits = cdist(queries, readings, scorer=Levenshtein.distance, dtype=np.int32)
    kept = cdist(queries, readings, scorer=LCSseq.similarity, dtype=np.int32)
    dropped = np.array([len(q) for q in queries], np.int32)[:, None] - kept
    out = np.empty(edits.shape)
    for i in range(len(queries)):
        out[i, radius_order(edits[i], dropped[i], space[i])] = np.arange(edits.shape[1])
    return out
