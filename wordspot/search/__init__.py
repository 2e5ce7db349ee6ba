"""Search: exact and approximate nearest neighbours, and queries over an index."""

from wordspot._lazy import forward

__getattr__ = forward(__name__, "exact")
