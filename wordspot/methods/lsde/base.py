"""LSDE: words and images are vectors whose Euclidean distances track Levenshtein distance."""

from __future__ import annotations

import numpy as np

from wordspot.evaluation.metrics import distances
from wordspot.methods.base import Method
from wordspot.methods.ranking import Ranking, same


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
        return "l2", same, same



class LSDE(Method):
    """The string CNN's vectors, and an image side that reads (CTC) or regresses them."""

    name = "lsde"
    summary = "the LSDE vector alone"

    def ranking(self, dim: int, fusion: tuple[float, float] | None = None) -> Ranking:
        return LSDERanking()
