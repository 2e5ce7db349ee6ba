"""Word images: reading, normalising to the network's input, augmentation and batching."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from .errors import WordspotError


class ImageError(WordspotError):
    """An image that cannot be read or holds no pixels."""


def read_grey(path: str | Path) -> np.ndarray:
    """uint8 grey image; raises ImageError naming the file."""
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None or img.size == 0:
        raise ImageError(f"{path}: cannot read image (missing, unreadable or not an image)")
    return img


def normalise(grey: np.ndarray, height: int, max_aspect: float = 12.0) -> np.ndarray:
    """uint8 grey (dark ink on light paper) -> float32 (height, W) with ink = 1, background = 0.

    Empty columns at the sides are trimmed so that the pyramid pooling sees the word, not the
    margin; vertical margins are kept because they carry ascender/descender position.
    """
    if grey.ndim == 3:
        grey = cv2.cvtColor(grey, cv2.COLOR_BGR2GRAY)
    ink = 1.0 - grey.astype(np.float32) / 255.0
    cols = np.flatnonzero(ink.max(axis=0) > 0.3)
    if cols.size:
        lo, hi = max(0, cols[0] - 2), min(ink.shape[1], cols[-1] + 3)
        ink = ink[:, lo:hi]
    h, w = ink.shape
    width = int(round(w * height / h))
    width = max(height // 4, min(width, int(height * max_aspect)))
    return cv2.resize(ink, (width, height), interpolation=cv2.INTER_AREA)


def load_image(path: str | Path, height: int) -> np.ndarray:
    return normalise(read_grey(path), height)


def cut_box(page: np.ndarray, box: tuple[int, int, int, int], source: str | Path) -> np.ndarray:
    """The part of a page image inside box (x1, y1, x2, y2), clipped to the page."""
    x1, y1, x2, y2 = box
    h, w = page.shape[:2]
    part = page[max(0, y1):min(h, y2), max(0, x1):min(w, x2)]
    if part.size == 0:
        raise ImageError(f"{source}: box {box} lies outside the {w}x{h} image")
    return part


def augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random shear, rotation, scale, translation, stroke width and noise on an ink = 1 image."""
    h, w = img.shape
    shear = rng.uniform(-0.35, 0.35)
    angle = np.deg2rad(rng.uniform(-3.0, 3.0))
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


def collate(images: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """List of (H, W_i) arrays -> (B, 1, H, max W) zero-padded tensor and (B,) widths."""
    height = images[0].shape[0]
    widths = torch.tensor([im.shape[1] for im in images])
    batch = torch.zeros(len(images), 1, height, int(widths.max()))
    for i, im in enumerate(images):
        batch[i, 0, :, : im.shape[1]] = torch.from_numpy(im)
    return batch, widths
