"""What every method's ranking answers (`Ranking`), and a model's rankings through its method's (`Rankings`).

Each method says its own in its folder (lsde/, phoc/, both/); nothing here knows which methods there are.
"""

from __future__ import annotations

import numpy as np

from wordspot.evaluation.metrics import average_precisions
from wordspot.model.calibration import probability


def same(x: np.ndarray) -> np.ndarray:
    return x


def softplus_sum(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, np.asarray(z, np.float64)).sum(1, keepdims=True)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def sq_norm(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, np.float64) ** 2).sum(1, keepdims=True)


def mean_ap(dist: np.ndarray, relevant: np.ndarray, exclude: np.ndarray | None = None) -> float:
    ap = average_precisions(dist, relevant, exclude)
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")



class Ranking:
    """What a method's rankings are; the subclasses say it for LSDE, PHOC and the two fused."""

    name = ""
    # whether `space` is Levenshtein-shaped: its Euclidean distances estimate edit distances (the
    # LSDE part), so that a query can ask for the words within an edit radius (`search.within`)
    edit_space = False

    def string_distances(self, words: np.ndarray, images: np.ndarray) -> np.ndarray:
        """(Q, dim) string vectors, (N, dim) image vectors -> (Q, N) distances (QbS ranking)."""
        raise NotImplementedError

    def image_distances(self, queries: np.ndarray, images: np.ndarray) -> np.ndarray:
        """(Q, dim), (N, dim) image vectors -> (Q, N) distances (QbE ranking)."""
        raise NotImplementedError

    def search_kinds(self) -> tuple[str, ...]:
        """The rankings that need a search form of their own."""
        return ("qbs", "qbe")

    def search_form(self, kind: str):
        """("l2" or "ip", image form, query form): ranking by `string_distances` (kind "qbs") or
        `image_distances` ("qbe") is ranking by smallest L2 distance, or largest inner product, of
        the vectors in these forms ((n, d) float32 -> (n, d') float32)."""
        raise NotImplementedError

    def probe_queries(self, kind: str, image_vectors: np.ndarray) -> np.ndarray:
        """Queries like a user's, made from image vectors: to tune an approximate index."""
        return image_vectors

    def space(self, vectors: np.ndarray, images: bool) -> np.ndarray:
        """The part of string or image vectors that lives in the Levenshtein-shaped space (what the
        image side regresses, what maps show and what is compared with edit distance)."""
        return np.asarray(vectors)


class Rankings:
    """A model's rankings, answered by its method's ranking (`self.ranking`), and its calibration:
    the probability of a hit at a distance (calibration.py), when the model file has one. The models
    (Embedder, StringSide) also give `config`, `norm` and `embed_strings`, which a reader's QbE uses."""

    ranking: Ranking
    calibration: dict | None = None
    # a reader's median QbE distance over its median QbS distance on validation images (fitted with the
    # scores): puts an example's reading on its image's scale (`example_distances`); None: not fitted
    reading_scale: float | None = None

    def scores(self, distances: np.ndarray, kind: str) -> np.ndarray | None:
        """The probability that hits at `distances` are the word asked for ("qbs" or "qbe"), or
        None when the model was not calibrated."""
        params = (self.calibration or {}).get(kind)
        return None if params is None else probability(distances, params)

    def string_distances(self, words: np.ndarray, images: np.ndarray) -> np.ndarray:
        """(Q, dim) string vectors, (N, dim) image vectors -> (Q, N) distances (QbS ranking)."""
        return self.ranking.string_distances(words, images)

    def image_distances(self, queries: np.ndarray, images: np.ndarray) -> np.ndarray:
        """(Q, dim), (N, dim) image vectors -> (Q, N) distances (QbE ranking)."""
        return self.ranking.image_distances(queries, images)

    @property
    def reading_weight(self) -> float:
        """How much the QbS distance of an example's reading counts in its QbE distance (0: the image alone)."""
        cfg = self.config
        return cfg.example_reading * self.reading_scale if cfg.reads and self.reading_scale else 0.0

    def reading_distances(self, readings: list[str], images: np.ndarray) -> np.ndarray:
        """(Q,) readings -> (Q, N) QbS distances of each as a typed word (NaN for a reading that is no word)."""
        words = [self.norm(r) for r in readings]
        read = sorted(set(words) - {""})
        by_word = dict(zip(read, self.string_distances(self.embed_strings(read), images))) if read else {}
        out = np.full((len(words), len(images)), np.nan)
        for i, word in enumerate(words):
            if word:
                out[i] = by_word[word]
        return out

    def example_distances(self, examples: np.ndarray, images: np.ndarray,
                          readings: list[str] | None = None) -> np.ndarray:
        """QbE: (Q, dim) example vectors -> (Q, N) distances. With `readings` (what the model read in each
        example), each example read as a word also gets the QbS distance of that word, `reading_weight` times:
        a reader ranks typed words better than examples, and its reading corrects the image's ranking."""
        d = self.image_distances(examples, images)
        w = self.reading_weight
        if not w or readings is None or not any(self.norm(r) for r in readings):
            return d
        extra = self.reading_distances(readings, images)
        return np.asarray(d, np.float64) + w * np.nan_to_num(extra, nan=0.0)  # read as nothing: the image alone

    def qbe_distances(self, vectors: np.ndarray, rows: np.ndarray, readings: list[str] | None = None) -> np.ndarray:
        """QbE from a collection's own images `rows` (the GW protocol's examples) to all of it; `readings`: what
        the model read in each image of the collection."""
        return self.example_distances(vectors[rows], vectors, None if readings is None else [readings[i] for i in rows])

    def search_kinds(self) -> tuple[str, ...]:
        return self.ranking.search_kinds()

    def search_form(self, kind: str):
        return self.ranking.search_form(kind)

    def probe_queries(self, kind: str, image_vectors: np.ndarray) -> np.ndarray:
        return self.ranking.probe_queries(kind, image_vectors)
