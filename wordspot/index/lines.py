"""Line indexes: each text line's CTC log-probabilities, read once by a line reader, searched for any keyword
without the model (search/lines.py). A folder: line-index.json (what it is, the alphabet, each line's file,
page, box and geometry) and logprobs.npy (every line's frames, float16, one after another)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wordspot.data import Crop
from wordspot.data.imaging import ImageError, crop_part, read_grey
from wordspot.errors import WordspotError
from wordspot.files import atomic_path, atomic_write_text
from wordspot.progress import Reporter
from wordspot.search.lines import keyword_scores, span_columns

META, LOGPROBS = "line-index.json", "logprobs.npy"
MAX_META = 256 * 2**20  # a million lines' records; refused unread beyond


def is_line_index(path: str | Path) -> bool:
    return (Path(path) / META).is_file()


def build_line_index(reader, lines: list[Crop], out: str | Path, model_path: str = "",
                     reporter: Reporter | None = None, chunk: int = 64) -> dict:
    """Read every line with `reader` and write the line index `out`; returns counts (lines, skipped, seconds)."""
    import time

    from wordspot.model.linereader import load_lines  # building reads with the model: PyTorch is loaded anyway
    out = Path(out)
    if out.exists() and not (out.is_dir() and all(f.name.startswith((META, LOGPROBS, ".")) for f in out.iterdir())):
        raise WordspotError(f"--out {out}: exists and is not a line index; give a new folder")
    rep, started = reporter or Reporter(), time.time()
    rep.start("index lines", len(lines))
    records, parts, skipped = [], [], {}
    for i in range(0, len(lines), chunk):
        batch = lines[i:i + chunk]
        kept, images, bad = load_lines(batch, reader.config.image_height)
        skipped.update(bad)
        for j, im, lp in zip(kept, images, reader.logprobs([im.image for im in images])):
            line = batch[j]
            records.append({"source": str(Path(line.source).resolve()), "page": line.page,
                            "box": list(line.box) if line.box else None, "text": line.text, "lo": im.lo,
                            "scale": im.scale, "width": im.image.shape[1], "height": im.height,
                            "frames": len(lp)})
            parts.append(lp.astype(np.float16))
        rep.advance(len(lines[i:i + chunk]))
    rep.stop()
    if not records:
        raise WordspotError(f"no readable line image: {next(iter(skipped.values()), 'none given')}")
    out.mkdir(parents=True, exist_ok=True)
    (out / META).unlink(missing_ok=True)  # until the new one is written, the folder is no index at all
    with atomic_path(out / LOGPROBS) as tmp, open(tmp, "wb") as f:
        np.save(f, np.concatenate(parts), allow_pickle=False)
    atomic_write_text(out / META, json.dumps({
        "kind": "lines", "format": 1, "model_id": reader.model_id(), "model_path": model_path,
        "alphabet": reader.alphabet.symbols, "lines": records}))  # written last: the index is whole
    return {"lines": len(records), "skipped": skipped, "seconds": time.time() - started}


@dataclass
class LineHit:
    rank: int
    score: float  # about 0: the reader's own reading holds the keyword; lower: it had to be bent further
    line: Crop  # the line (its image, page, box on the page, transcription when known)
    box: tuple[int, int, int, int] | None  # the keyword (x1, y1, x2, y2) on the line's image (its page when
    # the line is a box on one), when placed

    def as_dict(self) -> dict:
        return {"rank": self.rank, "score": self.score, "line": self.line.source, "page": self.line.page,
                "line_box": list(self.line.box) if self.line.box else None,
                "box": list(self.box) if self.box else None, "text": self.line.text}


class LineIndex:
    """A line index opened for search: keyword queries need no model, only the stored log-probabilities."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            if (self.path / META).stat().st_size > MAX_META:
                raise ValueError("index record larger than any wordspot writes")
            meta = json.loads((self.path / META).read_text(encoding="utf-8"))
            self.symbols, self.records = list(meta["alphabet"]), list(meta["lines"])
            self.model_id = str(meta["model_id"])
            self.logprobs = np.load(self.path / LOGPROBS, mmap_mode="r", allow_pickle=False)
            frames = [int(r["frames"]) for r in self.records]
            if self.logprobs.ndim != 2 or self.logprobs.shape != (sum(frames), len(self.symbols) + 1):
                raise ValueError(f"log-probabilities of shape {self.logprobs.shape} for {len(frames)} lines")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise WordspotError(f"{self.path}: damaged line index ({str(e)[:100]}); build it again with "
                                f"`wordspot index`") from None
        self.offsets = np.concatenate([[0], np.cumsum(frames)])

    def __len__(self) -> int:
        return len(self.records)

    def _line(self, i: int) -> Crop:
        r = self.records[i]
        return Crop(r["source"], r["page"], tuple(r["box"]) if r["box"] else None, r["text"])

    def search(self, keyword: str, k: int = 10, fold: bool = True, chunk: int = 2048) -> list[LineHit]:
        """The k lines most likely to hold `keyword` as a word, and where in each it is."""
        scores, spans = np.full(len(self), np.nan), [None] * len(self)
        for start in range(0, len(self), chunk):
            stop = min(len(self), start + chunk)
            lps = [np.asarray(self.logprobs[self.offsets[i]:self.offsets[i + 1]], np.float32)
                   for i in range(start, stop)]
            scores[start:stop], spans[start:stop] = keyword_scores(lps, self.symbols, keyword, fold)
        if np.isnan(scores).all():
            raise WordspotError(f"{keyword!r}: the line reader's alphabet cannot write it")
        order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")[:k]
        return [LineHit(n + 1, float(scores[i]), self._line(i), self._box(i, spans[i])) for n, i in enumerate(order)]

    def _box(self, i: int, span: tuple[int, int] | None) -> tuple[int, int, int, int] | None:
        if span is None:
            return None
        r = self.records[i]
        x1, x2 = span_columns(span, r["frames"], r["width"], r["lo"], r["scale"])
        if r["box"]:  # a line cut from a page: the box on the page
            bx1, by1, bx2, by2 = r["box"]
            return int(bx1 + x1), by1, int(bx1 + x2), by2
        return int(x1), 0, int(x2), int(r["height"])


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
        x0, y0 = (h.line.box[0], h.line.box[1]) if h.line.box else (0, 0)
        line = cv2.cvtColor(crop_part(page, h.line), cv2.COLOR_GRAY2BGR)
        if h.box:  # the keyword, in the line's own pixels
            cv2.rectangle(line, (h.box[0] - x0, h.box[1] - y0), (h.box[2] - x0, h.box[3] - y0 - 1), (0, 0, 220), 3)
        scale = min((row_h - 24) / line.shape[0], (width - 8) / line.shape[1])
        small = cv2.resize(line, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        sheet[y + 20:y + 20 + small.shape[0], 4:4 + small.shape[1]] = small
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet):
        raise WordspotError(f"{path}: cannot write the sheet (use a .png name in a writable folder)")
    return missing
