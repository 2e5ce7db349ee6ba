"""Word-crop indexes: collect crops from a source, embed them, save and load them atomically."""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .datasets import WordSample
from .embedder import Embedder
from .errors import WordspotError
from .imaging import ImageError, normalise, read_grey
from .progress import Reporter

INDEX_FORMAT = 2  # 2: PHOC models store attribute logits (1 held unit probabilities)
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


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
def _find_image(stem_path: Path) -> Path | None:
    for ext in IMAGE_EXTS:
        for cand in (stem_path.with_suffix(ext), stem_path.with_suffix(ext.upper())):
            if cand.exists():
                return cand
    return None


def boxes_file_crops(path: str | Path) -> list[Crop]:
    """A page's word boxes: lines `x1 y1 x2 y2 [transcription]` beside an image of the same name."""
    path = Path(path)
    image = _find_image(path)
    if image is None:
        raise WordspotError(f"{path}: no page image of the same name beside it ({', '.join(sorted(IMAGE_EXTS))})")
    crops = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(maxsplit=4)
        try:
            x1, y1, x2, y2 = (int(float(v)) for v in parts[:4])
        except ValueError:
            raise WordspotError(f"{path}:{n}: expected 'x1 y1 x2 y2 [transcription]', got {line!r}") from None
        if x2 <= x1 or y2 <= y1:
            raise WordspotError(f"{path}:{n}: empty box {x1} {y1} {x2} {y2}")
        crops.append(Crop(str(image), image.stem, (x1, y1, x2, y2), parts[4].strip() if len(parts) > 4 else ""))
    return crops


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def page_xml_crops(path: str | Path) -> list[Crop]:
    """PAGE XML: each Word's Coords polygon, cropped to its bounding box, with its TextEquiv."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise WordspotError(f"{path}: not valid XML ({e})") from None
    page = next((el for el in root.iter() if _local(el.tag) == "Page"), None)
    if page is None or not page.get("imageFilename"):
        raise WordspotError(f"{path}: no Page element with an imageFilename")
    image = path.parent / page.get("imageFilename")
    crops = []
    for word in (el for el in root.iter() if _local(el.tag) == "Word"):
        coords = next((c for c in word if _local(c.tag) == "Coords"), None)
        if coords is None or not coords.get("points"):
            raise WordspotError(f"{path}: Word {word.get('id', '?')} has no Coords points")
        try:
            pts = np.array([[float(v) for v in p.split(",")] for p in coords.get("points").split()])
        except ValueError:
            raise WordspotError(f"{path}: Word {word.get('id', '?')} has malformed Coords points") from None
        (x1, y1), (x2, y2) = pts.min(0).astype(int), np.ceil(pts.max(0)).astype(int)
        text = ""
        equiv = [el for el in word if _local(el.tag) == "TextEquiv"]
        if equiv:
            uni = next((u for u in equiv[0] if _local(u.tag) == "Unicode"), None)
            text = (uni.text or "").strip() if uni is not None else ""
        crops.append(Crop(str(image), image.stem, (int(x1), int(y1), int(x2), int(y2)), text))
    return crops


def collect_crops(paths: list[str | Path]) -> list[Crop]:
    """Crops from files and folders: word images, page images with a boxes .txt, PAGE .xml files.

    In a folder, an image with a .txt or .xml of the same name is a page; other images are words.
    """
    crops: list[Crop] = []
    for p in map(Path, paths):
        if not p.exists():
            raise WordspotError(f"{p}: no such file or folder")
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        pages = {f.with_suffix("") for f in files if f.suffix.lower() in (".txt", ".xml")}
        for f in files:
            ext = f.suffix.lower()
            if ext == ".txt" and (p.is_file() or _find_image(f)):
                crops += boxes_file_crops(f)
            elif ext == ".xml":
                crops += page_xml_crops(f)
            elif ext in IMAGE_EXTS and f.with_suffix("") not in pages:
                crops.append(Crop(str(f), f.stem))
    if not crops:
        raise WordspotError(f"no word images, box files or PAGE XML found in {', '.join(map(str, paths))}")
    return crops


def dataset_crops(samples: list[WordSample]) -> list[Crop]:
    return [Crop(s.path, s.page, s.box, s.text) for s in samples]


def crop_image(page: np.ndarray, crop: Crop, height: int) -> np.ndarray:
    """Cut `crop` out of its (already read) grey image and normalise it for the network."""
    if crop.box is not None:
        x1, y1, x2, y2 = crop.box
        h, w = page.shape[:2]
        page = page[max(0, y1):min(h, y2), max(0, x1):min(w, x2)]
        if page.size == 0:
            raise ImageError(f"{crop.source}: box {crop.box} lies outside the {w}x{h} image")
    return normalise(page, height)


def load_crops(crops: list[Crop], height: int) -> tuple[list[int], list[np.ndarray], dict[str, str]]:
    """Normalised images of the readable crops (their positions), and why the others were skipped.

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
            images.append(crop_image(page, c, height))
            kept.append(i)
        except ImageError as e:
            bad[c.source if c.box is None else f"{c.source} {c.box}"] = str(e)
    return kept, images, bad


# ---- the index -------------------------------------------------------------------------------
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
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getvalue())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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
        crops = [Crop(c["source"], c["page"], tuple(c["box"]) if c["box"] else None, c["text"]) for c in meta["crops"]]
        return cls(vectors, crops, meta["model_id"], meta.get("model_path", ""))

    def check_model(self, emb: Embedder) -> None:
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
    vectors, kept_all, bad_all = [], [], {}
    for start in range(0, len(crops), batch_size):
        part = crops[start:start + batch_size]
        kept, images, bad = load_crops(part, emb.config.image_height)
        if images:
            vectors.append(emb.embed_images(images))
        kept_all += [start + k for k in kept]
        bad_all.update(bad)
        rep.advance(len(part))
    rep.stop()
    seconds = time.time() - t0
    vecs = np.concatenate(vectors) if vectors else np.zeros((0, emb.dim), np.float32)
    index = Index(vecs, [crops[i] for i in kept_all], emb.model_id(), model_path)
    stats = {"crops": len(kept_all), "skipped": len(bad_all), "bad": bad_all, "seconds": seconds,
             "per_second": len(kept_all) / seconds if seconds > 0 else float("inf")}
    return index, stats
