"""Searching an index: query by string (QbS) or by example (QbE), and a sheet of the hits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import Levenshtein
import numpy as np

from wordspot.data.imaging import crop_part, load_image, normalise, read_grey
from wordspot.data.text import query_text
from wordspot.errors import WordspotError
from wordspot.index.store import Crop, IndexFileError
from wordspot.search.backend import load_approximate
from wordspot.search.exact import Prepared, candidates, rank, space_distances, within
from wordspot.search.radius import ReadingsVocabulary, radius_order


@dataclass
class Hit:
    rank: int
    distance: float
    crop: Crop
    lev: int | None = None  # edit distance between the query and the crop's transcription, when both known
    shard: int = 0  # which of the searched indexes holds the crop, and its row there
    row: int = -1
    score: float | None = None  # the probability that it is the word asked for (a calibrated model's)
    reading: str | None = None  # what the model read in the crop (edit-radius hits of a reading model)

    @property
    def file(self) -> str:
        return Path(self.crop.source).name

    @property
    def where(self) -> str:
        """What finds the crop again: its file's name (a word image, named by its word ID in most
        collections), or the page and the box on it."""
        if self.crop.box is None:
            return self.file
        return f"{self.crop.page} [{','.join(map(str, self.crop.box))}]"

    def as_dict(self) -> dict:
        d = round(self.distance, 6) if np.isfinite(self.distance) else None  # JSON has no NaN
        score = None if self.score is None else round(self.score, 4)
        return {"rank": self.rank, "score": score, "distance": d, "source": self.crop.source, "file": self.file,
                "where": self.where, "page": self.crop.page, "box": list(self.crop.box) if self.crop.box else None,
                "text": self.crop.text, "lev": self.lev, "shard": self.shard, "row": self.row,
                **({"reading": self.reading} if self.reading is not None else {})}


CSV_FIELDS = ("query", "rank", "score", "distance", "file", "where", "page", "box", "text", "source")


def hit_rows(query: str, hits: list[Hit]) -> list[dict]:
    """Rows for a CSV export of hits (`CSV_FIELDS`), the box as x1 y1 x2 y2."""
    return [{**{k: v for k, v in h.as_dict().items() if k in CSV_FIELDS}, "query": query,
             "box": " ".join(map(str, h.crop.box)) if h.crop.box else ""} for h in hits]


def crop_image(page: np.ndarray, crop: Crop, height: int) -> np.ndarray:
    """Cut `crop` out of its (already read) grey image and normalise it for the network."""
    return normalise(crop_part(page, crop), height)


class Searcher:
    """Searches one index, or several shards of one collection built by the same model, as one.

    Uses an index's approximate search (search/backend.py) when it has one, unless `exact`. With `warm`, keeps
    the vectors in search form in memory, for many queries (the server).
    """

    def __init__(self, emb, indexes: list, exact: bool = False, warm: bool = False) -> None:
        if not indexes:
            raise WordspotError("no index to search")
        for ix in indexes:
            try:
                ix.check_model(emb)
            except IndexFileError as e:
                raise IndexFileError(f"{getattr(ix, 'path', 'index')}: {e}") from None
        self.emb, self.indexes = emb, list(indexes)
        self.ann: list[dict] = []
        self.prepared: list[dict] = []
        self._vocabularies: dict[int, ReadingsVocabulary | None] = {}
        self._crop_readings: dict[int, list[str] | None] = {}  # each shard's, read at its first QbE by a crop
        for ix in self.indexes:
            info = {} if exact else (getattr(ix, "meta", {}).get("ann") or {})
            self.ann.append({kind: load_approximate(ix.path / v["file"], v, len(ix)) for kind, v in info.items()})
            self.prepared.append({kind: Prepared(emb, ix.vectors, kind) for kind in emb.search_kinds()
                                  if warm and kind not in self.ann[-1]})

    def __len__(self) -> int:
        return sum(len(ix) for ix in self.indexes)

    def _form(self, kind: str) -> str:
        return kind if kind in self.emb.search_kinds() else "qbs"  # LSDE: QbE shares the QbS space

    def _candidates(self, shard: int, vector: np.ndarray, form: str, n: int) -> np.ndarray:
        """The rows of one shard nearest `vector` by the search form `form`: its approximate search's, or exact."""
        ann, ix = self.ann[shard].get(form), self.indexes[shard]
        if ann is not None:
            ids = ann.candidates(self.emb, vector[None, :], form, n)[0]
            return ids[ids >= 0]
        return candidates(self.emb, ix.vectors, vector[None, :], form, n, self.prepared[shard].get(form))[0]

    def nearest(self, vector: np.ndarray, kind: str, k: int = 10, skip: tuple[int, int] | None = None,
                reading: str | None = None) -> list[Hit]:
        """The k crops closest to `vector` by the ranking `kind` ("qbs" or "qbe"); `skip` leaves
        one (shard, row) out (the example itself). `reading`: what the model read in a QbE example; it counts
        in the distance (`Rankings.example_distances`), so the crops nearest it as a typed word are candidates
        too."""
        form, n = self._form(kind), 4 * k + 32
        probes = [(form, vector)]
        if kind == "qbe" and reading and self.emb.reading_weight and self.emb.norm(reading):
            probes.append(("qbs", self.emb.embed_strings([reading])[0]))
        else:
            reading = None
        found = []
        for s, ix in enumerate(self.indexes):
            if not len(ix):
                continue
            ids = np.concatenate([self._candidates(s, v, f, n) for f, v in probes])
            skip_row = skip[1] if skip and skip[0] == s else None
            try:
                found += [(d, s, r) for r, d in rank(self.emb, ix.vectors, vector, ids, kind, k, skip_row, reading)]
            except WordspotError as e:
                raise WordspotError(f"{getattr(ix, 'path', 'index')}: {e}") from None
        found.sort()
        found = found[:k]
        crops = {}
        for s in {s for _, s, _ in found}:
            rows = [r for _, t, r in found if t == s]
            crops.update({(s, r): c for r, c in zip(rows, self.indexes[s].crops_at(rows))})
        scores = self.emb.scores(np.array([d for d, _, _ in found]), kind) if found else None
        return [Hit(i + 1, d, crops[(s, r)], shard=s, row=r, score=None if scores is None else float(scores[i]))
                for i, (d, s, r) in enumerate(found)]

    def shortfall(self, hits: list[Hit], k: int) -> str:
        """Why fewer than k hits came back ('' when k did, or the collection holds fewer)."""
        if len(hits) >= min(k, len(self) - 1) or not any(self.ann):
            return ""
        return (f"the approximate search found {len(hits)} of the {k} hits asked for (it looks in the nearest "
                f"clusters only); an exact search finds them all")

    def _with_lev(self, hits: list[Hit], query: str) -> list[Hit]:
        q = self.emb.norm(query)
        for h in hits:
            h.lev = Levenshtein.distance(q, self.emb.norm(h.crop.text)) if h.crop.text else None
        return hits

    def by_string(self, word: str, k: int = 10) -> list[Hit]:
        """QbS: rank by distance to the string CNN's vector of `word` (special tokens in brackets,
        `text.query_text`)."""
        emb = self.emb
        word = query_text(word)
        base, tilde, radius = word.rpartition("~")
        if tilde and radius.isdigit():
            return self.within(base, int(radius), k)
        if "*" in word or "?" in word:
            raise WordspotError(f"{word!r}: wildcards are not supported (the model compares whole words); "
                                f"an edit radius finds the spellings near a word: {word.strip('*?')}~2")
        if not emb.norm(word):
            raise WordspotError(f"query {word!r} is empty once normalised (the model compares "
                                f"{'lower-case ' if emb.config.lowercase else ''}"
                                f"{'letters and digits' if emb.config.alnum_only else 'text'})")
        return self._with_lev(self.nearest(emb.embed_strings([word])[0], "qbs", k), word)

    def within(self, word: str, radius: int, k: int = 10) -> list[Hit]:
        """The crops whose word is within `radius` edits of `word`, as the model's Levenshtein-shaped
        space estimates it (`word~2` typed as a query), nearest first; a hit's distance is that
        estimate. An exact scan of every shard; crops estimated beyond radius + 0.5 are left out."""
        emb = self.emb
        if not emb.ranking.edit_space:
            raise WordspotError(f"{word}~{radius}: an edit radius needs a model with an LSDE part (--method lsde "
                                f"or both); this one ranks by PHOC")
        if not emb.norm(word):
            raise WordspotError(f"query {word!r} is empty once normalised")
        if radius > 5:
            raise WordspotError(f"{word}~{radius}: an edit radius of 0 to 5")
        vec = emb.embed_strings([word])[0]
        q = emb.norm(word)
        found = []  # (sort key, shard, row, distance shown, reading)
        for s, ix in enumerate(self.indexes):
            vocabulary = self._readings(s)
            if vocabulary is None:  # no readings: the space's estimate of the edits
                found += [((d, 0, d), s, r, d, None) for r, d in within(emb, ix.vectors, vec, radius + 0.5, k)]
                continue
            rows, edits, dropped = vocabulary.near(q, radius)
            space = space_distances(emb, ix.vectors, vec, rows) if len(rows) else np.zeros(0)
            for j in radius_order(edits, dropped, space)[:k]:
                found.append(((int(edits[j]), int(dropped[j]), float(space[j])), s, int(rows[j]), float(edits[j]),
                              vocabulary.readings[int(rows[j])]))
        found = sorted(found, key=lambda f: f[0])[:k]
        hits = [Hit(i + 1, d, self.indexes[s].crops_at([r])[0], shard=s, row=r, reading=read)
                for i, (_, s, r, d, read) in enumerate(found)]
        return self._with_lev(hits, word)

    def _readings(self, shard: int) -> ReadingsVocabulary | None:
        """The readings of a shard, gathered at its first edit-radius query (None if it has none)."""
        if shard not in self._vocabularies:
            readings = self.indexes[shard].crop_readings()
            self._vocabularies[shard] = ReadingsVocabulary(readings) if readings is not None else None
        return self._vocabularies[shard]

    def reading_of(self, shard: int, row: int) -> str | None:
        """What the model read in a crop of the index (None when the index keeps no readings)."""
        if shard not in self._crop_readings:
            self._crop_readings[shard] = self.indexes[shard].crop_readings()
        readings = self._crop_readings[shard]
        return None if readings is None else readings[row]

    def by_image(self, img: np.ndarray, k: int = 10, skip: tuple[int, int] | None = None, text: str = "") -> list[Hit]:
        """QbE with a normalised word image."""
        vectors, readings = self.emb.embed_and_read([img])
        hits = self.nearest(vectors[0], "qbe", k, skip, readings[0] if readings else None)
        return self._with_lev(hits, text) if text else hits

    def by_example(self, image: str | Path, box: tuple[int, int, int, int] | None = None, k: int = 10) -> list[Hit]:
        """QbE with an example crop: a word image, or a box on a page image. When the example is
        itself indexed it is left out of its own ranking."""
        height = self.emb.config.image_height
        img = (crop_image(read_grey(image), Crop(str(image), Path(image).stem, box), height) if box
               else load_image(image, height))
        skip, text = None, ""
        for s, ix in enumerate(self.indexes):
            row = ix.find(image, box)
            if row is not None:
                skip, text = (s, row), ix.crops_at([row])[0].text
                break
        return self.by_image(img, k, skip, text)

    def by_crop(self, shard: int, row: int, k: int = 10) -> list[Hit]:
        """QbE with a crop of the index (a hit used as the next query): its stored vector."""
        if not (0 <= shard < len(self.indexes) and 0 <= row < len(self.indexes[shard])):
            raise WordspotError(f"no crop {row} in index {shard}")
        ix = self.indexes[shard]
        hits = self.nearest(np.asarray(ix.vectors[row], np.float32), "qbe", k, (shard, row), self.reading_of(shard, row))
        text = ix.crops_at([row])[0].text
        return self._with_lev(hits, text) if text else hits


def by_string(emb, index, word: str, k: int = 10) -> list[Hit]:
    """QbS over one index, exactly."""
    return Searcher(emb, [index], exact=True).by_string(word, k)


def by_example(emb, index, image: str | Path, box: tuple[int, int, int, int] | None = None,
               k: int = 10) -> list[Hit]:
    """QbE over one index, exactly (see `Searcher.by_example`)."""
    return Searcher(emb, [index], exact=True).by_example(image, box, k)


def contact_sheet(hits: list[Hit], path: str | Path, height: int = 64, width: int = 480,
                  title: str = "") -> list[str]:
    """Draw the hit crops in rank order under a title (the query), each with its rank, distance,
    where it is (file, or page and box) and transcription, as one PNG. Returns the crops whose
    image could not be read (named on the sheet, not drawn blank)."""
    from wordspot.data.text import readable
    row_h, top = height + 24, 30
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    labels = [f"#{h.rank}  {'' if h.score is None else f'score {h.score:.2f}  '}d={h.distance:.5g}  {h.where}  "
              f"{readable(h.crop.text)}" for h in hits]
    # wide enough for the longest label: a long word or path is never cut
    width = max([width] + [cv2.getTextSize(t, font, scale, 1)[0][0] + 12 for t in labels])
    sheet = np.full((top + max(1, len(hits)) * row_h, width), 255, np.uint8)
    cv2.putText(sheet, (title or "hits")[:200], (4, 20), font, 0.6, 0, 1, cv2.LINE_AA)
    missing = []
    for r, (h, label) in enumerate(zip(hits, labels)):
        y = top + r * row_h
        cv2.putText(sheet, label, (4, y + 16), font, scale, 0, 1, cv2.LINE_AA)
        try:
            ink = crop_image(read_grey(h.crop.source), h.crop, height)
        except WordspotError as e:
            missing.append(str(e))
            cv2.putText(sheet, f"image not readable: {h.crop.source}"[:120], (8, y + 20 + height // 2), font,
                        scale, 96, 1, cv2.LINE_AA)
            continue
        img = (255 * (1 - ink)).astype(np.uint8)[:, : width - 8]
        sheet[y + 20:y + 20 + height, 4:4 + img.shape[1]] = img
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet):
        raise WordspotError(f"{path}: cannot write the sheet (use a .png name in a writable folder)")
    return missing


def page_xml(query: str, hits: list[Hit], folder: str | Path) -> list[Path]:
    """Write the hits as PAGE XML, one file a page (search/page_export.py): each hit's box a TextLine holding
    a Word, its confidence the score (or 1 / (1 + distance) from a model without one)."""
    from wordspot.search.page_export import Placed, write_page_xml
    return write_page_xml(query, [Placed(h.crop.source, h.rank, h.crop.box, h.crop.box,
                                         h.score if h.score is not None else 1.0 / (1.0 + max(h.distance, 0.0)),
                                         f"distance:{h.distance:.6g};") for h in hits], folder)
