"""String pairs for the siamese string CNN: close, medium and far pairs in one stream."""

from __future__ import annotations

import Levenshtein
import numpy as np


def random_edit(word: str, symbols: list[str], rng: np.random.Generator, max_len: int) -> str:
    """One insertion, deletion, substitution or adjacent swap; length kept within 1..max_len."""
    w = list(word)
    op = rng.integers(4)
    if (op == 0 and len(w) < max_len) or not w:
        w.insert(int(rng.integers(len(w) + 1)), symbols[rng.integers(len(symbols))])
    elif op == 1 and len(w) > 1:
        del w[rng.integers(len(w))]
    elif op == 3 and len(w) > 1:
        i = int(rng.integers(len(w) - 1))
        w[i], w[i + 1] = w[i + 1], w[i]
    else:
        w[rng.integers(len(w))] = symbols[rng.integers(len(symbols))]
    return "".join(w)


class PairSampler:
    """Pairs from a lexicon, synthetic edits of its words, and random strings.

    Close pairs (a word and a few edits of it) dominate, since retrieval is decided among close
    words; lexicon pairs and random strings give the far distances (well above 10) and cover every
    position up to `max_len`.
    """

    def __init__(self, lexicon: list[str], symbols: list[str], max_len: int, seed: int = 0) -> None:
        self.lexicon = [w for w in dict.fromkeys(lexicon) if 0 < len(w) <= max_len]
        if not self.lexicon:
            raise ValueError("the lexicon has no word the model can embed")
        self.symbols = list(symbols)
        self.max_len = max_len
        self.rng = np.random.default_rng(seed)
        self.neighbours = self._neighbours(self.lexicon)

    @staticmethod
    def _neighbours(lexicon: list[str], within: int = 4, limit: int = 3000) -> list[tuple[str, str]]:
        """Pairs of real words at most `within` edits apart: the pairs retrieval must order right."""
        words = lexicon[:limit]
        return [(a, b) for i, a in enumerate(words) for b in words[i + 1:]
                if abs(len(a) - len(b)) <= within and Levenshtein.distance(a, b, score_cutoff=within) <= within]

    def word(self) -> str:
        return self.lexicon[self.rng.integers(len(self.lexicon))]

    def random_string(self) -> str:
        n = int(self.rng.integers(1, self.max_len + 1))
        return "".join(self.symbols[i] for i in self.rng.integers(len(self.symbols), size=n))

    def edit(self, word: str, k: int) -> str:
        for _ in range(k):
            word = random_edit(word, self.symbols, self.rng, self.max_len)
        return word

    # shares of: real neighbour words, word vs its edit, two edits of a word, two words,
    # word vs random string, random string vs its edit or another random string
    MIX = (0.25, 0.35, 0.15, 0.1, 0.05, 0.1)

    def pair(self) -> tuple[str, str]:
        kind = int(np.searchsorted(np.cumsum(self.MIX), self.rng.random() * sum(self.MIX), side="right"))
        k = int(self.rng.integers(1, 5))
        if kind == 0 and self.neighbours:
            a, b = self.neighbours[self.rng.integers(len(self.neighbours))]
            return (a, b) if self.rng.random() < 0.5 else (b, a)
        if kind <= 1:
            a = self.word()
            return a, self.edit(a, k)
        if kind == 2:
            a = self.word()
            return self.edit(a, k), self.edit(a, int(self.rng.integers(1, 5)))
        if kind == 3:
            return self.word(), self.word()
        if kind == 4:
            return self.word(), self.random_string()
        a = self.random_string()
        return a, (self.edit(a, k) if self.rng.random() < 0.6 else self.random_string())

    def sample(self, n: int) -> tuple[list[str], list[str]]:
        pairs = [self.pair() for _ in range(n)]
        return [a for a, _ in pairs], [b for _, b in pairs]

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state
