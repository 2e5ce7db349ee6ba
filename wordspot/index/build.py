"""Word-crop indexes: collect crops from sources, embed them, write them to an index folder (store.py)."""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from wordspot.data.crops import collect_crops, dataset_crops
from wordspot.data.imaging import ImageError, crop_part, degenerate, normalise, read_grey
from wordspot.data.sample import Crop
from wordspot.index.store import IndexFileError, IndexStore, check_model, open_shards
from wordspot.index.views import PageViews
from wordspot.index.writer import IndexWriter
from wordspot.model.embedder import Embedder
from wordspot.progress import Reporter
from wordspot.search.backend import ANN_MIN, build_approximate

__all__ = ["Crop", "Index", "IndexFileError", "IndexStore", "build_index", "collect_crops", "dataset_crops",
           "index_crops", "open_index", "open_shards", "write_index"]


def load_crops(crops: list[Crop], height: int, odd: dict[str, str] | None = None,
               on_page: Callable[[str, np.ndarray], None] | None = None,
               ) -> tuple[list[int], list[np.ndarray], dict[str, str]]:
    """Normalised images of the readable crops (their positions), and why the others were skipped.
    Crops that read but look degenerate (tiny, blank, extreme aspect) are kept and noted in `odd`.
    `on_page(source, image)` is called once for each page read for crops with a box.

    Crops of one page should be adjacent: a page is read once for all its words.
    """
    kept, images, bad = [], [], {}
    current, page, page_error = None, None, ""
    for i, c in enumerate(crops):
        if c.source != current:
            current, page, page_error = c.source, None, ""
            try:
                page = read_grey(c.source)
                if on_page is not None and c.box is not None:
                    on_page(c.source, page)
            except ImageError as e:
                page_error = str(e)
        try:
            if page is None:
                raise ImageError(page_error)
            part = crop_part(page, c)
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
@dataclass
class Index:
    """An index in memory, as `build_index` makes it (evaluation uses one). `IndexStore` is an
    index on disk; both answer the same questions (`crops_at`, `crop_readings`, `find`, `check_model`)."""

    vectors: np.ndarray  # (N, dim) float32
    crops: list[Crop]
    model_id: str
    model_path: str = ""
    readings: list[str] | None = None  # what a reading model read in each crop

    def __len__(self) -> int:
        return len(self.crops)

    def crops_at(self, ids: list[int]) -> list[Crop]:
        return [self.crops[int(i)] for i in ids]

    def crop_readings(self) -> list[str] | None:
        return self.readings

    def find(self, source: str | Path, box: tuple[int, int, int, int] | None) -> int | None:
        path = os.path.abspath(source)
        return next((i for i, c in enumerate(self.crops) if c.box == box and os.path.abspath(c.source) == path), None)

    def check_model(self, emb: Embedder) -> None:
        check_model(self.vectors.shape[1], self.model_id, emb)

    def extend(self, other: "Index") -> "Index":
        if other.model_id != self.model_id:
            raise IndexFileError(f"cannot append: the index was built by model {self.model_id}, "
                                 f"the new crops by {other.model_id}")
        both = self.readings is not None and other.readings is not None
        return Index(np.concatenate([self.vectors, other.vectors]), self.crops + other.crops,
                     self.model_id, self.model_path, self.readings + other.readings if both else None)


def open_index(path: str | Path) -> IndexStore:
    """An index folder written by `write_index` or `index_crops`, ready to search."""
    return IndexStore(path)


def _fingerprint(model_id: str, dtype: str, append: bool, crops: list[Crop]) -> str:
    """Names a job: a rerun with the same model, options and crops continues it."""
    h = hashlib.sha256(f"{model_id}\t{dtype}\t{append}\n".encode())
    for c in crops:
        h.update(f"{os.path.abspath(c.source)}\t{c.box}\n".encode())
    return h.hexdigest()[:24]


def write_index(index: Index, path: str | Path, append: bool = False, dtype: str = "float32",
                method: str = "") -> IndexStore:
    """Save an index built in memory to the folder `path` (with `append`, add it to the index
    there; crops already in it are skipped). Returns the index as saved."""
    crops = index.crops
    with IndexWriter(path, model_id=index.model_id, model_path=index.model_path, method=method,
                     dim=index.vectors.shape[1], dtype=dtype, append=append,
                     fingerprint=_fingerprint(index.model_id, dtype, append, crops)) as w:
        keep = [i for i, c in enumerate(crops) if not append or c.box not in w.existing(c.source)]
        w.add(index.vectors[keep], [crops[i] for i in keep], len(crops),
              None if index.readings is None else [index.readings[i] for i in keep])
        w.commit()
    return IndexStore(path)


def index_crops(emb: Embedder, crops: list[Crop], path: str | Path, *, model_path: str = "", append: bool = False,
                dtype: str = "float32", ann: bool | None = None, reporter: Reporter | None = None,
                chunk: int = 1024) -> dict:
    """Embed crops straight into the index folder `path`, a chunk at a time (the next chunk's
    images are read and normalised in a thread while the network embeds this one). A run that is
    killed leaves the previous index intact; the same command run again continues it.

    With `append`, crops already in the index (same file and box) are skipped. `ann`: build an
    approximate search too (None: from ANN_MIN crops on, or when the index had one). Returns stats.
    """
    rep = reporter or Reporter()
    t0 = time.time()
    model_id = emb.model_id()  # a hash of every weight: once
    fingerprint = _fingerprint(model_id, dtype, append, crops)
    with IndexWriter(path, model_id=model_id, model_path=model_path, method=emb.config.method,
                     dim=emb.dim, dtype=dtype, append=append, fingerprint=fingerprint) as w:
        resumed, skipped = w.done, 0
        if append:
            seen = {src: w.existing(src) for src in dict.fromkeys(c.source for c in crops)}  # one lookup a source
            todo = [c for c in crops if c.box not in seen[c.source]]
            skipped = len(crops) - len(todo)
        else:
            todo = crops
        if resumed:
            rep.log(f"continuing an interrupted run: {resumed} of {len(todo)} crops were already done")
        bad, odd, written = {}, {}, 0
        rep.start("index", len(todo))
        rep.advance(resumed)
        starts = list(range(resumed, len(todo), chunk))
        height = emb.config.image_height
        keep_view = PageViews(w.path).save  # the search page's thumbnails come from these, not the scans
        with ThreadPoolExecutor(1) as pool:
            pending = (pool.submit(load_crops, todo[starts[0]:starts[0] + chunk], height, odd, keep_view)
                       if starts else None)
            for n, start in enumerate(starts):
                part = todo[start:start + chunk]
                kept, images, part_bad = pending.result()
                if n + 1 < len(starts):
                    nxt = starts[n + 1]
                    pending = pool.submit(load_crops, todo[nxt:nxt + chunk], height, odd, keep_view)
                vectors, readings = emb.embed_and_read(images)
                w.add(vectors, [part[k] for k in kept], start + len(part), readings)
                bad.update(part_bad)
                written += len(kept)
                rep.advance(len(part))
        rep.stop()
        if todo and not w.rows and bad:
            raise IndexFileError(f"none of the {len(todo)} crops could be read, e.g. {next(iter(bad.values()))}")
        extra = {}
        total = w.base + w.rows
        if ann or (ann is None and (total >= ANN_MIN or w.had_ann)):
            rep.log(f"building the approximate search over {total} crops")
            extra["ann"] = build_approximate(emb, w.path, w.gen, w.vectors())
        meta = w.commit(job=fingerprint, **extra)  # names the job that made it: a finished shard is skipped
    seconds = time.time() - t0
    return {"crops": written, "skipped": len(bad), "bad": bad, "odd": odd, "seconds": seconds,
            "per_second": written / seconds if seconds > 0 else float("inf"), "total": meta["count"],
            "already_indexed": skipped, "resumed": resumed, "ann": meta.get("ann")}


def build_index(emb: Embedder, crops: list[Crop], model_path: str = "",
                reporter: Reporter | None = None, batch_size: int = 256) -> tuple[Index, dict]:
    """Embed every readable crop. Returns the index and stats (crops, skipped, seconds, per second)."""
    rep = reporter or Reporter()
    t0 = time.time()
    rep.start("index", len(crops))
    vectors, readings, kept_all, bad_all, odd = [], [], [], {}, {}
    for start in range(0, len(crops), batch_size):
        part = crops[start:start + batch_size]
        kept, images, bad = load_crops(part, emb.config.image_height, odd)
        if images:
            vecs, read = emb.embed_and_read(images)
            vectors.append(vecs)
            readings += read or []
        kept_all += [start + k for k in kept]
        bad_all.update(bad)
        rep.advance(len(part))
    rep.stop()
    seconds = time.time() - t0
    vecs = np.concatenate(vectors) if vectors else np.zeros((0, emb.dim), np.float32)
    if crops and not kept_all:
        first = next(iter(bad_all.values()))
        raise IndexFileError(f"none of the {len(crops)} crops could be read, e.g. {first}")
    index = Index(vecs, [crops[i] for i in kept_all], emb.model_id(), model_path, readings if emb.reads else None)
    stats = {"crops": len(kept_all), "skipped": len(bad_all), "bad": bad_all, "odd": odd, "seconds": seconds,
             "per_second": len(kept_all) / seconds if seconds > 0 else float("inf")}
    return index, stats
