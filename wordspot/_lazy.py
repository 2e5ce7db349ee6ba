"""Package attributes resolved on first use, so that importing one module of a package loads no other."""

from importlib import import_module
from typing import Callable


def forward(package: str, where: dict[str, str] | str) -> Callable[[str], object]:
    """A module `__getattr__` finding a name in the package's module that defines it.

    `where` maps names to module names within the package, or names one module for every name.
    """
    def __getattr__(name: str):
        module = where if isinstance(where, str) else where.get(name)
        if module is not None and not name.startswith("__"):
            try:
                return getattr(import_module(f"{package}.{module}"), name)
            except AttributeError:
                pass
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__
