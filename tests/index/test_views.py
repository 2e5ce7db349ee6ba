"""Page views kept in an index folder: written while indexing, read by the server for thumbnails and
page views instead of decoding the scans again; never shown for a page replaced since."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from wordspot.data import load_folder
from wordspot.index.build import Crop, index_crops, open_index
from wordspot.index.views import FOLDER, VIEW_WIDTH, PageViews
from wordspot.model.embedder import Embedder
from wordspot.search.query import Searcher
from wordspot.serve.app import create_app


@pytest.fixture(scope="module")
def wide(tiny_run, tiny_data, tmp_path_factory):
    """Test words pasted three times their size onto a page 2.5 times VIEW_WIDTH wide, indexed."""
    root = tmp_path_factory.mktemp("views")
    test = load_folder(tiny_data).subset("test")[:4]
    page = np.full((400, int(2.5 * VIEW_WIDTH)), 235, np.uint8)
    crops, x = [], 50
    for s in test:
        im = cv2.imread(s.path, cv2.IMREAD_GRAYSCALE)
        im = cv2.resize(im, None, fx=3, fy=3)
        page[50:50 + im.shape[0], x:x + im.shape[1]] = im
        crops.append(Crop(str(root / "page.png"), "page", (x, 50, x + im.shape[1], 50 + im.shape[0]), s.text))
        x += im.shape[1] + 60
    cv2.imwrite(str(root / "page.png"), page)
    index_crops(Embedder.load(tiny_run), crops, root / "w.idx")
    return {"root": root, "page": page, "crops": crops, "emb": Embedder.load(tiny_run)}


def test_indexing_keeps_a_scaled_down_view_of_each_wide_page(wide):
    files = list((wide["root"] / "w.idx" / FOLDER).iterdir())
    assert len(files) == 1 and files[0].suffix == ".jpg"
    view, scale = PageViews(wide["root"] / "w.idx").load(str(wide["root"] / "page.png"))
    assert view.shape[1] == VIEW_WIDTH and scale == pytest.approx(VIEW_WIDTH / wide["page"].shape[1])
    expected = cv2.resize(wide["page"], (view.shape[1], view.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(view.astype(int) - expected).mean() < 3  # the page itself, JPEG's losses aside


def test_a_page_replaced_since_is_not_shown_from_its_old_view(wide, tmp_path):
    page = tmp_path / "p.png"
    cv2.imwrite(str(page), wide["page"])
    views = PageViews(tmp_path / "idx")
    (tmp_path / "idx").mkdir()
    views.save(str(page), wide["page"])
    assert views.load(str(page)) is not None
    cv2.imwrite(str(page), 255 - wide["page"])
    os.utime(page, ns=(1, 1))  # another modification time, whatever the file system's resolution
    assert PageViews(tmp_path / "idx").load(str(page)) is None


def test_a_damaged_view_is_ignored(wide, tmp_path):
    page = tmp_path / "p.png"
    cv2.imwrite(str(page), wide["page"])
    (tmp_path / "idx").mkdir()
    PageViews(tmp_path / "idx").save(str(page), wide["page"])
    (kept,) = (tmp_path / "idx" / FOLDER).iterdir()
    kept.write_bytes(b"not a picture")
    assert PageViews(tmp_path / "idx").load(str(page)) is None


def test_the_server_cuts_thumbnails_from_the_views_without_decoding_the_page(wide, monkeypatch):
    import wordspot.serve.webkit as webkit
    decoded = []
    real = webkit.read_grey
    monkeypatch.setattr(webkit, "read_grey", lambda p: decoded.append(p) or real(p))
    searcher = Searcher(wide["emb"], [open_index(wide["root"] / "w.idx")], warm=True)
    client = TestClient(create_app(searcher), base_url="http://127.0.0.1")
    for row, crop in enumerate(wide["crops"]):
        r = client.get(f"/api/crop/0/{row}.png")
        assert r.status_code == 200
        thumb = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_GRAYSCALE)
        x1, y1, x2, y2 = crop.box
        full = cv2.resize(wide["page"][y1:y2, x1:x2], (thumb.shape[1], thumb.shape[0]), interpolation=cv2.INTER_AREA)
        assert np.abs(thumb.astype(int) - full).mean() < 12  # the same word, cut from the smaller page
    assert client.get("/api/page/0/0.png").status_code == 200
    assert decoded == []  # neither the thumbnails nor the page view needed the scan


def test_a_starting_server_reads_the_kept_views_into_memory_only(wide, tmp_path, monkeypatch):
    import wordspot.index.views as views_mod
    import wordspot.serve.webkit as webkit
    from wordspot.serve.webkit import PageCache
    other = tmp_path / "other.png"  # a page with no view kept: left alone, not decoded
    cv2.imwrite(str(other), wide["page"])
    cache = PageCache(views=[PageViews(wide["root"] / "w.idx")])
    assert cache.preload([str(wide["root"] / "page.png"), str(other)]) == 1
    for module in (views_mod, webkit):
        monkeypatch.setattr(module, "read_grey", lambda p: pytest.fail(f"{p} read again"))
    assert cache.part(wide["crops"][0]).size  # from memory
