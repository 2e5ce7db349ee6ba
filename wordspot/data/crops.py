"""Word crops from files and folders as a user gives them: word images, page images with box files, PAGE/ALTO."""

from __future__ import annotations

import warnings
from pathlib import Path

from wordspot.data.pagefiles import IMAGE_EXTS, find_image, read_box_file, read_xml
from wordspot.data.sample import Crop
from wordspot.errors import WordspotError


def collect_crops(paths: list[str | Path], lines: bool = False) -> list[Crop]:
    """Crops from files and folders: word images, page images with a boxes .txt, PAGE or ALTO .xml.

    In a folder, an image with a .txt or .xml of the same name is a page; other images are words. With
    `lines`, text lines instead: line images, the boxes of a .txt, the TextLines of PAGE or ALTO.
    """
    what = "line images, box files or PAGE/ALTO files" if lines else "word images, box files or PAGE/ALTO files"
    crops: list[Crop] = []
    for p in map(Path, paths):
        if not p.exists():
            raise WordspotError(f"{p}: no such file or folder")
        before = len(crops)
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        pages = {f.with_suffix("") for f in files if f.suffix.lower() in (".txt", ".xml")}
        for f in files:
            ext = f.suffix.lower()
            if ext == ".txt" and (p.is_file() or find_image(f)):
                crops += read_box_file(f).words
            elif ext == ".xml":
                page = read_xml(f)
                for message in page.line_problems if lines else page.skipped:
                    warnings.warn(message, stacklevel=2)
                crops += page.lines if lines else page.words
            elif ext in IMAGE_EXTS and f.with_suffix("") not in pages:
                crops.append(Crop(str(f), f.stem))
        if len(crops) == before:
            warnings.warn(f"{p}: no {what} in it", stacklevel=2)
    if not crops:
        raise WordspotError(f"no {what} found in {', '.join(map(str, paths))}")
    return crops


def dataset_crops(samples: list[Crop]) -> list[Crop]:
    """A data set's samples as crops to index: they are crops already (kept for code written before)."""
    return list(samples)
