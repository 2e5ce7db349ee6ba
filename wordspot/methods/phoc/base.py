"""PHOC (Almazan et al. 2014): the baseline method, its ranking, and a bag of character n-grams."""

from __future__ import annotations

from collections import Counter

import numpy as np

from wordspot.evaluation.metrics import cosine_distances
from wordspot.methods.base import Method
from wordspot.methods.ranking import Ranking, softplus_sum, unit


def _occupied(start: float, end: float, level: int) -> list[int]:
    """Regions of a level that hold at least half of the interval [start, end)."""
    size = end - start
    regions = []
    for r in range(level):
        lo, hi = r / level, (r + 1) / level
        if (min(end, hi) - max(start, lo)) / size >= 0.5:
            regions.append(r)
    return regions


def prm_distances(phocs: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """(Q, A) binary PHOCs, (N, A) predicted attribute logits -> (Q, N) distances, lower is closer.

    The negative log-likelihood of each query's attributes under each image's independent
    Bernoulli predictions (the probabilistic retrieval model of Rusakov et al., ICFHR 2018). Unlike
    cosine similarity it weighs an attribute by how sure the network is of it (benchmarks/results/gw.md
    has the QbS mAP of both rankings for each PHOC model).
    """
    a, z = np.asarray(phocs, np.float64), np.asarray(logits, np.float64)
    # -log sigmoid(z) = softplus(-z) and -log(1 - sigmoid(z)) = softplus(z), computed without overflow
    return a @ np.logaddexp(0.0, -z).T + (1.0 - a) @ np.logaddexp(0.0, z).T


class PHOC:
    """Pyramidal histogram of characters: unigrams at `levels`, the top bigrams at `bigram_level`."""

    def __init__(self, unigrams: str | list[str], bigrams: list[str] = (),
                 levels: tuple[int, ...] = (2, 3, 4, 5), bigram_level: int = 2) -> None:
        self.unigrams = sorted(set(unigrams))
        self.bigrams = list(bigrams)
        self.levels = tuple(levels)
        self.bigram_level = bigram_level
        self._uni = {c: i for i, c in enumerate(self.unigrams)}
        self._bi = {b: i for i, b in enumerate(self.bigrams)}
        self.dim = len(self.unigrams) * sum(self.levels) + len(self.bigrams) * (bigram_level if bigrams else 0)

    @classmethod
    def from_words(cls, words: list[str], n_bigrams: int = 50, **kw) -> "PHOC":
        counts = Counter(w[i:i + 2] for w in words for i in range(len(w) - 1))
        return cls("".join(words), [b for b, _ in counts.most_common(n_bigrams)], **kw)

    def __call__(self, word: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        n, A = len(word), len(self.unigrams)
        offset = 0
        for level in self.levels:
            for pos, ch in enumerate(word):
                i = self._uni.get(ch)
                if i is None:
                    continue
                for r in _occupied(pos / n, (pos + 1) / n, level):
                    vec[offset + r * A + i] = 1.0
            offset += level * A
        if self.bigrams:
            B = len(self.bigrams)
            for pos in range(n - 1):
                i = self._bi.get(word[pos:pos + 2])
                if i is None:
                    continue
                for r in _occupied(pos / n, (pos + 2) / n, self.bigram_level):
                    vec[offset + r * B + i] = 1.0
        return vec

    def encode(self, words: list[str]) -> np.ndarray:
        """(N, dim) float32."""
        return np.stack([self(w) for w in words]) if words else np.zeros((0, self.dim), np.float32)


class NgramBag:
    """Counts of character 1..n-grams, with word boundaries marked, over a fixed vocabulary."""

    def __init__(self, words: list[str], n: int = 3) -> None:
        self.n = n
        vocab = sorted({g for w in words for g in self._grams(w)})
        self._index = {g: i for i, g in enumerate(vocab)}
        self.dim = len(vocab)

    def _grams(self, word: str) -> list[str]:
        padded = f"<{word}>"
        return [padded[i:i + k] for k in range(1, self.n + 1) for i in range(len(padded) - k + 1)]

    def encode(self, words: list[str]) -> np.ndarray:
        out = np.zeros((len(words), self.dim), dtype=np.float32)
        for row, w in enumerate(words):
            for g in self._grams(w):
                i = self._index.get(g)
                if i is not None:
                    out[row, i] += 1.0
        return out


class PHOCRanking(Ranking):
    """PHOC: a word is its binary PHOC, an image the logits of its predicted attributes. QbS by the
    probabilistic retrieval model (`prm_distances`), QbE by the angle of the logits."""

    name = "phoc"

    def string_distances(self, words: np.ndarray, images: np.ndarray) -> np.ndarray:
        return prm_distances(words, images)

    def image_distances(self, queries: np.ndarray, images: np.ndarray) -> np.ndarray:
        # by the angle of the logits: on George Washington validation sets this ranked better than
        # PHOCNet's angle of probabilities (benchmarks/README.md), which saturate near 0 and 1
        return cosine_distances(queries, images)

    def search_form(self, kind: str):
        if kind == "qbs":  # PRM: d = -a.z + sum(softplus(z)), so -d = [a, 1] . [z, -sum(softplus(z))]
            return ("ip", lambda z: np.hstack([z, -softplus_sum(z)]).astype(np.float32),
                    lambda a: np.hstack([a, np.ones((len(a), 1))]).astype(np.float32))
        return "ip", unit, unit

    def probe_queries(self, kind: str, image_vectors: np.ndarray) -> np.ndarray:
        if kind == "qbs":
            return (image_vectors > 0).astype(np.float32)  # the PHOC the network reads
        return image_vectors

    def space(self, vectors: np.ndarray, images: bool) -> np.ndarray:
        # attribute logits -> probabilities, comparable with a word's binary PHOC
        v = np.asarray(vectors)
        return (1.0 / (1.0 + np.exp(-v.astype(np.float64)))).astype(v.dtype) if images else v



class PHOCMethod(Method):
    """The PHOCNet-style baseline: a word is its binary PHOC, an image CNN predicts its attributes."""

    name = "phoc"
    summary = "the PHOC baseline (image CNN predicting PHOC attributes; image stage only)"
    stages = ("image",)
    lsde = False
    phoc = True
    reads_by_default = False
    can_read = False
    torch_module = "wordspot.methods.phoc.pytorch"

    def ranking(self, dim: int, fusion: tuple[float, float] | None = None) -> Ranking:
        return PHOCRanking()

    def budget(self, minutes: float) -> dict[str, float]:
        return {"string": 0.0, "image": minutes, "joint": 0.0}

    def fit_settings(self, model, texts: list[str]) -> None:
        model.phoc_bigrams = PHOC.from_words(texts).bigrams
