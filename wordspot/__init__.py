"""wordspot: handwritten word spotting with a Levenshtein-space embedding (LSDE).

The command line is a thin layer over these functions; everything it does can be done from Python.
"""

__version__ = "0.1.0"

from .datasets import WordSample, load_fki, load_labels, open_source
from .embedder import Embedder, ModelConfig
from .errors import WordspotError
from .evaluate import evaluate_spotting, evaluate_strings
from .index import Crop, Index, build_index, collect_crops, dataset_crops, index_crops, open_index, write_index
from .query import Searcher, by_example, by_string
from .synth import builtin as builtin_dataset
from .text import Alphabet, TextNorm, decode_fki
from .training import TrainConfig, train, train_ensemble

__all__ = [
    "Alphabet", "Crop", "Embedder", "Index", "ModelConfig", "Searcher", "TextNorm", "TrainConfig", "WordSample",
    "WordspotError", "build_index", "builtin_dataset", "by_example", "by_string", "collect_crops",
    "dataset_crops", "decode_fki", "evaluate_spotting", "evaluate_strings", "index_crops", "load_fki",
    "load_labels", "open_index", "open_source", "train", "train_ensemble", "write_index",
]
