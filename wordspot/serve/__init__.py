"""Web servers: the index server, the front over several servers, IIIF, what they share."""

from wordspot._lazy import forward

__getattr__ = forward(__name__, "app")
