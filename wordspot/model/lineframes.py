"""Where a line reader's frames fall in the line's pixels. No PyTorch: a line index is searched without it."""

from __future__ import annotations


def span_columns(span: tuple[int, int], frames: int, width: int, lo: float, scale: float) -> tuple[float, float]:
    """Frames `span` (first, last) of a line read as `frames` frames from an image `width` pixels wide, whose
    first column is the line's column `lo` and whose pixels are `scale` line pixels -> the line's columns."""
    stride = width / max(1, frames) * scale
    return lo + span[0] * stride, lo + (span[1] + 1) * stride
