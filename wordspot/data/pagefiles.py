"""Page annotation formats: word boxes on a page image from box files, PAGE XML and ALTO XML."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from wordspot.data.sample import Crop
from wordspot.errors import WordspotError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


class FormatError(WordspotError):
    """A page file that cannot be read as given: the message names the file and the element or line."""


@dataclass
class PageWords:
    """The words of one page file, and what was left out of it (messages with file and element)."""

    image: Path
    words: list[Crop]  # page: the image's name
    skipped: list[str]
    lines: list[Crop] = field(default_factory=list)  # each TextLine's box and text (its words' when it has none)
    line_problems: list[str] = field(default_factory=list)  # lines left out, and why


def _word(image: Path, box: tuple[int, int, int, int], text: str) -> Crop:
    return Crop(str(image), image.stem, box, text)


MAX_COORD = 2**20  # pixels: beyond any scan (OpenCV's decoders stop at this width or height too)


def page_box(where: str, x1: float, y1: float, x2: float, y2: float,
             size: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
    """A box from a page file in whole pixels, checked: finite, within any page, not empty, and
    clipped to the page when the file gives its size; FormatError names `where` and says why."""
    values = (x1, y1, x2, y2)
    if not all(math.isfinite(v) for v in values):
        raise FormatError(f"{where}: coordinates must be finite numbers, got {' '.join(f'{v:g}' for v in values)}")
    far = next((v for v in values if abs(v) > MAX_COORD), None)
    if far is not None:
        raise FormatError(f"{where}: coordinate {far:g} lies beyond any page ({MAX_COORD:,} pixels)")
    box = [int(math.floor(x1)), int(math.floor(y1)), int(math.ceil(x2)), int(math.ceil(y2))]
    if box[2] <= box[0] or box[3] <= box[1]:
        raise FormatError(f"{where}: empty box {' '.join(map(str, box))} (x2 must exceed x1, y2 exceed y1)")
    if size:
        w, h = size
        clipped = [max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])]
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            raise FormatError(f"{where}: box {' '.join(map(str, box))} lies outside the {w}x{h} page")
        box = clipped
    return box[0], box[1], box[2], box[3]


def _page_size(el: ET.Element | None, wkey: str, hkey: str) -> tuple[int, int] | None:
    """The page size an XML file declares, when it declares a usable one."""
    try:
        w, h = float(el.get(wkey)), float(el.get(hkey))
    except (AttributeError, TypeError, ValueError):
        return None
    return (int(w), int(h)) if 1 <= w <= MAX_COORD and 1 <= h <= MAX_COORD else None


def find_image(stem_path: Path) -> Path | None:
    """The image beside `stem_path` with the same name and an image extension."""
    for ext in sorted(IMAGE_EXTS):
        for cand in (stem_path.with_suffix(ext), stem_path.with_suffix(ext.upper())):
            if cand.exists():
                return cand
    return None


def read_box_file(path: str | Path) -> PageWords:
    """A page's word boxes: lines `x1 y1 x2 y2 [transcription]` beside an image of the same name."""
    path = Path(path)
    image = find_image(path)
    if image is None:
        raise FormatError(f"{path}: no page image of the same name beside it ({', '.join(sorted(IMAGE_EXTS))})")
    words = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(maxsplit=4)
        try:
            x1, y1, x2, y2 = (float(v) for v in parts[:4])
        except ValueError:
            raise FormatError(f"{path}:{n}: expected 'x1 y1 x2 y2 [transcription]', got {line[:80]!r}") from None
        box = page_box(f"{path}:{n}", x1, y1, x2, y2)
        words.append(_word(image, box, parts[4].strip() if len(parts) > 4 else ""))
    return PageWords(image, words, [])


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _parse(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        raise FormatError(f"{path}: not valid XML ({e})") from None
    except OSError as e:
        raise FormatError(f"{path}: cannot read ({e.strerror})") from None


def xml_kind(path: str | Path) -> str | None:
    """'page' or 'alto' by the root element of an XML file, None for other XML or unreadable files."""
    try:
        for _, el in ET.iterparse(str(path), events=("start",)):
            name = _local(el.tag)
            return {"PcGts": "page", "alto": "alto"}.get(name)
    except (ET.ParseError, OSError):
        return None
    return None


def _page_text(el: ET.Element) -> str:
    equiv = _children(el, "TextEquiv")
    if not equiv:
        return ""
    uni = _children(equiv[0], "Unicode")
    return (uni[0].text or "").strip() if uni else ""


def _coords_points(path: Path, el: ET.Element) -> list[tuple[float, float]]:
    """The polygon of a PAGE element: its Coords `points` ("x,y x,y ...") or, in PAGE 2010, its Point
    children; FormatError when it has none or they are malformed."""
    coords = _children(el, "Coords")
    what = f"{_local(el.tag)} {el.get('id', '?')}"
    # split() first: a points attribute of only whitespace (Unicode's too) holds no point
    points = (coords[0].get("points") or "").split() if coords else []
    try:
        if points:
            pts = [tuple(float(v) for v in p.split(",")) for p in points]
        else:
            pts = [(float(p.get("x")), float(p.get("y"))) for p in (_children(coords[0], "Point") if coords else [])]
        pts = [(p[0], p[1]) for p in pts]
    except (ValueError, IndexError, TypeError):
        raise FormatError(f"{path}: {what} has malformed Coords points") from None
    if not pts:
        raise FormatError(f"{path}: {what} has no Coords points")
    return pts


def _points_box(where: str, pts: list[tuple[float, float]], size: tuple[int, int] | None) -> tuple[int, int, int, int]:
    return page_box(where, min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts),
                    max(p[1] for p in pts), size)


def _polygon_box(path: Path, el: ET.Element, size: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
    return _points_box(f"{path}: {_local(el.tag)} {el.get('id', '?')}", _coords_points(path, el), size)


def _outline(pts: list[tuple[float, float]] | None) -> tuple[tuple[int, int], ...] | None:
    """A line's polygon in whole pixels (None for fewer than three points: no area to mask by)."""
    if not pts or len(pts) < 3:
        return None
    return tuple((int(round(x)), int(round(y))) for x, y in pts)


def _image_of(path: Path, name: str) -> Path:
    """The page image a PAGE or ALTO file names: beside the file, or one folder up (a Transkribus export
    keeps its PAGE files in page/ below the images); where it would be beside the file when it is in neither
    (reading it then says it is missing)."""
    beside = path.parent / name
    if beside.exists() or Path(name).is_absolute():
        return beside
    above = path.parent.parent / name
    return above if above.exists() else beside


def read_page_xml(path: str | Path) -> PageWords:
    """PAGE XML: each Word's Coords polygon (its bounding box) with its TextEquiv.

    A TextLine without Word elements is one word when its text is a single token; a longer line
    has no word boxes and is skipped (and said so in `skipped`).
    """
    path = Path(path)
    root = _parse(path)
    page = next((el for el in root.iter() if _local(el.tag) == "Page"), None)
    if page is None or not page.get("imageFilename"):
        raise FormatError(f"{path}: no Page element with an imageFilename")
    image = _image_of(path, page.get("imageFilename"))
    size = _page_size(page, "imageWidth", "imageHeight")
    words, skipped = [], []
    for line in (el for el in root.iter() if _local(el.tag) == "TextLine"):
        line_words = _children(line, "Word")
        if line_words:
            words += [_word(image, _polygon_box(path, w, size), _page_text(w)) for w in line_words]
            continue
        text = _page_text(line)
        if text and len(text.split()) == 1:
            try:  # a line read as a word: a bad line costs only itself (a bad Word element fails the page)
                words.append(_word(image, _polygon_box(path, line, size), text))
            except FormatError as e:
                skipped.append(f"{e}; word left out")
        elif text:
            skipped.append(f"{path}: TextLine {line.get('id', '?')} has text of several words but no Word "
                           f"elements (no word boxes): {text[:40]!r}")
    # Words outside any TextLine (some exporters write them directly in a region)
    in_lines = {id(w) for line in root.iter() if _local(line.tag) == "TextLine" for w in _children(line, "Word")}
    words += [_word(image, _polygon_box(path, w, size), _page_text(w))
              for w in root.iter() if _local(w.tag) == "Word" and id(w) not in in_lines]
    def page_line(el: ET.Element) -> tuple[tuple[int, int, int, int], list[tuple[float, float]]]:
        pts = _coords_points(path, el)
        return _points_box(f"{path}: TextLine {el.get('id', '?')}", pts, size), pts

    lines, problems = _lines(path, image, (el for el in root.iter() if _local(el.tag) == "TextLine"), page_line,
                             lambda el: _page_text(el) or " ".join(filter(None, map(_page_text, _children(el, "Word")))))
    return PageWords(image, words, skipped, lines, problems)


def _lines(path: Path, image: Path, elements, shape_of, text_of) -> tuple[list[Crop], list[str]]:
    """The text lines of a page file, each with its box and outline (`shape_of`); a line whose box is
    unusable is left out and said so."""
    lines, problems = [], []
    for el in elements:
        try:
            box, pts = shape_of(el)
            lines.append(Crop(str(image), image.stem, box, text_of(el), _outline(pts)))
        except FormatError as e:
            problems.append(f"{e}; line left out")
    return lines, problems


def read_alto(path: str | Path) -> PageWords:
    """ALTO: each String's HPOS, VPOS, WIDTH, HEIGHT (pixels) with its CONTENT."""
    path = Path(path)
    root = _parse(path)
    unit = next((el.text for el in root.iter() if _local(el.tag) == "MeasurementUnit"), None) or "pixel"
    if unit.strip() != "pixel":
        raise FormatError(f"{path}: MeasurementUnit {unit.strip()!r} is not supported (only pixel)")
    name = next((el.text for el in root.iter() if _local(el.tag) == "fileName"), None)
    image = _image_of(path, name.strip()) if name and name.strip() else find_image(path)
    if image is None:
        raise FormatError(f"{path}: no sourceImageInformation/fileName and no image of the same name beside it")
    size = _page_size(next((el for el in root.iter() if _local(el.tag) == "Page"), None), "WIDTH", "HEIGHT")
    words = []
    for s in (el for el in root.iter() if _local(el.tag) == "String"):
        try:
            x, y, w, h = (float(s.get(k)) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
        except (TypeError, ValueError):
            raise FormatError(f"{path}: String {s.get('ID', '?')} needs numeric HPOS, VPOS, WIDTH and HEIGHT") from None
        if w <= 0 or h <= 0:
            raise FormatError(f"{path}: String {s.get('ID', '?')} has an empty box (WIDTH {w:g}, HEIGHT {h:g})")
        box = page_box(f"{path}: String {s.get('ID', '?')}", x, y, x + w, y + h, size)
        words.append(_word(image, box, (s.get("CONTENT") or "").strip()))
    lines, problems = _lines(path, image, (el for el in root.iter() if _local(el.tag) == "TextLine"),
                             lambda el: (_alto_box(path, el, size), _alto_polygon(el)),
                             lambda el: " ".join(filter(None, ((s.get("CONTENT") or "").strip()
                                                               for s in el.iter() if _local(s.tag) == "String"))))
    return PageWords(image, words, [], lines, problems)


def _alto_box(path: Path, el: ET.Element, size: tuple[int, int] | None) -> tuple[int, int, int, int]:
    what = f"{path}: TextLine {el.get('ID', '?')}"
    try:
        x, y, w, h = (float(el.get(k)) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
    except (TypeError, ValueError):
        raise FormatError(f"{what} needs numeric HPOS, VPOS, WIDTH and HEIGHT") from None
    return page_box(what, x, y, x + w, y + h, size)


def _alto_polygon(el: ET.Element) -> list[tuple[float, float]] | None:
    """An ALTO TextLine's Shape/Polygon POINTS ("x y x y ..." or "x,y x,y ..."), None when it has none
    usable (its box is cut out whole then)."""
    polygon = next((p for shape in _children(el, "Shape") for p in _children(shape, "Polygon")), None)
    try:
        values = [float(v) for v in (polygon.get("POINTS") or "").replace(",", " ").split()] if polygon is not None else []
    except ValueError:
        return None
    if len(values) % 2 or not all(math.isfinite(v) and abs(v) <= MAX_COORD for v in values):
        return None
    return list(zip(values[::2], values[1::2]))


def read_xml(path: str | Path) -> PageWords:
    """A PAGE or ALTO file, told apart by its root element."""
    kind = xml_kind(path)
    if kind == "page":
        return read_page_xml(path)
    if kind == "alto":
        return read_alto(path)
    _parse(Path(path))  # a parse error says more than "not PAGE or ALTO"
    raise FormatError(f"{path}: neither PAGE XML (PcGts) nor ALTO (alto) by its root element")
