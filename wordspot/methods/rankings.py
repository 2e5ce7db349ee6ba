"""How each method ranks: its QbS and QbE distances, and the same rankings as nearest-neighbour searches.

One class per method (`LSDERanking`, `PHOCRanking`, `FusedRanking`); a model (`Embedder`, or the string side a
query by string loads without PyTorch, `StringSide`) holds one as `ranking` and answers through the
`Rankings` mixin.
"""

from __future__ import annotations

import numpy as np

from wordspot.evaluation.metrics import average_precisions, cosine_distances, distances, qbe_queries, qbs_relevance
from wordspot.methods.phoc import prm_distances
from wordspot.model.calibration import probability

# the fused model's weights of its PHOC term: chosen on validation data from these grids (QbS, QbE),
# the middle ones without any (their spread on George Washington's validation sets: benchmarks/README.md)
FUSION_GRID = ((0.03, 0.1, 0.3, 1.0, 3.0), (1.0, 3.0, 10.0, 30.0, 100.0, 300.0))
FUSION_DEFAULT = (0.3, 30.0)


def _same(x: np.ndarray) -> np.ndarray:
    return x


def _softplus_sum(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, np.asarray(z, np.float64)).sum(1, keepdims=True)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _sq(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, np.float64) ** 2).sum(1, keepdims=True)


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


class LSDERanking(Ranking):
    """Strings and images are vectors whose Euclidean distance tracks Levenshtein distance, for
    QbS and QbE alike (so they share one search form)."""

    name = "lsde"
    edit_space = True

    def string_distances(self, words: np.ndarray, images: np.ndarray) -> np.ndarray:
        return distances(words, images)

    def image_distances(self, queries: np.ndarray, images: np.ndarray) -> np.ndarray:
        return distances(queries, images)

    def search_kinds(self) -> tuple[str, ...]:
        return ("qbs",)

    def search_form(self, kind: str):
        return "l2", _same, _same


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
            return ("ip", lambda z: np.hstack([z, -_softplus_sum(z)]).astype(np.float32),
                    lambda a: np.hstack([a, np.ones((len(a), 1))]).astype(np.float32))
        return "ip", _unit, _unit

    def probe_queries(self, kind: str, image_vectors: np.ndarray) -> np.ndarray:
        if kind == "qbs":
            return (image_vectors > 0).astype(np.float32)  # the PHOC the network reads
        return image_vectors

    def space(self, vectors: np.ndarray, images: bool) -> np.ndarray:
        # attribute logits -> probabilities, comparable with a word's binary PHOC
        v = np.asarray(vectors)
        return (1.0 / (1.0 + np.exp(-v.astype(np.float64)))).astype(v.dtype) if images else v


class FusedRanking(Ranking):
    """LSDE and PHOC heads on one image trunk: a vector is [LSDE vector (dim), PHOC part] (a word's
    binary PHOC, an image's attribute logits). QbS: squared LSDE distance + w_qbs x PRM distance;
    QbE: squared LSDE distance + w_qbe x the angle distance of the logits. Squared, so that each is
    one inner product for the search; the weights are chosen on validation data (`choose_fusion`)."""

    name = "both"
    edit_space = True

    def __init__(self, dim: int, weights: tuple[float, float] = FUSION_DEFAULT) -> None:
        self.dim = dim
        self.weights = (float(weights[0]), float(weights[1]))

    def split(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, dim + P) vectors -> their LSDE part (n, dim) and their PHOC part (n, P)."""
        v = np.asarray(v)
        return v[:, :self.dim], v[:, self.dim:]

    def parts_qbs(self, words: np.ndarray, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The two (Q, N) terms of the QbS distance, unweighted: squared LSDE, PRM."""
        (q, a), (x, z) = self.split(words), self.split(images)
        return distances(q, x) ** 2, prm_distances(a, z)

    def parts_qbe(self, queries: np.ndarray, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The two (Q, N) terms of the QbE distance, unweighted: squared LSDE, angle of the logits."""
        (q, a), (x, z) = self.split(queries), self.split(images)
        return distances(q, x) ** 2, cosine_distances(a, z)

    def string_distances(self, words: np.ndarray, images: np.ndarray) -> np.ndarray:
        lsde, phoc = self.parts_qbs(words, images)
        return lsde + self.weights[0] * phoc

    def image_distances(self, queries: np.ndarray, images: np.ndarray) -> np.ndarray:
        lsde, phoc = self.parts_qbe(queries, images)
        return lsde + self.weights[1] * phoc

    def search_form(self, kind: str):
        # -d = 2 q.x - |x|^2 - |q|^2 + w (a.z - sum softplus(z))   (QbS; -|q|^2 does not change the order)
        # -d = 2 q.x - |x|^2 - |q|^2 + w (u.v - 1)                  (QbE; u, v the unit logits)
        d, (ws, we) = self.dim, self.weights
        if kind == "qbs":
            def images(v):
                x, z = v[:, :d], v[:, d:]
                return np.hstack([x, z, -_sq(x) - ws * _softplus_sum(z)]).astype(np.float32)

            def queries(v):
                return np.hstack([2.0 * v[:, :d], ws * v[:, d:], np.ones((len(v), 1))]).astype(np.float32)
            return "ip", images, queries

        def images_e(v):
            return np.hstack([v[:, :d], _unit(v[:, d:]), -_sq(v[:, :d])]).astype(np.float32)

        def queries_e(v):
            return np.hstack([2.0 * v[:, :d], we * _unit(v[:, d:]), np.ones((len(v), 1))]).astype(np.float32)
        return "ip", images_e, queries_e

    def probe_queries(self, kind: str, image_vectors: np.ndarray) -> np.ndarray:
        if kind == "qbs":
            return np.hstack([image_vectors[:, :self.dim], image_vectors[:, self.dim:] > 0]).astype(np.float32)
        return image_vectors

    def space(self, vectors: np.ndarray, images: bool) -> np.ndarray:
        return self.split(vectors)[0]


def ranking_for(method: str, dim: int, fusion: tuple[float, float] | None = None) -> Ranking:
    """The ranking of a method ("lsde", "phoc" or "both"; `dim`: the LSDE vector's size)."""
    if method == "phoc":
        return PHOCRanking()
    if method == "both":
        return FusedRanking(dim, fusion or FUSION_DEFAULT)
    return LSDERanking()


def _mean_ap(dist: np.ndarray, relevant: np.ndarray, exclude: np.ndarray | None = None) -> float:
    ap = average_precisions(dist, relevant, exclude)
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")


def choose_fusion(fused: FusedRanking, image_vecs: np.ndarray, texts: list[str], string_vecs: np.ndarray,
                  queries: list[str]) -> dict:
    """The weights of `FUSION_GRID` with the best QbS and QbE mAP on a labelled set (the George
    Washington protocol of `metrics.spotting_scores`); ties go to the smaller weight.

    Returns {"weights": (w_qbs, w_qbe), "qbs_map", "qbe_map"}; a weight stays at its default when
    its ranking has no query (no word occurs twice: no QbE query).
    """
    out = {"weights": list(FUSION_DEFAULT), "qbs_map": float("nan"), "qbe_map": float("nan")}
    if len(queries):
        lsde, phoc = fused.parts_qbs(string_vecs, image_vecs)
        rel = qbs_relevance(texts, queries)
        scores = [_mean_ap(lsde + w * phoc, rel) for w in FUSION_GRID[0]]
        if np.isfinite(scores).any():
            best = int(np.nanargmax(scores))
            out["weights"][0], out["qbs_map"] = FUSION_GRID[0][best], scores[best]
    qi, rel, itself = qbe_queries(texts)
    if len(qi):
        lsde, phoc = fused.parts_qbe(image_vecs[qi], image_vecs)
        scores = [_mean_ap(lsde + w * phoc, rel, itself) for w in FUSION_GRID[1]]
        best = int(np.nanargmax(scores))
        out["weights"][1], out["qbe_map"] = FUSION_GRID[1][best], scores[best]
    out["weights"] = tuple(out["weights"])
    return out


class Rankings:
    """A model's rankings, answered by its method's ranking (`self.ranking`), and its calibration:
    the probability of a hit at a distance (calibration.py), when the model file has one."""

    ranking: Ranking
    calibration: dict | None = None

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

    def search_kinds(self) -> tuple[str, ...]:
        return self.ranking.search_kinds()

    def search_form(self, kind: str):
        return self.ranking.search_form(kind)

    def probe_queries(self, kind: str, image_vectors: np.ndarray) -> np.ndarray:
        return self.ranking.probe_queries(kind, image_vectors)
