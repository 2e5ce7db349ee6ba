"""wordspot: handwritten word spotting with a Levenshtein-space embedding (LSDE).

The command line is a thin layer over these functions; everything it does can be done from Python.
Names are imported when first used, so that `wordspot query WORD` never loads PyTorch.
"""

import os
from importlib import import_module

from wordspot import _moved

# OpenCV reads its decoder's pixel limit once, when it is loaded: set before any module imports it.
# A small PNG may declare 32000x32000 pixels; decoded, that is 9 GB (imaging.MAX_PIXELS checks the
# header first; this is the limit for formats whose header wordspot cannot read).
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(150_000_000))

__version__ = "0.1.0"

_moved.install()  # old module paths (wordspot.embedder, ...) keep importing

_WHERE = {
    "WordSample": "data", "load_fki": "data", "load_labels": "data", "open_source": "data",
    "Embedder": "model.embedder", "ModelConfig": "config", "TrainConfig": "config", "WordspotError": "errors",
    "evaluate_spotting": "evaluation.evaluate", "evaluate_strings": "evaluation.evaluate", "Crop": "index.store",
    "Index": "index.build", "build_index": "index.build", "collect_crops": "index.build",
    "dataset_crops": "index.build", "index_crops": "index.build", "open_index": "index.build",
    "write_index": "index.build", "Searcher": "search.query", "by_example": "search.query",
    "by_string": "search.query", "Alphabet": "data.text", "TextNorm": "data.text", "decode_fki": "data.text",
    "train": "training", "train_ensemble": "training", "StringSide": "model.stringside",
}
__all__ = sorted([*_WHERE, "builtin_dataset"])


def __getattr__(name: str):
    if name == "builtin_dataset":
        return import_module(".data.synth", __name__).builtin
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'wordspot' has no attribute {name!r}")
