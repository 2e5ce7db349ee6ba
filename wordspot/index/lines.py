"""Line indexes: each text line's CTC log-probabilities and reading, read once by a line reader, searched for
any keyword without the model (search/line_query.py). A folder: line-index.json (what it is, the alphabet,
each line's file, page, box, geometry and reading) and logprobs.npy (every line's frames, float16, one after
another)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from wordspot.data import Crop
from wordspot.errors import WordspotError
from wordspot.files import atomic_path, atomic_write_text
from wordspot.progress import Reporter

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
                            "frames": len(lp), "reading": reader.transcribe(lp)})
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
        "kind": "lines", "format": 2, "model_id": reader.model_id(), "model_path": model_path,
        "alphabet": reader.alphabet.symbols, "lines": records}))  # written last: the index is whole
    return {"lines": len(records), "skipped": skipped, "seconds": time.time() - started}


class LineIndex:
    """A line index opened: its checked records and its memory-mapped log-probabilities."""

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
        texts = [r.get("reading") for r in self.records]  # format 1 kept none
        self.readings: list[str] | None = texts if all(isinstance(t, str) for t in texts) else None

    def __len__(self) -> int:
        return len(self.records)

    def line(self, i: int) -> Crop:
        r = self.records[i]
        return Crop(r["source"], r["page"], tuple(r["box"]) if r["box"] else None, r["text"])

    def logprobs_of(self, rows) -> list[np.ndarray]:
        """The (frames, classes) log-probabilities of lines `rows`, as stored (float16)."""
        return [self.logprobs[self.offsets[i]:self.offsets[i + 1]] for i in rows]
