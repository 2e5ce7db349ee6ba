"""Data: word samples, data set formats and their splits, text, images, the built-in data set."""

from wordspot._lazy import forward

__getattr__ = forward(__name__, "datasets")
