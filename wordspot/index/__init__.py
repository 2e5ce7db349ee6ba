"""Index folders: embedding crops, writing and reading shards, indexing on a cluster."""

from wordspot._lazy import forward

__getattr__ = forward(__name__, "build")
