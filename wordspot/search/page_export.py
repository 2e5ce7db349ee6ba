"""Hits as PAGE XML, one file a page, so that a PAGE-based tool (Transkribus, eScriptorium) shows where a word
was found: each hit a TextLine (the word's box, or the line it was found in) holding a Word with the query as
its text and the hit's confidence. Word and line indexes both write through here."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wordspot.errors import WordspotError

PAGE_NS = "http://schema.primaresearch.org/PAGE/gc/ns/pagecontent/2019-07-15"
Box = tuple[int, int, int, int]


@dataclass
class Placed:
    """One hit on its page: the page image, rank, the line's box and the word's (None: the whole image)."""

    source: str
    rank: int
    line: Box | None
    word: Box | None
    confidence: float
    note: str  # more about the hit, for the TextLine's custom attribute ("distance:2.5;")


def _points(box: Box) -> str:
    x1, y1, x2, y2 = box
    return f"{x1},{y1} {x2},{y1} {x2},{y2} {x1},{y2}"


def write_page_xml(query: str, hits: list[Placed], folder: str | Path) -> list[Path]:
    """Write `hits` as `folder/<page>.xml`, one file a page image; returns the files written (each atomically)."""
    from wordspot.data.imaging import declared_size
    from wordspot.files import atomic_write_bytes
    folder = Path(folder)
    by_page: dict[str, list[Placed]] = {}
    for h in hits:
        by_page.setdefault(h.source, []).append(h)
    written: list[Path] = []
    for source, page_hits in by_page.items():
        try:
            size = declared_size(np.fromfile(source, np.uint8))
        except OSError:
            size = None
        if size is None:
            raise WordspotError(f"{source}: not readable, so its page size is unknown; no PAGE XML for it")
        root = ET.Element("PcGts", xmlns=PAGE_NS)
        meta = ET.SubElement(root, "Metadata")
        ET.SubElement(meta, "Creator").text = "wordspot"
        ET.SubElement(meta, "Comments").text = f"word spotting hits for {query!r}"
        page = ET.SubElement(root, "Page", imageFilename=str(source), imageWidth=str(size[0]),
                             imageHeight=str(size[1]))
        region = ET.SubElement(page, "TextRegion", id="r_hits")
        for h in page_hits:
            whole = (0, 0, size[0], size[1])
            line = ET.SubElement(region, "TextLine", id=f"l_hit{h.rank}", custom=f"wordspot {{rank:{h.rank}; {h.note}}}")
            ET.SubElement(line, "Coords", points=_points(h.line or whole))
            word = ET.SubElement(line, "Word", id=f"w_hit{h.rank}")
            ET.SubElement(word, "Coords", points=_points(h.word or h.line or whole))
            equiv = ET.SubElement(word, "TextEquiv", conf=f"{h.confidence:.4f}")
            ET.SubElement(equiv, "Unicode").text = query
        name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in Path(source).stem) + ".xml"
        target = folder / name
        if target in written:  # two pages of one file name in different folders
            target = folder / f"{Path(name).stem}-{len(written)}.xml"
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, ET.tostring(root, encoding="utf-8", xml_declaration=True))
        written.append(target)
    return written
