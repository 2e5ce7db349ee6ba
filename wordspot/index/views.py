"""Page images scaled down once and kept in the index folder (`views/`): the search page cuts its
thumbnails and draws its page views from these small files instead of decoding each full scan again
when a server starts (a 3000 x 4200 PNG takes a tenth of a second and more to decode).

A view is named by its page's file name, size and modification time, so a scan replaced since is
never shown from a stale view, and by the page's width, which gives the view's scale.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import cv2
import numpy as np

from wordspot.data.imaging import ImageError, read_grey

VIEW_WIDTH = 1600  # pages are shown, and kept as views, scaled down to this width at most
FOLDER = "views"
QUALITY = 90  # JPEG: a tenth of a PNG's bytes for grey paper with grain, decoded in milliseconds


def page_key(source: str) -> str | None:
    """What names a page file as it is now (None when it cannot be read)."""
    try:
        st = os.stat(source)
    except OSError:
        return None
    return hashlib.sha1(f"{os.path.basename(source)}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:24]


def view_scale(width: int) -> float:
    """The scale of a page `width` pixels wide in its view."""
    return min(1.0, VIEW_WIDTH / width)


def scaled_down(page: np.ndarray) -> tuple[np.ndarray, float]:
    """`page` scaled to VIEW_WIDTH at most, and the scale."""
    scale = view_scale(page.shape[1])
    if scale >= 1:
        return page, 1.0
    return cv2.resize(page, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), scale


class PageViews:
    """The views of one index folder: `save` while indexing (or serving), `load` when serving."""

    def __init__(self, index_path: str | Path) -> None:
        self.folder = Path(index_path) / FOLDER
        self._names: dict[str, str] = {}
        self._seen = None  # the folder's modification time at the last listing
        self._lock = threading.Lock()

    def _name(self, key: str) -> str | None:
        with self._lock:
            if key not in self._names:
                try:  # listed again only when files were added since
                    mtime = self.folder.stat().st_mtime_ns
                except OSError:
                    return None
                if mtime != self._seen:
                    self._seen = mtime
                    self._names = {n.split("-")[0]: n for n in os.listdir(self.folder) if n.endswith(".jpg")}
            return self._names.get(key)

    def has(self, source: str) -> bool:
        """Whether a view of the page as it is now is kept."""
        key = page_key(source)
        return bool(key and self._name(key))

    def load(self, source: str) -> tuple[np.ndarray, float] | None:
        """The page's view and its scale, or None when none was kept (or it is unreadable)."""
        key = page_key(source)
        name = self._name(key) if key else None
        if name is None:
            return None
        try:
            width = int(name[len(key) + 1:-len(".jpg")])
            view = read_grey(self.folder / name)  # checked as any image: the folder may have been tampered with
        except (ValueError, ImageError):
            return None
        return (view, view.shape[1] / width) if width > 0 else None

    def save(self, source: str, page: np.ndarray) -> None:
        """Keep the view of a page wider than VIEW_WIDTH (a smaller page is its own view). Best effort:
        an index folder that cannot be written to only means slower thumbnails."""
        key = page_key(source)
        if key is None or page.shape[1] <= VIEW_WIDTH or self._name(key):
            return
        small, _ = scaled_down(page)
        ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
        if not ok:
            return
        name = f"{key}-{page.shape[1]}.jpg"
        tmp = self.folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            self.folder.mkdir(exist_ok=True)
            tmp.write_bytes(data.tobytes())
            os.replace(tmp, self.folder / name)  # whole or not at all: a reader never sees half a view
        except OSError:
            tmp.unlink(missing_ok=True)
            return
        with self._lock:
            self._names[key] = name
