"""FKI IAM-HistDB text lines: data/line_images_normalized/ with ground_truth/transcription.txt (`LINE-ID
w-o-r-d|w-o-r-d`), the splits' line IDs, and each split's keywords.txt."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wordspot.data.formats.base import build, dedupe, images_check, read_lines
from wordspot.data.sample import Crop, DataError, Source
from wordspot.data.splits import choose_split, parent, subsets_by_split
from wordspot.data.text import decode_fki

TRANSCRIPTION = Path("ground_truth") / "transcription.txt"
LINE_IMAGES = Path("data") / "line_images_normalized"


def _transcriptions(path: Path, problems: list[str]) -> dict[str, list[str]]:
    """Line ID -> its words as FKI tokens (`O-r-d-e-r-s-s_pt`), from a transcription file."""
    pairs, bad = [], []
    for n, line in enumerate(read_lines(path), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) > 2:
            bad.append((n, line))
            continue
        pairs.append((parts[0], [w for w in parts[1].split("|") if w] if len(parts) == 2 else []))
    if bad:
        raise DataError(f"{path}:{bad[0][0]}: expected 'LINE-ID w-o-r-d|w-o-r-d', got {bad[0][1]!r}"
                        f"{f' ({len(bad)} such lines)' if len(bad) > 1 else ''}")
    lines = dedupe(pairs, str(path), problems)
    empty = [i for i, words in lines.items() if not words]
    if empty:
        problems.append(f"{path}: {len(empty)} line(s) without words left out; first {empty[0]}")
    return {i: words for i, words in lines.items() if words}


def read_keywords(folder: Path, problems: list[str], known: set[str]) -> list[str]:
    """A split's keywords.txt (one FKI-coded word a line), saying how many occur in no line at all."""
    path = folder / "keywords.txt"
    if not path.is_file():
        return []
    words = list(dict.fromkeys(w.strip() for w in read_lines(path) if w.strip()))
    absent = [w for w in words if w not in known]
    if absent:
        problems.append(f"{path}: {len(absent)} of {len(words)} keywords occur in no line of the data; "
                        f"first {absent[0]}")
    return words


def load_fki_lines(root: str | Path, split: str | None = None, sets_dir: str | None = None) -> Source:
    """The text lines of an FKI database; `split` 'none' gives one subset 'all' with every line."""
    root = Path(root)
    path, images = root / TRANSCRIPTION, root / LINE_IMAGES
    problems: list[str] = []
    if not path.is_file():
        raise DataError(f"{root}: no {TRANSCRIPTION} (the line transcriptions)")
    words = _transcriptions(path, problems)
    paths = {lid: images / f"{lid}.png" for lid in words}
    missing = images_check(images, paths, path, problems, what="transcribed lines")
    lines = {lid: Crop(str(paths[lid]), parent(lid), None, " ".join(decode_fki(w) for w in ws))
             for lid, ws in words.items() if lid not in missing}
    tokens = {lines[lid].key: ws for lid, ws in words.items() if lid not in missing}
    raw = [w for ws in tokens.values() for w in ws]  # FKI labels: their special tokens are counted
    if split == "none":
        return build(root.name, "fki-lines", lines, {"all": list(words)}, problems, tokens=tokens, raw_labels=raw)
    name, folder = choose_split(root, split, sets_dir)
    subsets = subsets_by_split(folder, list(words), path, problems)
    keywords = read_keywords(folder, problems, {w for ws in words.values() for w in ws})
    return build(f"{root.name}/{name}", "fki-lines", lines, subsets, problems, tokens=tokens, keywords=keywords,
                 raw_labels=raw)


def word_positions(root: str | Path, lines: list[Crop]) -> dict[str, list[tuple[str, int, int]]]:
    """Where each word of each line is, from the database's word images (exact crops of its line images,
    found by template matching): line key -> [(FKI token, x1, x2)]. Lines whose words are missing are left
    out; used to measure where a line reader puts a keyword."""
    import cv2

    from wordspot.data.imaging import read_grey
    root = Path(root)
    labels = {}
    for line in read_lines(root / "ground_truth" / "word_labels.txt"):
        parts = line.split()
        if len(parts) == 2:
            labels[parts[0]] = parts[1]
    by_line: dict[str, list[str]] = {}
    for wid in labels:
        by_line.setdefault(parent(wid), []).append(wid)
    out = {}
    for line in lines:  # FKI lines are whole images (no box): the key is the image file
        lid = Path(line.source).stem
        page = read_grey(line.source).astype(np.float32)
        found = []
        for wid in sorted(by_line.get(lid, [])):
            path = root / "data" / "word_images_normalized" / f"{wid}.png"
            if not path.is_file():
                continue
            word = read_grey(str(path)).astype(np.float32)
            if word.shape[0] != page.shape[0] or word.shape[1] > page.shape[1]:
                continue
            x = int(cv2.minMaxLoc(cv2.matchTemplate(page, word, cv2.TM_SQDIFF))[2][0])
            found.append((labels[wid], x, x + word.shape[1]))
        if found:
            out[line.key] = found
    return out
