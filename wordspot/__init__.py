"""wordspot: handwritten word spotting with a Levenshtein-space embedding (LSDE).

The command line is a thin layer over these functions; everything it does can be done from Python.
Names are imported when first used, so that `wordspot query WORD` never loads PyTorch.
"""

import os
from importlib import import_module

# OpenCV reads its decoder's pixel limit once, when it is loaded: set before any module imports it.
# A small PNG may declare 32000x32000 pixels; decoded, that is 9 GB (imaging.MAX_PIXELS checks the
# header first; this is the limit for formats whose header wordspot cannot read).
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(150_000_000))

__version__ = "0.1.0"

_WHERE = {
    "WordSample": "datasets", "load_fki": "datasets", "load_labels": "datasets", "open_source": "datasets",
    "Embedder": "embedder", "ModelConfig": "config", "TrainConfig": "config", "WordspotError": "errors",
    "evaluate_spotting": "evaluate", "evaluate_strings": "evaluate", "Crop": "store", "Index": "index",
    "build_index": "index", "collect_crops": "index", "dataset_crops": "index", "index_crops": "index",
    "open_index": "index", "write_index": "index", "Searcher": "query", "by_example": "query",
    "by_string": "query", "Alphabet": "text", "TextNorm": "text", "decode_fki": "text",
    "train": "training", "train_ensemble": "training", "StringSide": "stringside",
}
__all__ = sorted([*_WHERE, "builtin_dataset"])


def __getattr__(name: str):
    if name == "builtin_dataset":
        return import_module(".synth", __name__).builtin
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'wordspot' has no attribute {name!r}")
