"""Old import paths: `wordspot.datasets`, `wordspot.embedder`, ... name the modules that now live in subpackages.

Code written against wordspot before the move (`from wordspot.embedder import Embedder`) keeps working; the
alias is made only when such a path is imported, so nothing here loads a module early.
"""

import importlib
import importlib.abc
import importlib.util
import sys

# old module -> where its code lives now (modules split in two name the one that re-exports the rest)
MOVED = {
    "text": "data.text", "imaging": "data.imaging", "synth": "data.synth", "datasets": "data",
    "formats": "data.pagefiles", "models": "model.networks", "embedder": "model.embedder",
    "stringside": "model.stringside", "modelfile": "model.modelfile", "calibration": "model.calibration",
    "phoc": "methods.phoc.base", "rankings": "methods", "objectives": "methods",
    "losses": "training.losses", "pairs": "training.pairs", "store": "index.store", "writer": "index.writer",
    "distributed": "index.distributed", "query": "search.query", "metrics": "evaluation.metrics",
    "evaluate": "evaluation.evaluate", "plots": "evaluation.plots", "webkit": "serve.webkit",
    "iiif": "serve.iiif", "front": "serve.front",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:
        pass  # the target module ran when it was imported


class MovedFinder(importlib.abc.MetaPathFinder):
    """Resolves `wordspot.<old>` to the module that holds its code now."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != "wordspot" or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(f"wordspot.{MOVED[name]}"))


def install() -> None:
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedFinder())
