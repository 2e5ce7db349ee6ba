"""Searching an index: query by string (QbS) or by example (QbE), and a sheet of the hits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import Levenshtein
import numpy as np

from .embedder import Embedder
from .errors import WordspotError
from .imaging import load_image, read_grey
from .index import Crop, Index, crop_image
from .metrics import Distance, distances, ranking


@dataclass
class Hit:
    rank: int
    distance: float
    crop: Crop
    lev: int | None = None  # edit distance between the query and the crop's transcription, when both known

    def as_dict(self) -> dict:
        d = round(self.distance, 4) if np.isfinite(self.distance) else None  # JSON has no NaN
        return {"rank": self.rank, "distance": d, "source": self.crop.source,
                "page": self.crop.page, "box": list(self.crop.box) if self.crop.box else None,
                "text": self.crop.text, "lev": self.lev}


def nearest(index: Index, vector: np.ndarray, k: int = 10, skip: int | None = None,
            distance: Distance = distances) -> list[Hit]:
    """The k crops closest to `vector`; `skip` leaves one index row out (the example itself)."""
    if len(index) == 0:
        return []
    dist = distance(vector[None, :], index.vectors)[0]
    if skip is not None:
        dist[skip] = np.inf
    order = ranking(dist)[: min(k, len(index) - (skip is not None))]
    return [Hit(r + 1, float(dist[i]), index.crops[i]) for r, i in enumerate(order)]


def _with_lev(hits: list[Hit], query: str, emb: Embedder) -> list[Hit]:
    q = emb.norm(query)
    for h in hits:
        h.lev = Levenshtein.distance(q, emb.norm(h.crop.text)) if h.crop.text else None
    return hits


def by_string(emb: Embedder, index: Index, word: str, k: int = 10) -> list[Hit]:
    """QbS: rank the index by distance to the string CNN's vector of `word`."""
    if not emb.norm(word):
        raise WordspotError(f"query {word!r} is empty once normalised (the model compares "
                            f"{'lower-case ' if emb.config.lowercase else ''}"
                            f"{'letters and digits' if emb.config.alnum_only else 'text'})")
    index.check_model(emb)
    return _with_lev(nearest(index, emb.embed_strings([word])[0], k, distance=emb.string_distances), word, emb)


def by_example(emb: Embedder, index: Index, image: str | Path, box: tuple[int, int, int, int] | None = None,
               k: int = 10) -> list[Hit]:
    """QbE: rank the index by distance to the image CNN's vector of an example crop.

    When the example is itself in the index it is left out of its own ranking.
    """
    index.check_model(emb)
    height = emb.config.image_height
    img = crop_image(read_grey(image), Crop(str(image), Path(image).stem, box), height) if box else load_image(image, height)
    vec = emb.embed_images([img])[0]
    same = [i for i, c in enumerate(index.crops) if Path(c.source).resolve() == Path(image).resolve() and c.box == box]
    hits = nearest(index, vec, k, skip=same[0] if same else None, distance=emb.image_distances)
    text = index.crops[same[0]].text if same else ""
    return _with_lev(hits, text, emb) if text else hits


def contact_sheet(hits: list[Hit], path: str | Path, height: int = 64, width: int = 360) -> None:
    """Draw the hit crops in rank order with rank and distance, as one PNG."""
    row_h = height + 24
    sheet = np.full((max(1, len(hits)) * row_h, width), 255, np.uint8)
    for r, h in enumerate(hits):
        try:
            ink = crop_image(read_grey(h.crop.source), h.crop, height)
        except WordspotError:
            ink = np.zeros((height, height), np.float32)
        img = (255 * (1 - ink)).astype(np.uint8)[:, : width - 8]
        y = r * row_h
        label = f"#{h.rank}  d={h.distance:.2f}  {h.crop.text}"
        cv2.putText(sheet, label, (4, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0, 1, cv2.LINE_AA)
        sheet[y + 20:y + 20 + height, 4:4 + img.shape[1]] = img
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet):
        raise WordspotError(f"{path}: cannot write the sheet (use a .png name in a writable folder)")
