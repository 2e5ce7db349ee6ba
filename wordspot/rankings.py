"""How a model ranks: its QbS and QbE distances, and the same rankings as nearest-neighbour searches.

Shared by the full model (`Embedder`) and the string side a query by string loads without PyTorch
(`lite.StringSide`); both set `self.phoc` (None for LSDE).
"""

from __future__ import annotations

import numpy as np

from .metrics import cosine_distances, distances
from .phoc import prm_distances


def _same(x: np.ndarray) -> np.ndarray:
    return x


def _prm_images(z: np.ndarray) -> np.ndarray:
    return np.hstack([z, -np.logaddexp(0.0, z).sum(1, keepdims=True)]).astype(np.float32)


def _prm_queries(a: np.ndarray) -> np.ndarray:
    return np.hstack([a, np.ones((len(a), 1), a.dtype)]).astype(np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class Rankings:
    """QbS and QbE distances of a method; `phoc` is the PHOC of a PHOC model, None for LSDE."""

    phoc = None

    def string_distances(self, words: np.ndarray, images: np.ndarray) -> np.ndarray:
        """(Q, dim) string vectors, (N, dim) image vectors -> (Q, N) distances (QbS ranking)."""
        if self.phoc is not None:
            return prm_distances(words, images)
        return distances(words, images)

    def image_distances(self, queries: np.ndarray, images: np.ndarray) -> np.ndarray:
        """(Q, dim), (N, dim) image vectors -> (Q, N) distances (QbE ranking)."""
        if self.phoc is not None:
            # by the angle of the logits: on George Washington validation sets this ranked better than
            # PHOCNet's angle of probabilities (benchmarks/README.md), which saturate near 0 and 1
            return cosine_distances(queries, images)
        return distances(queries, images)

    # ---- the rankings as nearest-neighbour searches (search.py, faiss) ----
    def search_kinds(self) -> tuple[str, ...]:
        """The rankings that need a search form of their own (LSDE's QbS and QbE share one space)."""
        return ("qbs", "qbe") if self.phoc is not None else ("qbs",)

    def search_form(self, kind: str):
        """("l2" or "ip", image form, query form): ranking by `string_distances` (kind "qbs") or
        `image_distances` ("qbe") is ranking by smallest L2 distance, or largest inner product, of
        the vectors in these forms ((n, d) float32 -> (n, d') float32)."""
        if self.phoc is None:
            return "l2", _same, _same
        if kind == "qbs":  # PRM: d = -a.z + sum(softplus(z)), so -d = [a, 1] . [z, -sum(softplus(z))]
            return "ip", _prm_images, _prm_queries
        return "ip", _unit, _unit

    def probe_queries(self, kind: str, image_vectors: np.ndarray) -> np.ndarray:
        """Queries like a user's, made from image vectors: to tune an approximate index."""
        if self.phoc is not None and kind == "qbs":
            return (image_vectors > 0).astype(np.float32)  # the PHOC the network reads
        return image_vectors
