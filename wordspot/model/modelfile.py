"""Reading a model or checkpoint file: what it is and its format version are checked first."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import numpy as np

from wordspot.config import ONE_VIEW
from wordspot.errors import WordspotError
from wordspot.files import FileFormatError, load_tree

# 2: a model may hold an ensemble's further image CNNs ("members"); 3: stored by files.save_tree
# instead of torch.save (a pickle); older files are converted by `wordspot model upgrade`
FORMAT_VERSION = 3
T = TypeVar("T")


LINE_READER = "lines"  # what a line reader's model file says it is (its "reader" entry; word models have none)


class ModelError(WordspotError):
    """A model file that cannot be used: the message says why."""


def is_line_reader(path: str | Path) -> bool:
    """Whether a model file (or run folder) holds a line reader rather than a word model (no PyTorch needed)."""
    try:
        return load_file(path, "model", tensors=False).get("reader") == LINE_READER
    except ModelError:
        return False


def load_file(path: str | Path, kind: str, tensors: bool = True) -> dict:
    """Read a wordspot file (never unpickled), checking what it is and its format version; with
    `tensors=False` its tensors are NumPy arrays and PyTorch is not needed."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        blob = load_tree(path, tensors)
    except FileFormatError as e:
        raise ModelError(str(e)) from None
    if not isinstance(blob, dict) or blob.get("kind") != kind:
        raise ModelError(f"{path}: not a wordspot {kind} file")
    version = blob.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(f"{path}: format version {version} is newer than this wordspot reads "
                         f"({FORMAT_VERSION}); upgrade wordspot")
    _made_with_old_defaults(blob)
    return blob


def model_info(path: str | Path) -> dict:
    """What a model file keeps beside its weights (stage, validation score, fusion weights...); {} if it
    keeps none, or if there is no file yet (a run before its first model)."""
    if not Path(path).exists():
        return {}
    info = load_file(path, "model", tensors=False).get("info")
    return info if isinstance(info, dict) else {}


def build_from_file(path: str | Path, build: Callable[[dict], T], what: str = "model file") -> T:
    """`build` (a class's `from_state`) over a model file's contents; a file it cannot build from is damaged."""
    blob = load_file(path, "model")
    try:
        return build(blob)
    except ModelError:
        raise
    except (KeyError, RuntimeError, TypeError, ValueError, AttributeError, IndexError) as e:
        first = " ".join(str(e).split())[:100]  # torch's messages span lines
        raise ModelError(f"{path}: damaged {what} ({type(e).__name__}: {first})") from None


def _made_with_old_defaults(blob: dict) -> None:
    """A file written before `image_side` existed was made with a regressing image CNN, one written
    before `phoc_branch` with the PHOC head on the reader's trunk, and one written before `image_views`
    embedded each image as it is: say so, since a config without them now means otherwise."""
    def sub(d: object, key: str) -> object:
        return d.get(key) if isinstance(d, dict) else None
    for cfg in (sub(blob, "config"), sub(sub(blob, "config"), "model"), sub(sub(blob, "model"), "config")):
        if isinstance(cfg, dict) and "method" in cfg:
            cfg.setdefault("image_side", "regress")
            cfg.setdefault("phoc_branch", False)
            cfg.setdefault("image_views", ONE_VIEW)


def model_id(nets: Iterable[dict], fusion: tuple[float, float] | None, image_views: list | None = None) -> str:
    """A hash of a model's weights (its networks' state dicts, as NumPy arrays) and, for a fused model, of the
    weights that change its ranking, and of the views its images are embedded by (but one unaltered view,
    as before views existed): an index remembers which model made it. The one definition, for the model
    with PyTorch (`Embedder`) and without (`StringSide`)."""
    h = hashlib.sha256()
    for net in nets:
        for k, v in sorted(net.items()):
            h.update(k.encode())
            h.update(np.ascontiguousarray(v).tobytes())
    if fusion is not None:  # the weights change the ranking, and an approximate index's search form
        h.update(repr(fusion).encode())
    if image_views is not None and image_views != ONE_VIEW:  # ModelConfig keeps them as lists of floats
        h.update(repr(image_views).encode())
    return h.hexdigest()[:16]


def fusion_weights(blob: dict, path: str = "model file") -> tuple[float, float] | None:
    """A fused model's weights of its PHOC terms (QbS, QbE), or None when the file has none."""
    w = blob.get("fusion")
    if w is None:
        return None
    if not (isinstance(w, (list, tuple)) and len(w) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 for x in w)):
        raise ModelError(f"{path}: damaged model file (fusion weights {w!r})")
    return float(w[0]), float(w[1])
