"""Line indexes: each text line's CTC log-probabilities and reading, read once by a line reader, searched for
any keyword without the model (search/line_query.py).

A folder: line-index.json (what it is, the alphabet, each line's file, page, box, geometry and reading) and
the frames' log-probabilities. A reader is sure of most frames: a class or two hold nearly all the
probability. So each frame keeps only the classes within KEEP_WITHIN nats of its best (kept.npy: how many;
classes.npy and logp.npy: which, and their log-probabilities, one frame after another) and one value for all
the others (rest.npy: the likeliest of them, so a keyword never scores lower than with every class kept).
Format 2 indexes kept every class (logprobs.npy) and are still read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from wordspot.data import Crop
from wordspot.errors import WordspotError
from wordspot.files import atomic_path, atomic_write_text
from wordspot.progress import Reporter

META, LOGPROBS = "line-index.json", "logprobs.npy"
KEPT, CLASSES, LOGP, REST = "kept.npy", "classes.npy", "logp.npy", "rest.npy"
FILES = (META, LOGPROBS, KEPT, CLASSES, LOGP, REST)
FORMAT = 3
KEEP_WITHIN = 12.0  # nats below a frame's best class: further down, a class changes no ranking (chosen on
# validation lines, benchmarks/README.md)
MAX_KEPT = 255  # classes a frame keeps at most (its count is one byte)
MAX_META = 256 * 2**20  # a million lines' records; refused unread beyond


def is_line_index(path: str | Path) -> bool:
    return (Path(path) / META).is_file()


def sparse_frames(lp: np.ndarray, within: float = KEEP_WITHIN) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                         np.ndarray]:
    """A line's (frames, classes) log-probabilities as each frame's count of kept classes, the kept classes
    and their log-probabilities (likeliest first), and the value every other class of the frame gets."""
    order = np.argsort(-lp, axis=1, kind="stable")
    ranked = np.take_along_axis(lp, order, 1)
    kept = np.minimum((ranked >= ranked[:, :1] - within).sum(1), min(MAX_KEPT, lp.shape[1]))
    rest = ranked[np.arange(len(lp)), np.minimum(kept, lp.shape[1] - 1)]  # nothing left over: unused
    mask = np.arange(lp.shape[1])[None] < kept[:, None]
    kind = np.uint8 if lp.shape[1] <= 256 else np.uint16
    return kept.astype(np.uint8), order[mask].astype(kind), ranked[mask].astype(np.float16), rest.astype(np.float16)


def dense_frames(kept: np.ndarray, classes: np.ndarray, logp: np.ndarray, rest: np.ndarray,
                 n_classes: int) -> np.ndarray:
    """The (frames, classes) log-probabilities sparse_frames keeps, every class not kept given the rest."""
    out = np.repeat(np.asarray(rest, np.float32)[:, None], n_classes, 1)
    out[np.repeat(np.arange(len(kept)), kept), classes] = logp
    return out


def write_line_index(out: str | Path, records: list[dict], logps: list[np.ndarray], meta: dict,
                     within: float = KEEP_WITHIN) -> None:
    """Write the line index `out`: `records` (one a line) and `meta` to its JSON, the lines' log-probabilities
    `logps` as kept frames."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / META).unlink(missing_ok=True)  # until the new one is written, the folder is no index at all
    (out / LOGPROBS).unlink(missing_ok=True)  # an older format's
    parts = [sparse_frames(lp, within) for lp in logps]
    for n, name in enumerate((KEPT, CLASSES, LOGP, REST)):
        with atomic_path(out / name) as tmp, open(tmp, "wb") as f:
            np.save(f, np.concatenate([p[n] for p in parts]), allow_pickle=False)
    atomic_write_text(out / META, json.dumps({"kind": "lines", "format": FORMAT, **meta, "kept_within": within,
                                              "lines": records}))  # written last: the index is whole


def build_line_index(reader, lines: list[Crop], out: str | Path, model_path: str = "",
                     reporter: Reporter | None = None, chunk: int = 64, within: float = KEEP_WITHIN) -> dict:
    """Read every line with `reader` and write the line index `out`; returns counts (lines, skipped, seconds)."""
    import time

    from wordspot.model.linereader import load_lines  # building reads with the model: PyTorch is loaded anyway
    out = Path(out)
    if out.exists() and not (out.is_dir() and all(f.name.startswith((*FILES, ".")) for f in out.iterdir())):
        raise WordspotError(f"--out {out}: exists and is not a line index; give a new folder")
    rep, started = reporter or Reporter(), time.time()
    rep.start("index lines", len(lines))
    records, logps, skipped = [], [], {}
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
            logps.append(lp)
        rep.advance(len(lines[i:i + chunk]))
    rep.stop()
    if not records:
        raise WordspotError(f"no readable line image: {next(iter(skipped.values()), 'none given')}")
    write_line_index(out, records, logps, {"model_id": reader.model_id(), "model_path": model_path,
                                           "alphabet": reader.alphabet.symbols}, within)
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
            self.model_id, self.model_path = str(meta["model_id"]), str(meta.get("model_path") or "")
            frames = np.array([int(r["frames"]) for r in self.records], np.int64)
            if len(frames) and frames.min() < 1:
                raise ValueError("a line of no frames")
            self.offsets = np.concatenate([[0], np.cumsum(frames)])
            self._load(int(meta.get("format", 1)), len(self.symbols) + 1)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise WordspotError(f"{self.path}: damaged line index ({str(e)[:100]}); build it again with "
                                f"`wordspot index`") from None
        texts = [r.get("reading") for r in self.records]  # format 1 kept none
        self.readings: list[str] | None = texts if all(isinstance(t, str) for t in texts) else None

    def _load(self, fmt: int, n_classes: int) -> None:
        def load(name: str) -> np.ndarray:
            return np.load(self.path / name, mmap_mode="r", allow_pickle=False)
        frames = int(self.offsets[-1])
        if fmt < 3:
            self.dense = load(LOGPROBS)
            if self.dense.shape != (frames, n_classes):
                raise ValueError(f"log-probabilities of shape {self.dense.shape} for {frames} frames")
            return
        self.dense = None
        self.kept, self.classes, self.logp, self.rest = (load(n) for n in (KEPT, CLASSES, LOGP, REST))
        if (self.kept.dtype != np.uint8 or self.classes.dtype not in (np.uint8, np.uint16)
                or self.logp.dtype != np.float16 or self.rest.dtype != np.float16):
            raise ValueError("kept frames of the wrong types")
        if self.kept.shape != (frames,) or self.rest.shape != (frames,) or self.classes.shape != self.logp.shape:
            raise ValueError(f"kept frames of shapes {self.kept.shape}, {self.classes.shape}, {self.logp.shape}, "
                             f"{self.rest.shape} for {frames} frames")
        per_line = np.add.reduceat(self.kept, self.offsets[:-1], dtype=np.int64) if frames else np.zeros(0, np.int64)
        self.kept_offsets = np.concatenate([[0], np.cumsum(per_line)])
        if self.kept_offsets[-1] != len(self.classes) or (len(self.classes) and self.classes.max() >= n_classes):
            raise ValueError("kept classes do not match their counts or the alphabet")

    def __len__(self) -> int:
        return len(self.records)

    def line(self, i: int) -> Crop:
        r = self.records[i]
        return Crop(r["source"], r["page"], tuple(r["box"]) if r["box"] else None, r["text"])

    def logprobs_of(self, rows) -> list[np.ndarray]:
        """The (frames, classes) log-probabilities of lines `rows` (every class not kept given its frame's
        rest)."""
        if self.dense is not None:
            return [self.dense[self.offsets[i]:self.offsets[i + 1]] for i in rows]
        n, o, z = len(self.symbols) + 1, self.offsets, self.kept_offsets
        return [dense_frames(self.kept[o[i]:o[i + 1]], self.classes[z[i]:z[i + 1]], self.logp[z[i]:z[i + 1]],
                             self.rest[o[i]:o[i + 1]], n) for i in rows]
