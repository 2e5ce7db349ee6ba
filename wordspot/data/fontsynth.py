"""Synthetic handwriting from fonts: words rendered in handwriting-style TrueType/OpenType fonts, distorted
as the built-in set is (synth.distort), written as a label-file data set (train.tsv, valid.tsv, test.tsv).

A starter model trained on it has never seen a collection's pages (`wordspot train --init` fine-tunes it on
a few transcribed words), as IIIT-HWS rendered words for HWNet. Fonts are the user's (Debian packages a
dozen handwriting fonts: fonts-dancingscript, fonts-dkg-handwriting, ...); a word is rendered only in fonts
that have a glyph for each of its characters.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from wordspot.data.sample import DataError
from wordspot.data.synth import distort
from wordspot.progress import Reporter

FONT_EXTS = {".ttf", ".otf"}
_MISSING = "\ue000"  # a private-use character: what a font draws for a character it lacks


def find_fonts(paths: list[str | Path]) -> list[Path]:
    """The font files in `paths` (files, or folders searched recursively), sorted; DataError when none."""
    found: set[Path] = set()
    for p in map(Path, paths):
        if p.is_file() and p.suffix.lower() in FONT_EXTS:
            found.add(p)
        elif p.is_dir():
            found |= {f for f in p.rglob("*") if f.suffix.lower() in FONT_EXTS}
        elif not p.exists():
            raise DataError(f"{p}: no such font file or folder")
    if not found:
        raise DataError(f"no .ttf or .otf font in {', '.join(map(str, paths))}")
    return sorted(found)


def read_words(path: str | Path) -> list[str]:
    """A lexicon file: the first whitespace-separated token of each line, each word once, in file order."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    words = list(dict.fromkeys(line.split()[0] for line in lines if line.split()))
    if not words:
        raise DataError(f"{path}: no words")
    return words


class Font:
    """One font file at a rendering size, and which characters it has glyphs for."""

    def __init__(self, path: Path, size: int = 48) -> None:
        from PIL import ImageFont
        self.path = path
        try:
            self.font = ImageFont.truetype(str(path), size)
        except OSError as e:
            raise DataError(f"{path}: not a usable font ({e})") from None
        self._missing = self._mask(_MISSING)
        self._has: dict[str, bool] = {}

    def _mask(self, ch: str) -> tuple:
        m = self.font.getmask(ch)
        return m.size, bytes(m)

    def covers(self, word: str) -> bool:
        for ch in set(word):
            if ch not in self._has:
                self._has[ch] = ch.isspace() or self._mask(ch) != self._missing
            if not self._has[ch]:
                return False
        return True

    def render(self, word: str, rng: np.random.Generator, height: int) -> np.ndarray:
        from PIL import Image, ImageDraw
        x1, y1, x2, y2 = self.font.getbbox(word)
        pad = 12
        img = Image.new("L", (x2 - x1 + 2 * pad, y2 - y1 + 2 * pad), 0)
        ImageDraw.Draw(img).text((pad - x1, pad - y1), word, fill=255, font=self.font)
        canvas = np.asarray(img, np.float32) / 255.0
        if rng.random() < 0.5:  # a heavier pen now and then
            canvas = cv2.dilate(canvas, np.ones((2, 2), np.uint8))
        return distort(canvas, rng, height)


def generate_fonts(root: str | Path, words: list[str], fonts: list[Path], per_word: int = 3, seed: int = 0,
                   height: int = 64, held_out: int = 20, reporter: Reporter | None = None) -> dict:
    """Render each word `per_word` times, each in a random font that has all its characters, into `root`
    (written atomically): of every `held_out` images one goes to valid and one to test. Returns counts."""
    rep = reporter or Reporter()
    root = Path(root)
    rng = np.random.default_rng(seed)
    faces = [Font(f) for f in fonts]
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=root.name + ".", dir=root.parent))
    rows: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    skipped: list[str] = []
    try:
        (tmp / "images").mkdir()
        rep.start("render", len(words))
        n = 0
        for wi, word in enumerate(words):
            usable = [f for f in faces if f.covers(word)]
            if not usable:
                skipped.append(word)
            for k in range(per_word if usable else 0):
                name = f"images/{wi // 1000:04d}/{wi:07d}-{k}.png"
                (tmp / name).parent.mkdir(exist_ok=True)
                cv2.imwrite(str(tmp / name), usable[rng.integers(len(usable))].render(word, rng, height))
                subset = {held_out - 1: "test", held_out - 2: "valid"}.get(n % held_out, "train")
                rows[subset].append(f"{name}\t{word}")
                n += 1
            rep.advance()
        rep.stop()
        if not n:
            raise DataError(f"none of the {len(words)} words can be rendered in the fonts given")
        for subset, lines in rows.items():
            (tmp / f"{subset}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"images": n, **{k: len(v) for k, v in rows.items()}, "skipped_words": skipped, "fonts": len(faces)}
