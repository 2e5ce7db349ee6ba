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

from wordspot.search.readings import Vocabulary


class ReadingsVocabulary:
    """The readings of an index's crops, their distinct words looked up at once (built once per index)."""

    def __init__(self, readings: list[str]) -> None:
        self.readings = readings
        self.vocabulary = Vocabulary([r] for r in readings)

    def near(self, word: str, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows whose reading is within `radius` edits of `word`: (rows, edits, dropped), dropped the
        letters of `word` the reading does not keep in order."""
        rows, edits, which = self.vocabulary.near(word, radius)
        kept = {j: LCSseq.similarity(word, self.vocabulary.words[j]) for j in np.unique(which).tolist()}
        dropped = np.asarray([len(word) - kept[j] for j in which.tolist()], np.int32)
        return rows, edits, dropped


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
