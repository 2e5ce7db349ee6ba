"""Both: LSDE with a PHOC head on the same image trunk, ranked by the two (the default)."""

from __future__ import annotations

import numpy as np

from wordspot.evaluation.metrics import cosine_distances, distances, qbe_queries, qbs_relevance
from wordspot.methods.base import Method
from wordspot.methods.phoc.base import prm_distances
from wordspot.methods.ranking import Ranking, mean_ap, softplus_sum, sq_norm, unit

# the fused model's weights of its PHOC term: chosen on validation data from these grids (QbS, QbE).
# Each ends in the two heads alone, 0 (LSDE) and PHOC_ALONE, so the chosen ranking is never below either
# head on validation (QbE up to 300 alone was below PHOC on 4 of 13 George Washington runs:
# results/fusion-grid.json; and a poor head, LSDE on tokens it cannot spell, issue #29, need not be mixed
# in). Without validation, or when it ties (it ranks perfectly), the weights validation chose most often
# there (results/fusion-ties.json).
PHOC_ALONE = 1e9  # drowns the squared LSDE term: the PHOC head ranks alone (in float32 as precisely as alone)
FUSION_GRID = ((0.0, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, PHOC_ALONE),
               (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, PHOC_ALONE))
FUSION_DEFAULT = (0.1, 300.0)


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
                return np.hstack([x, z, -sq_norm(x) - ws * softplus_sum(z)]).astype(np.float32)

            def queries(v):
                return np.hstack([2.0 * v[:, :d], ws * v[:, d:], np.ones((len(v), 1))]).astype(np.float32)
            return "ip", images, queries

        def images_e(v):
            return np.hstack([v[:, :d], unit(v[:, d:]), -sq_norm(v[:, :d])]).astype(np.float32)

        def queries_e(v):
            return np.hstack([2.0 * v[:, :d], we * unit(v[:, d:]), np.ones((len(v), 1))]).astype(np.float32)
        return "ip", images_e, queries_e

    def probe_queries(self, kind: str, image_vectors: np.ndarray) -> np.ndarray:
        if kind == "qbs":
            return np.hstack([image_vectors[:, :self.dim], image_vectors[:, self.dim:] > 0]).astype(np.float32)
        return image_vectors

    def space(self, vectors: np.ndarray, images: bool) -> np.ndarray:
        return self.split(vectors)[0]


def _best(scores: list[float], grid: tuple[float, ...], default: float) -> int:
    """The position of the best score; among tied ones, the weight nearest `default` (a validation set
    the model ranks perfectly ties every weight, and then the first would weigh the weaker head most)."""
    top = np.nanmax(scores)
    tied = [i for i, v in enumerate(scores) if v >= top - 1e-9]
    return min(tied, key=lambda i: abs(np.log(max(grid[i], 1e-12) / default)))


def choose_fusion(fused: FusedRanking, image_vecs: np.ndarray, texts: list[str], string_vecs: np.ndarray,
                  queries: list[str]) -> dict:
    """The weights of `FUSION_GRID` with the best QbS and QbE mAP on a labelled set (the George
    Washington protocol of `metrics.spotting_scores`); ties go to the weight nearest the default.

    Returns {"weights": (w_qbs, w_qbe), "qbs_map", "qbe_map", "qbs_grid", "qbe_grid", "qbs_heads",
    "qbe_heads"} (the grids: the mAP of each weight; the heads: {"lsde", "phoc"} each head's mAP alone, so
    that a fused ranking below one of its heads shows); a weight stays at its default when its ranking has
    no query (no word occurs twice: no QbE query).
    """
    out = {"weights": list(FUSION_DEFAULT), "qbs_map": float("nan"), "qbe_map": float("nan"), "qbs_grid": [],
           "qbe_grid": [], "qbs_heads": {}, "qbe_heads": {}}
    if len(queries):
        lsde, phoc = fused.parts_qbs(string_vecs, image_vecs)
        rel = qbs_relevance(texts, queries)
        out["qbs_heads"] = {"lsde": mean_ap(lsde, rel), "phoc": mean_ap(phoc, rel)}
        scores = out["qbs_grid"] = [mean_ap(lsde + w * phoc, rel) for w in FUSION_GRID[0]]
        if np.isfinite(scores).any():
            best = _best(scores, FUSION_GRID[0], FUSION_DEFAULT[0])
            out["weights"][0], out["qbs_map"] = FUSION_GRID[0][best], scores[best]
    qi, rel, itself = qbe_queries(texts)
    if len(qi):
        lsde, phoc = fused.parts_qbe(image_vecs[qi], image_vecs)
        out["qbe_heads"] = {"lsde": mean_ap(lsde, rel, itself), "phoc": mean_ap(phoc, rel, itself)}
        scores = out["qbe_grid"] = [mean_ap(lsde + w * phoc, rel, itself) for w in FUSION_GRID[1]]
        best = _best(scores, FUSION_GRID[1], FUSION_DEFAULT[1])
        out["weights"][1], out["qbe_map"] = FUSION_GRID[1][best], scores[best]
    out["weights"] = tuple(out["weights"])
    return out



class Both(Method):
    """LSDE's vector and the PHOC head's attributes side by side; distances weigh the two."""

    name = "both"
    summary = "LSDE with a PHOC head on the same image CNN, ranking by both"
    phoc = True
    fused = True
    head_weight = 5.0  # the PHOC head's loss weight when aux_phoc is not given
    torch_module = "wordspot.methods.both.pytorch"

    def ranking(self, dim: int, fusion: tuple[float, float] | None = None) -> Ranking:
        return FusedRanking(dim, fusion or FUSION_DEFAULT)
