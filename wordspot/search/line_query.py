"""Search a line index: the lines most likely to hold a keyword, where in each it is, and pictures of them.

Scoring a keyword in a line walks its every frame (search/lines.py). Up to SCAN_ALL lines every query does
that for every line; in a larger index the lines' readings first name the lines worth it
(search/readings.py), unless the search is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wordspot.data import Crop
from wordspot.data.imaging import ImageError, crop_part, read_grey
from wordspot.errors import WordspotError
from wordspot.index.lines import LineIndex
from wordspot.model.lineframes import span_columns
from wordspot.search.lines import keyword_scores, writable
from wordspot.search.readings import Readings

CANDIDATES = 200  # lines a query scores in a large index, found through their readings
SCAN_ALL = 2000  # up to this many lines, every query scores every line: exact, and fast enough


@dataclass
class LineHit:
    rank: int
    score: float  # about 0: the reader's own reading holds the keyword; lower: it had to be bent further
    line: Crop  # the line (its image, page, box on the page, transcription when known)
    box: tuple[int, int, int, int] | None  # the keyword (x1, y1, x2, y2) on the line's image (its page when
    # the line is a box on one), when placed
    row: int = -1  # the line's place in its index

    @property
    def where(self) -> str:
        """The line's file name, and its box on the page when it has one."""
        box = self.line.box
        return Path(self.line.source).name + (" " + " ".join(map(str, box)) if box else "")

    def as_dict(self) -> dict:
        return {"rank": self.rank, "score": self.score, "row": self.row, "line": self.line.source,
                "page": self.line.page,
                "line_box": list(self.line.box) if self.line.box else None,
                "box": list(self.box) if self.box else None, "text": self.line.text}


class LineSearcher:
    """A line index opened for search: keyword queries need no model, only the stored log-probabilities."""

    def __init__(self, index: LineIndex) -> None:
        self.index = index
        self.readings = Readings(index.readings, index.symbols) if index.readings is not None else None

    def __len__(self) -> int:
        return len(self.index)

    def shortfall(self, hits: list[LineHit], k: int) -> str:
        """What to tell a user given fewer than k hits (empty when none are missing)."""
        if len(hits) >= min(k, len(self)):
            return ""
        return f"{len(hits)} line(s) read near it; exact search ranks all {len(self):,} lines"

    @property
    def approximate(self) -> bool:
        """Whether a query scores only the lines whose readings come near it (else every line)."""
        return self.readings is not None and len(self.index) > SCAN_ALL

    def search(self, keyword: str, k: int = 10, fold: bool = True, exact: bool = False,
               chunk: int = 2048) -> list[LineHit]:
        """The k lines most likely to hold `keyword` as a word, and where in each it is: in a large index,
        among the lines whose readings come nearest the keyword (search/readings.py) unless `exact`."""
        index = self.index
        if not writable(index.symbols, keyword, fold):
            raise WordspotError(f"{keyword!r}: the line reader's alphabet cannot write it")
        rows = (self.readings.candidates(keyword, fold, max(k, CANDIDATES)) if self.approximate and not exact
                else np.arange(len(index)))
        scores = np.full(len(rows), np.nan)
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            scores[start:start + len(part)] = keyword_scores(index.logprobs_of(part), index.symbols, keyword, fold,
                                                             spans=False)[0]
        top = rows[np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")[:k]]
        found, spans = keyword_scores(index.logprobs_of(top), index.symbols, keyword, fold)  # where: the k only
        return [LineHit(n + 1, float(found[n]), index.line(int(i)), self._box(int(i), spans[n]), int(i))
                for n, i in enumerate(top)]

    def _box(self, i: int, span: tuple[int, int] | None) -> tuple[int, int, int, int] | None:
        if span is None:
            return None
        r = self.index.records[i]
        x1, x2 = span_columns(span, r["frames"], r["width"], r["lo"], r["scale"])
        if r["box"]:  # a line cut from a page: the box on the page
            bx1, by1, bx2, by2 = r["box"]
            return int(bx1 + x1), by1, int(bx1 + x2), by2
        return int(x1), 0, int(x2), int(r["height"])


def index_reader(index: LineIndex, model: str | Path | None = None, device: str = "cpu"):
    """The line reader that built `index` (or `model`, when it has moved), to read examples with; PyTorch is
    loaded only here."""
    from wordspot.model.linereader import LineReader
    from wordspot.model.modelfile import is_line_reader
    path = str(model or index.model_path)  # "" when neither names one
    if not path or not is_line_reader(path):
        raise WordspotError(f"{index.path}: an example needs the line reader that built the index "
                            f"({path or 'not named'}); give it with --model")
    reader = LineReader.load(path, device)
    if reader.model_id() != index.model_id:
        raise WordspotError(f"{path}: not the line reader that built {index.path}")
    return reader


def read_example(reader, grey: np.ndarray) -> str:
    """What `reader` reads in an example word image (grey pixels), punctuation left out: query by example
    over a line index searches for that, as if it were typed (folded, as typed words are)."""
    from wordspot.data.text import TextNorm
    from wordspot.model.linereader import line_image
    logp = reader.logprobs([line_image(grey, reader.config.image_height).image])[0]
    norm = TextNorm(True, True)  # a symbol that folds to nothing (punctuation, space) parts words
    reading = " ".join("".join(ch if norm(ch) else " " for ch in reader.transcribe(logp)).split())
    if not reading:
        raise WordspotError("the line reader reads nothing in the example; give a word image (or a --box on one)")
    return reading


def line_hit_rows(query: str, hits: list[LineHit]) -> list[dict]:
    """Rows of the CSV export of a word index's hits (search/query.py's fields) for line hits: the file is the
    line's, the box the keyword's (x1 y1 x2 y2), the text the line's transcription."""
    return [{"query": query, "rank": h.rank, "score": h.score, "distance": "", "file": Path(h.line.source).name,
             "where": h.where,
             "page": h.line.page, "box": " ".join(map(str, h.box)) if h.box else "", "text": h.line.text,
             "source": h.line.source} for h in hits]


def line_page_xml(query: str, hits: list[LineHit], folder: str | Path) -> list[Path]:
    """Write line hits as PAGE XML, one file a page (search/page_export.py): each hit its line, holding the
    keyword's box as a Word. The confidence is exp(score), the share of the best reading's probability the
    keyword's path keeps: 1 when the reading holds it, not a calibrated probability."""
    from wordspot.search.page_export import Placed, write_page_xml
    return write_page_xml(query, [Placed(h.line.source, h.rank, h.line.box, h.box, float(np.exp(min(h.score, 0.0))),
                                         f"score:{h.score:.6g};") for h in hits], folder)


def boxed_line(page: np.ndarray, line: Crop, box: tuple[int, int, int, int] | None) -> np.ndarray:
    """The line's pixels (cut from its grey page image when it is a box on one), in colour, with the keyword's
    `box` (page coordinates, as hits give it) drawn red."""
    import cv2
    x0, y0 = (line.box[0], line.box[1]) if line.box else (0, 0)
    out = cv2.cvtColor(crop_part(page, line), cv2.COLOR_GRAY2BGR)
    if box:
        cv2.rectangle(out, (box[0] - x0, box[1] - y0), (box[2] - x0, box[3] - y0 - 1), (0, 0, 220), 3)
    return out


def line_sheet(hits: list[LineHit], path: str | Path, title: str = "", width: int = 1200) -> list[str]:
    """Draw the hit lines in rank order, the keyword boxed in each, under a title, as one PNG; returns the
    lines whose image could not be read (named on the sheet)."""
    import cv2

    from wordspot.data.text import readable
    font, row_h, top = cv2.FONT_HERSHEY_SIMPLEX, 110, 30
    sheet = np.full((top + max(1, len(hits)) * row_h, width, 3), 255, np.uint8)  # colour: the box is red
    cv2.putText(sheet, (title or "hits")[:200], (4, 20), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    missing = []
    for r, h in enumerate(hits):
        y = top + r * row_h
        label = f"#{h.rank}  score {h.score:.3g}  {Path(h.line.source).name}  {readable(h.line.text)}"
        cv2.putText(sheet, label[:160], (4, y + 14), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        try:
            page = read_grey(h.line.source)
        except ImageError as e:
            missing.append(str(e))
            continue
        line = boxed_line(page, h.line, h.box)
        scale = min((row_h - 24) / line.shape[0], (width - 8) / line.shape[1])
        small = cv2.resize(line, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        sheet[y + 20:y + 20 + small.shape[0], 4:4 + small.shape[1]] = small
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet):
        raise WordspotError(f"{path}: cannot write the sheet (use a .png name in a writable folder)")
    return missing
