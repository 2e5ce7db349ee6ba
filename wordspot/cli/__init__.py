"""The command line: a thin layer over the Python API."""

from wordspot.cli.app import app

__all__ = ["app"]
