"""Which lines of a line index to read closely for a keyword. NumPy and rapidfuzz only.

Scoring a keyword in a line (search/lines.py) walks every frame of the line; over an archive's hundreds of
thousands of lines that takes seconds. Each line's own reading (the best path of its CTC output) is kept at
indexing time instead, its words gathered into a vocabulary, and a query first looks up the keyword's near
spellings there: the lines whose reading holds the keyword, then those one edit away, and so on, up to half
the word's length; a phrase needs all its words near. Only those lines are scored. A line whose reading is
further from the keyword is not ranked, so this is approximate where the reader misread badly; `--exact`
scores every line.
"""

from __future__ import annotations

import numpy as np
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cdist

from wordspot.data.text import TextNorm

_FOLD = TextNorm(True, True)


def folding(symbols: list[str]) -> dict[int, str]:
    """A str.translate table that folds a reading as keyword search does: each symbol to its case-folded
    self, punctuation to a space (a word boundary when folded)."""
    return {ord(s): _FOLD(s) or " " for s in symbols if len(s) == 1}


class Vocabulary:
    """Distinct words, each with the rows (lines, crops) that hold it, and the rows near a word found at once."""

    def __init__(self, words_of_rows) -> None:
        rows_of: dict[str, list[int]] = {}
        for i, words in enumerate(words_of_rows):
            for w in words:
                rows_of.setdefault(w, []).append(i)
        self.words = list(rows_of)
        self.rows = [np.asarray(rows_of[w], np.int64) for w in self.words]

    def near(self, word: str, reach: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every row holding a word within `reach` edits of `word`: (rows, edits, which word of `words`), a
        row once for each such word it holds."""
        dist = (cdist([word], self.words, scorer=Levenshtein.distance, score_cutoff=reach, dtype=np.int32)[0]
                if self.words else np.zeros(0, np.int32))
        near = np.flatnonzero(dist <= reach)
        if not len(near):
            return np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int64)
        sizes = [len(self.rows[j]) for j in near]
        return (np.concatenate([self.rows[j] for j in near]), np.repeat(dist[near], sizes),
                np.repeat(near, sizes))


class Readings:
    """The words of every line's reading, each with the lines it is in, built once for each way of matching:
    exact (words at spaces) or folded (also at punctuation; case and punctuation dropped)."""

    def __init__(self, readings: list[str], symbols: list[str]) -> None:
        self.readings = readings
        self.fold_table = folding(symbols)
        self._vocab: dict[bool, Vocabulary] = {}

    def _vocabulary(self, fold: bool) -> Vocabulary:
        if fold not in self._vocab:
            self._vocab[fold] = Vocabulary(set(r.translate(self.fold_table).split() if fold else r.split())
                                           for r in self.readings)
        return self._vocab[fold]

    def _near(self, word: str, fold: bool) -> tuple[np.ndarray, np.ndarray]:
        """The lines whose readings hold a word within reach of `word` (half its length in edits), in index
        order, and the fewest edits in each."""
        reach = max(1, len(word) // 2)  # further than that, a reading says little of the word
        line, edits, _ = self._vocabulary(fold).near(word, reach)
        if not len(line):
            return line, edits
        order = np.lexsort((edits, line))
        line, edits = line[order], edits[order]
        first = np.r_[True, line[1:] != line[:-1]]
        return line[first], edits[first]

    def candidates(self, keyword: str, fold: bool, want: int) -> np.ndarray:
        """Up to `want` lines whose readings come nearest the keyword: fewest edits first (index order among
        equals). A phrase's words must all be near words of the line's reading; their edits add up."""
        parts = (keyword.translate(self.fold_table) if fold else keyword).split()
        if not parts:
            return np.zeros(0, np.int64)
        line, edits = self._near(parts[0], fold)
        for word in parts[1:]:
            other, more = self._near(word, fold)
            line, mine, theirs = np.intersect1d(line, other, assume_unique=True, return_indices=True)
            edits = edits[mine] + more[theirs]
        return line[np.argsort(edits, kind="stable")[:want]]
