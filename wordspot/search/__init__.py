"""Search: exact and approximate nearest neighbours, and queries over an index."""

from wordspot._lazy import forward

__getattr__ = forward(__name__, {"Prepared": "exact", "candidates": "exact", "rank": "exact", "within": "exact",
                                     "ANN_MIN": "backend", "Approximate": "backend", "build_approximate": "backend",
                                     "describe": "backend", "load_approximate": "backend"})
