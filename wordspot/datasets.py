"""Word-image data sets: the FKI IAM-HistDB layout, generic label files, and the built-in set."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import synth
from .errors import WordspotError
from .imaging import ImageError, load_image
from .text import decode_fki

SUBSETS = ("train", "valid", "test")


class DataError(WordspotError):
    """A data set that cannot be used as given: the message names the file and line."""


@dataclass(frozen=True)
class WordSample:
    path: str
    text: str  # decoded transcription, before normalisation
    page: str = ""
    box: tuple[int, int, int, int] | None = None  # x1, y1, x2, y2 on the page, when cropped from one


@dataclass
class Source:
    """One data set: named subsets of word samples."""

    name: str
    subsets: dict[str, list[WordSample]] = field(default_factory=dict)

    def subset(self, name: str) -> list[WordSample]:
        if name == "all":
            return [s for part in self.subsets.values() for s in part]
        if name not in self.subsets:
            raise DataError(f"{self.name}: no subset {name!r} (has: {', '.join(self.subsets)})")
        return self.subsets[name]


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None


def load_fki(root: str | Path, split: str = "cv1", sets_dir: str = "sets") -> Source:
    """FKI IAM-HistDB layout: word images, ground_truth/word_labels.txt, <sets_dir>/<split>/*.txt."""
    root = Path(root)
    labels_file = root / "ground_truth" / "word_labels.txt"
    images = root / "data" / "word_images_normalized"
    labels: dict[str, str] = {}
    for n, line in enumerate(_read_lines(labels_file), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DataError(f"{labels_file}:{n}: expected 'WORD-ID LABEL', got {line!r}")
        labels[parts[0]] = decode_fki(parts[1])
    if split == "none":
        # one subset with everything, for indexing a whole collection
        words = [WordSample(str(images / f"{wid}.png"), text, wid.rsplit("-", 2)[0]) for wid, text in labels.items()]
        return Source(f"{root.name}", {"all": words})
    split_dir = root / sets_dir / split
    if not split_dir.is_dir():
        available = sorted(p.name for p in (root / sets_dir).iterdir()) if (root / sets_dir).is_dir() else []
        raise DataError(f"{split_dir}: no such split (available: {', '.join(available) or 'none'})")
    by_line: dict[str, list[str]] = {}
    for wid in labels:
        by_line.setdefault(wid.rsplit("-", 1)[0], []).append(wid)
    subsets = {}
    for subset in SUBSETS:
        ids = [line.strip() for line in _read_lines(split_dir / f"{subset}.txt") if line.strip()]
        subsets[subset] = [WordSample(str(images / f"{wid}.png"), labels[wid], wid.split("-")[0])
                           for line_id in ids for wid in by_line.get(line_id, [])]
    return Source(f"{root.name}/{split}", subsets)


def load_labels(path: str | Path) -> list[WordSample]:
    """A labels file: `image_path<TAB>transcription` per line, paths relative to the file."""
    path = Path(path)
    out = []
    for n, line in enumerate(_read_lines(path), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0] or not parts[1].strip():
            raise DataError(f"{path}:{n}: expected 'IMAGE<TAB>TRANSCRIPTION', got {line!r}")
        out.append(WordSample(str(path.parent / parts[0]), parts[1].strip(), Path(parts[0]).stem))
    return out


def load_folder(root: str | Path) -> Source:
    """A folder holding train.tsv, valid.tsv and test.tsv label files (valid/test optional)."""
    root = Path(root)
    subsets = {s: load_labels(root / f"{s}.tsv") for s in SUBSETS if (root / f"{s}.tsv").exists()}
    if "train" not in subsets:
        raise DataError(f"{root}: no train.tsv (expected train.tsv, valid.tsv, test.tsv label files)")
    return Source(root.name, subsets)


def open_source(data: str, split: str = "cv1", sets_dir: str = "sets") -> Source:
    """Resolve `--data`: 'builtin', an FKI IAM-HistDB folder, a folder of .tsv files, or one .tsv."""
    if data == "builtin":
        return load_folder(synth.builtin())
    path = Path(data)
    if not path.exists():
        raise DataError(f"{data}: no such file or folder")
    if path.is_file():
        return Source(path.name, {"all": load_labels(path)})
    if (path / "ground_truth" / "word_labels.txt").exists():
        return load_fki(path, split, sets_dir)
    return load_folder(path)


class ImageCache:
    """Normalised images read once; unreadable ones are skipped, counted and named."""

    def __init__(self, height: int) -> None:
        self.height = height
        self._images: dict[str, np.ndarray] = {}
        self.bad: dict[str, str] = {}

    def get(self, path: str) -> np.ndarray | None:
        if path in self.bad:
            return None
        img = self._images.get(path)
        if img is None:
            try:
                img = load_image(path, self.height)
            except ImageError as e:
                self.bad[path] = str(e)
                return None
            self._images[path] = img
        return img

    def load(self, samples: list[WordSample]) -> tuple[list[WordSample], list[np.ndarray]]:
        """The samples whose images could be read, and their images."""
        kept, images = [], []
        for s in samples:
            img = self.get(s.path)
            if img is not None:
                kept.append(s)
                images.append(img)
        return kept, images
