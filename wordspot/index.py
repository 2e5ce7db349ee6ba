"""Word-crop indexes: collect crops from a source, embed them, save and load them atomically."""

from __future__ import annotations

import fcntl
import io
import json
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .datasets import WordSample
from .embedder import Embedder
from .errors import WordspotError
from .files import atomic_write_bytes
from .formats import IMAGE_EXTS, PageWords, find_image, read_box_file, read_xml
from .imaging import ImageError, cut_box, degenerate, normalise, read_grey
from .progress import Reporter

INDEX_FORMAT = 2  # 2: PHOC models store attribute logits (1 held unit probabilities)


class IndexFileError(WordspotError):
    """An index that cannot be used as asked (missing, damaged, or made by another model)."""


@dataclass(frozen=True)
class Crop:
    """A word on a page: the whole image at `source` when `box` is None."""

    source: str
    page: str
    box: tuple[int, int, int, int] | None = None  # x1, y1, x2, y2
    text: str = ""


# ---- sources ---------------------------------------------------------------------------------
def _page_crops(page: PageWords) -> list[Crop]:
    return [Crop(str(r.image), r.image.stem, r.box, r.text) for r in page.words]


def collect_crops(paths: list[str | Path]) -> list[Crop]:
    """Crops from files and folders: word images, page images with a boxes .txt, PAGE or ALTO .xml.

    In a folder, an image with a .txt or .xml of the same name is a page; other images are words.
    """
    crops: list[Crop] = []
    for p in map(Path, paths):
        if not p.exists():
            raise WordspotError(f"{p}: no such file or folder")
        before = len(crops)
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        pages = {f.with_suffix("") for f in files if f.suffix.lower() in (".txt", ".xml")}
        for f in files:
            ext = f.suffix.lower()
            if ext == ".txt" and (p.is_file() or find_image(f)):
                crops += _page_crops(read_box_file(f))
            elif ext == ".xml":
                page = read_xml(f)
                for message in page.skipped:
                    warnings.warn(message, stacklevel=2)
                crops += _page_crops(page)
            elif ext in IMAGE_EXTS and f.with_suffix("") not in pages:
                crops.append(Crop(str(f), f.stem))
        if len(crops) == before:
            warnings.warn(f"{p}: no word images, box files or PAGE/ALTO files in it", stacklevel=2)
    if not crops:
        raise WordspotError(f"no word images, box files or PAGE XML found in {', '.join(map(str, paths))}")
    return crops


def dataset_crops(samples: list[WordSample]) -> list[Crop]:
    return [Crop(s.path, s.page, s.box, s.text) for s in samples]


def crop_image(page: np.ndarray, crop: Crop, height: int) -> np.ndarray:
    """Cut `crop` out of its (already read) grey image and normalise it for the network."""
    return normalise(page if crop.box is None else cut_box(page, crop.box, crop.source), height)


def load_crops(crops: list[Crop], height: int,
               odd: dict[str, str] | None = None) -> tuple[list[int], list[np.ndarray], dict[str, str]]:
    """Normalised images of the readable crops (their positions), and why the others were skipped.
    Crops that read but look degenerate (tiny, blank, extreme aspect) are kept and noted in `odd`.

    Crops of one page should be adjacent: a page is read once for all its words.
    """
    kept, images, bad = [], [], {}
    current, page, page_error = None, None, ""
    for i, c in enumerate(crops):
        if c.source != current:
            current, page, page_error = c.source, None, ""
            try:
                page = read_grey(c.source)
            except ImageError as e:
                page_error = str(e)
        try:
            if page is None:
                raise ImageError(page_error)
            part = page if c.box is None else cut_box(page, c.box, c.source)
            why = degenerate(part)
            if why and odd is not None:
                odd[_name(c)] = f"{_name(c)}: {why}"
            images.append(normalise(part, height))
            kept.append(i)
        except ImageError as e:
            bad[_name(c)] = str(e)
    return kept, images, bad


def _name(c: Crop) -> str:
    return c.source if c.box is None else f"{c.source} {c.box}"


# ---- the index -------------------------------------------------------------------------------
def _box(box) -> tuple[int, int, int, int] | None:
    if box is None:
        return None
    x1, y1, x2, y2 = (int(v) for v in box)
    if x2 <= x1 or y2 <= y1:
        raise ValueError("empty box")
    return (x1, y1, x2, y2)


def is_index_file(path: str | Path) -> bool:
    """Whether `path` holds a wordspot index of any format version (safe to replace)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return json.loads(str(z["meta"])).get("kind") == "wordspot-index"
    except Exception:  # anything unreadable is not an index
        return False


@contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (a .lock file beside it) for a read-modify-write: two
    writers of one index wait for each other instead of one losing the other's crops."""
    lock = Path(str(path) + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_index(index: "Index", path: str | Path, append: bool = False) -> "Index":
    """Save `index` to `path`, or with `append` add it to the index already there (same model).
    Writers of one path are serialised by a lock; what is written is what was returned."""
    with locked(path):
        if append and Path(path).exists():
            previous = Index.load(path)
            index = previous.extend(index)
        index.save(path)
    return index



@dataclass
class Index:
    vectors: np.ndarray  # (N, dim) float32
    crops: list[Crop]
    model_id: str
    model_path: str = ""

    def __len__(self) -> int:
        return len(self.crops)

    def save(self, path: str | Path) -> None:
        """Write to a temporary file beside `path`, then rename over it."""
        path = Path(path)
        meta = {"format": INDEX_FORMAT, "kind": "wordspot-index", "model_id": self.model_id,
                "model_path": self.model_path, "crops": [asdict(c) for c in self.crops]}
        buf = io.BytesIO()
        np.savez(buf, vectors=self.vectors.astype(np.float32), meta=np.array(json.dumps(meta)))
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "Index":
        path = Path(path)
        if not path.is_file():
            raise IndexFileError(f"{path}: no such index file")
        try:
            with np.load(path, allow_pickle=False) as z:
                vectors, meta = z["vectors"], json.loads(str(z["meta"]))
        except Exception as e:
            raise IndexFileError(f"{path}: not a readable wordspot index ({type(e).__name__})") from None
        if meta.get("kind") != "wordspot-index":
            raise IndexFileError(f"{path}: not a wordspot index")
        if meta.get("format", 0) != INDEX_FORMAT:
            raise IndexFileError(f"{path}: index format {meta.get('format')}, this wordspot reads {INDEX_FORMAT}: "
                                 f"build it again with `wordspot index`")
        try:
            crops = [Crop(str(c["source"]), str(c["page"]), _box(c["box"]), str(c["text"])) for c in meta["crops"]]
            model_id = str(meta["model_id"])
        except (KeyError, TypeError, ValueError):
            raise IndexFileError(f"{path}: damaged index (its crop records are malformed): "
                                 f"build it again with `wordspot index`") from None
        if vectors.ndim != 2 or len(vectors) != len(crops) or vectors.dtype.kind != "f":
            raise IndexFileError(f"{path}: damaged index ({vectors.shape} vectors for {len(crops)} crops): "
                                 f"build it again with `wordspot index`")
        bad = int((~np.isfinite(vectors).all(1)).sum())
        if bad:
            raise IndexFileError(f"{path}: damaged index ({bad} vectors hold NaN or infinity): "
                                 f"build it again with `wordspot index`")
        return cls(vectors, crops, model_id, str(meta.get("model_path", "")))

    def check_model(self, emb: Embedder) -> None:
        if self.vectors.shape[1] != emb.dim:
            raise IndexFileError(f"damaged index: its vectors have {self.vectors.shape[1]} dimensions, the model's "
                                 f"{emb.dim}: build it again with `wordspot index`")
        if emb.model_id() != self.model_id:
            raise IndexFileError(f"this index was built by model {self.model_id}, not by the given model "
                              f"{emb.model_id()}: re-index with this model or query with the one that built it")

    def extend(self, other: "Index") -> "Index":
        if other.model_id != self.model_id:
            raise IndexFileError(f"cannot append: the index was built by model {self.model_id}, "
                              f"the new crops by {other.model_id}")
        return Index(np.concatenate([self.vectors, other.vectors]), self.crops + other.crops,
                     self.model_id, self.model_path)


def build_index(emb: Embedder, crops: list[Crop], model_path: str = "",
                reporter: Reporter | None = None, batch_size: int = 256) -> tuple[Index, dict]:
    """Embed every readable crop. Returns the index and stats (crops, skipped, seconds, per second)."""
    rep = reporter or Reporter()
    t0 = time.time()
    rep.start("index", len(crops))
    vectors, kept_all, bad_all, odd = [], [], {}, {}
    for start in range(0, len(crops), batch_size):
        part = crops[start:start + batch_size]
        kept, images, bad = load_crops(part, emb.config.image_height, odd)
        if images:
            vectors.append(emb.embed_images(images))
        kept_all += [start + k for k in kept]
        bad_all.update(bad)
        rep.advance(len(part))
    rep.stop()
    seconds = time.time() - t0
    vecs = np.concatenate(vectors) if vectors else np.zeros((0, emb.dim), np.float32)
    if crops and not kept_all:
        first = next(iter(bad_all.values()))
        raise IndexFileError(f"none of the {len(crops)} crops could be read, e.g. {first}")
    index = Index(vecs, [crops[i] for i in kept_all], emb.model_id(), model_path)
    stats = {"crops": len(kept_all), "skipped": len(bad_all), "bad": bad_all, "odd": odd, "seconds": seconds,
             "per_second": len(kept_all) / seconds if seconds > 0 else float("inf")}
    return index, stats
