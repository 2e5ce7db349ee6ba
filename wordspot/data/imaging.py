"""Word images: reading, normalising to the network's input, augmentation and batching."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from wordspot.errors import WordspotError

if TYPE_CHECKING:
    import torch


class ImageError(WordspotError):
    """An image that cannot be read or holds no pixels."""


# OpenCV's own "[ WARN:0@...]" lines would reach the terminal before wordspot's message
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
# one word image is too small to gain from OpenCV's threads, which only contend with PyTorch's for
# the cores (`wordspot index` on George Washington: 385 -> 435 crops/s on 2 cores)
cv2.setNumThreads(1)


def _to_grey(img: np.ndarray) -> np.ndarray:
    """Any decoded image -> uint8 grey; transparent pixels become white paper."""
    if img.dtype != np.uint8:  # 16-bit or float scans
        img = cv2.normalize(img.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if img.ndim == 2:
        return img
    channels = img.shape[2]
    alpha = img[:, :, -1:].astype(np.float32) / 255.0 if channels in (2, 4) else None
    colour = img[:, :, :1] if channels <= 2 else img[:, :, :3]
    grey = colour[:, :, 0] if colour.shape[2] == 1 else cv2.cvtColor(np.ascontiguousarray(colour), cv2.COLOR_BGR2GRAY)
    if alpha is not None:  # ink drawn in the alpha channel of a transparent PNG, or a cut-out
        grey = (grey.astype(np.float32) * alpha[:, :, 0] + 255.0 * (1.0 - alpha[:, :, 0])).astype(np.uint8)
    return grey


# a page at 600 dpi on A2 paper is about 140 M pixels; the header is checked before decoding
_LIMIT = os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", "")
MAX_PIXELS = int(_LIMIT) if _LIMIT.isdigit() else 150_000_000


def declared_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) as an image file's header declares it, read without decoding the pixels;
    None when the format is not one Pillow knows (OpenCV's own limit then applies)."""
    from PIL import Image, UnidentifiedImageError
    Image.MAX_IMAGE_PIXELS = None  # Pillow only reads the header here; the caller applies its own limit
    try:
        with Image.open(io.BytesIO(data.tobytes() if isinstance(data, np.ndarray) else data)) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):  # Pillow raises all of these
        return None


def read_grey(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """uint8 grey image (alpha composited on white); raises ImageError naming the file and why."""
    p = Path(path)
    if not p.exists():
        raise ImageError(f"{path}: no such image")
    if not p.is_file():  # a FIFO or device would block the read forever
        raise ImageError(f"{path}: not a regular file (a folder, FIFO or device), skipped")
    try:
        data = np.fromfile(p, np.uint8)
    except OSError as e:
        raise ImageError(f"{path}: cannot read ({e.strerror})") from None
    return decode_grey(data, str(path), max_pixels)


def decode_grey(data: bytes | np.ndarray, name: str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An encoded image (PNG, JPEG, TIFF...) -> uint8 grey; ImageError names it and says why not.
    An image declaring more than `max_pixels` pixels is refused before anything is decoded."""
    data = np.frombuffer(data, np.uint8) if isinstance(data, bytes) else data
    size = declared_size(data) if data.size else None
    if size and size[0] * size[1] > max_pixels:
        raise ImageError(f"{name}: the image declares {size[0]}x{size[1]} pixels, more than the "
                         f"{max_pixels:,} wordspot decodes")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None or img.size == 0:
        raise ImageError(f"{name}: cannot read image ({'empty file' if not data.size else 'not an image or damaged'})")
    return _to_grey(img)


def degenerate(grey: np.ndarray) -> str:
    """Why a word image is unlikely to hold a word ('' when it looks fine)."""
    h, w = grey.shape[:2]
    if h < 4 or w < 4:
        return f"tiny ({w}x{h} pixels)"
    if max(w / h, h / w) > 40:
        return f"extreme aspect ratio ({w}x{h})"
    if int(grey.max()) - int(grey.min()) < 16:
        return "blank (no contrast)"
    return ""


def trim_columns(ink: np.ndarray) -> tuple[int, int]:
    """The columns [lo, hi) of an ink = 1 image that hold ink, with a margin of 2 pixels."""
    cols = np.flatnonzero(ink.max(axis=0) > 0.3)
    if not cols.size:
        return 0, ink.shape[1]
    return max(0, cols[0] - 2), min(ink.shape[1], cols[-1] + 3)


def normalise(grey: np.ndarray, height: int, max_aspect: float = 12.0) -> np.ndarray:
    """uint8 grey (dark ink on light paper) -> float32 (height, W) with ink = 1, background = 0.

    Empty columns at the sides are trimmed so that the pyramid pooling sees the word, not the
    margin; vertical margins are kept because they carry ascender/descender position.
    """
    if grey.ndim == 3:
        grey = cv2.cvtColor(grey, cv2.COLOR_BGR2GRAY)
    ink = 1.0 - grey.astype(np.float32) / 255.0
    lo, hi = trim_columns(ink)
    ink = ink[:, lo:hi]
    h, w = ink.shape
    width = int(round(w * height / h))
    width = max(height // 4, min(width, int(height * max_aspect)))
    return cv2.resize(ink, (width, height), interpolation=cv2.INTER_AREA)


def load_image(path: str | Path, height: int) -> np.ndarray:
    return normalise(read_grey(path), height)


def crop_part(page: np.ndarray, crop) -> np.ndarray:
    """A word crop's pixels on its (already read) grey image: the whole image when it has no box; a line
    with an outline has what lies outside it painted as paper."""
    if crop.box is None:
        return page
    part = cut_box(page, crop.box, crop.source)
    if crop.outline:
        part = paint_outside(part, crop.outline, (max(0, crop.box[0]), max(0, crop.box[1])))
    return part


def scaled_crop(crop, scale: float):
    """`crop` on its page scaled by `scale` (its box and outline; the box at least one pixel)."""
    if crop.box is None or scale == 1.0:
        return crop
    x1, y1, x2, y2 = (int(round(v * scale)) for v in crop.box)
    outline = tuple((round(x * scale), round(y * scale)) for x, y in crop.outline) if crop.outline else None
    return dataclasses.replace(crop, box=(x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)), outline=outline)


def paint_outside(part: np.ndarray, outline, origin: tuple[int, int]) -> np.ndarray:
    """`part` (cut from a page at `origin`) with the pixels outside the polygon `outline` (page coordinates)
    set to the part's median, the paper's shade in a line's box."""
    inside = np.zeros(part.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.asarray(outline, np.int32) - np.asarray(origin, np.int32)], 1)
    if inside.all() or not inside.any():  # a rectangle, or a polygon that misses its own box: nothing to mask
        return part
    out = part.copy()
    out[inside == 0] = np.median(part)
    return out


def parse_box(text: str | None, what: str = "--box") -> tuple[int, int, int, int] | None:
    """'x1,y1,x2,y2' in pixels -> a box (None for none); a WordspotError naming `what` when it is not one."""
    if not text:
        return None
    try:
        x1, y1, x2, y2 = (int(v) for v in text.split(","))
    except ValueError:
        raise WordspotError(f"{what} takes x1,y1,x2,y2 in pixels, got {text[:40]!r}") from None
    if not (0 <= x1 < x2 and 0 <= y1 < y2):
        raise WordspotError(f"{what} {text[:40]}: needs 0 <= x1 < x2 and 0 <= y1 < y2 (left, top, right, bottom)")
    return x1, y1, x2, y2


def cut_box(page: np.ndarray, box: tuple[int, int, int, int], source: str | Path) -> np.ndarray:
    """The part of a page image inside box (x1, y1, x2, y2), clipped to the page."""
    x1, y1, x2, y2 = box
    h, w = page.shape[:2]
    part = page[max(0, y1):min(h, y2), max(0, x1):min(w, x2)]
    if part.size == 0:
        raise ImageError(f"{source}: box {box} lies outside the {w}x{h} image")
    return part


def image_view(img: np.ndarray, stretch: float = 1.0, margin: float = 0.0) -> np.ndarray:
    """An ink = 1 image as the image side embeds it (ModelConfig.image_views): its width scaled by `stretch`, then
    `margin` x its height of blank added at each side."""
    h, w = img.shape
    if stretch != 1.0:
        img = cv2.resize(img, (max(1, int(round(w * stretch))), h), interpolation=cv2.INTER_LINEAR)
    pad = int(round(margin * h))
    return np.pad(img, ((0, 0), (pad, pad))) if pad else img


def augment(img: np.ndarray, rng: np.random.Generator, max_angle: float = 3.0) -> np.ndarray:
    """Random shear, rotation (up to `max_angle` degrees), scale, translation, stroke width and noise on an
    ink = 1 image."""
    h, w = img.shape
    shear = rng.uniform(-0.35, 0.35)
    angle = np.deg2rad(rng.uniform(-max_angle, max_angle))
    sx, sy = rng.uniform(0.85, 1.15), rng.uniform(0.9, 1.1)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    lin = rot @ np.array([[sx, shear], [0.0, sy]])
    centre = np.array([w / 2, h / 2])
    out_w = max(h // 4, int(round(w * sx + abs(shear) * h)))
    shift = np.array([out_w / 2, h / 2]) - lin @ centre + rng.uniform(-0.05, 0.05, 2) * [w, h]
    mat = np.hstack([lin, shift[:, None]]).astype(np.float32)
    out = cv2.warpAffine(img, mat, (out_w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    r = rng.random()
    if r < 0.25:
        out = cv2.erode(out, np.ones((2, 2), np.uint8))
    elif r < 0.5:
        out = cv2.dilate(out, np.ones((2, 2), np.uint8))
    if rng.random() < 0.5:
        out = out + rng.normal(0.0, rng.uniform(0.02, 0.1), out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def collate(images: list[np.ndarray]) -> tuple["torch.Tensor", "torch.Tensor"]:
    """List of (H, W_i) arrays -> (B, 1, H, max W) zero-padded tensor and (B,) widths."""
    import torch  # here: reading images (a query by string, the server's thumbnails) does not need it
    height = images[0].shape[0]
    widths = torch.tensor([im.shape[1] for im in images])
    batch = torch.zeros(len(images), 1, height, int(widths.max()))
    for i, im in enumerate(images):
        batch[i, 0, :, : im.shape[1]] = torch.from_numpy(im)
    return batch, widths


class ImageCache:
    """Normalised images read once; unreadable ones are skipped, counted and named. A sample with a
    box is cut from its page image (the last page read is kept, so a page's words are read once)."""

    def __init__(self, height: int, keep: bool = True) -> None:
        self.height, self.keep = height, keep  # keep=False: only find which images read (data check)
        self._images: dict[tuple, np.ndarray] = {}
        self._page: tuple[str, np.ndarray | None, str] = ("", None, "")
        self.bad: dict[tuple, str] = {}

    def _read(self, path: str, box: tuple[int, int, int, int] | None) -> np.ndarray:
        if box is None:
            return load_image(path, self.height)
        if self._page[0] != path:
            try:
                self._page = (path, read_grey(path), "")
            except ImageError as e:
                self._page = (path, None, str(e))
        if self._page[1] is None:
            raise ImageError(self._page[2])
        return normalise(cut_box(self._page[1], box, path), self.height)

    def get(self, path: str, box: tuple[int, int, int, int] | None = None) -> np.ndarray | None:
        key = (path, box)
        if key in self.bad:
            return None
        img = self._images.get(key)
        if img is None:
            try:
                img = self._read(path, box)
            except ImageError as e:
                self.bad[key] = str(e)
                return None
            if self.keep:
                self._images[key] = img
        return img

    def load(self, samples: list) -> tuple[list, list[np.ndarray]]:
        """The samples whose images could be read, and their images."""
        kept, images = [], []
        for s in samples:
            img = self.get(s.path, s.box)
            if img is not None:
                kept.append(s)
                images.append(img)
        return kept, images
