"""`wordspot serve`: every endpoint of the JSON API, and its errors (always 4xx with a one-line detail)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from wordspot.data import load_folder
from wordspot.index.build import Crop, dataset_crops, index_crops, open_index
from wordspot.model.embedder import Embedder
from wordspot.search.query import Searcher
from wordspot.serve.app import create_app


@pytest.fixture(scope="module")
def served(tiny_run, tiny_data, tmp_path_factory):
    """The tiny model's test words as word images, and three of them on a page with boxes."""
    root = tmp_path_factory.mktemp("serve")
    test = load_folder(tiny_data).subset("test")
    imgs = [cv2.imread(s.path, cv2.IMREAD_GRAYSCALE) for s in test[:3]]
    page = np.full((max(i.shape[0] for i in imgs) + 20, sum(i.shape[1] for i in imgs) + 80), 255, np.uint8)
    crops, x = [], 20
    for s, im in zip(test[:3], imgs):
        page[10:10 + im.shape[0], x:x + im.shape[1]] = im
        crops.append(Crop(str(root / "page.png"), "page", (x, 10, x + im.shape[1], 10 + im.shape[0]), s.text))
        x += im.shape[1] + 20
    cv2.imwrite(str(root / "page.png"), page)
    emb = Embedder.load(tiny_run)
    index_crops(emb, dataset_crops(test) + crops, root / "a.idx")
    searcher = Searcher(emb, [open_index(root / "a.idx")], warm=True)
    client = TestClient(create_app(searcher, max_upload=200_000), base_url="http://127.0.0.1:8765",
                        raise_server_exceptions=False)
    return {"client": client, "test": test, "n": len(test) + 3, "page_row": len(test), "root": root,
            "example": test[0].path, "searcher": searcher}


def ok(r, status=200):
    assert r.status_code == status, r.text
    return r.json() if r.headers["content-type"].startswith("application/json") else r


def error(r, status: int, words: str):
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail and words in detail, detail


def test_page_and_info(served):
    c = served["client"]
    assert 'id="search-form"' in ok(c.get("/")).text
    info = ok(c.get("/api/info"))
    assert info["crops"] == served["n"] and info["method"] == "lsde" and len(info["shards"]) == 1


def test_query_by_string_and_the_images_of_a_hit(served):
    c = served["client"]
    res = ok(c.get("/api/search", params={"q": "great", "k": 5}))
    hits = res["hits"]
    assert res["query"] == "great" and [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert all(a["distance"] <= b["distance"] for a, b in zip(hits, hits[1:]))
    thumb = ok(c.get(hits[0]["thumb"]))
    assert thumb.headers["content-type"] == "image/png" and cv2.imdecode(np.frombuffer(thumb.content, np.uint8), 0) is not None
    page = ok(c.get(f"/api/page/0/{served['page_row']}.png"))
    drawn = cv2.imdecode(np.frombuffer(page.content, np.uint8), cv2.IMREAD_COLOR)
    assert ((drawn[:, :, 2].astype(int) - drawn[:, :, 0]) > 100).any()  # the box, drawn in red


def test_query_by_example_upload_box_and_crop(served):
    c = served["client"]
    data = open(served["example"], "rb").read()
    up = ok(c.post("/api/search/image", params={"k": 3}, files={"file": ("ex.png", data, "image/png")}))
    assert len(up["hits"]) == 3 and up["hits"][0]["distance"] < 1e-3  # the same image is indexed
    row = served["page_row"]
    box = ok(c.get("/api/search/crop", params={"row": row, "k": 4}))
    assert len(box["hits"]) == 4 and all(h["row"] != row for h in box["hits"])  # itself left out
    page_crop = ok(c.get("/api/search", params={"q": "great", "k": served["n"]}))["hits"]
    x1, y1, x2, y2 = next(h["box"] for h in page_crop if h["row"] == row)
    same = ok(c.post("/api/search/box", json={"shard": 0, "row": row, "box": [x1, y1, x2, y2], "k": 2}))
    # the box is an indexed crop (left out); the word image it was pasted from has the same pixels
    assert same["hits"][0]["row"] == 0 and same["hits"][0]["distance"] < 1e-3
    assert all(h["row"] != row for h in same["hits"])


def test_batch(served):
    res = ok(served["client"].post("/api/batch", json={"queries": ["great", "!!!"], "k": 2}))["results"]
    assert len(res[0]["hits"]) == 2 and "empty once normalised" in res[1]["error"]


@pytest.mark.parametrize("method,url,kw,status,words", [
    ("get", "/api/search", {}, 422, "q"),
    ("get", "/api/search", {"params": {"q": "great", "k": 0}}, 422, "k"),
    ("get", "/api/search", {"params": {"q": "great", "k": "many"}}, 422, "k"),
    ("get", "/api/search", {"params": {"q": "!!!"}}, 400, "empty once normalised"),
    ("get", "/api/search", {"params": {"q": "x" * 101}}, 422, "q"),
    ("get", "/api/search/crop", {"params": {"row": 10_000}}, 404, "no crop"),
    ("get", "/api/search/crop", {"params": {"row": 0, "shard": 3}}, 404, "no crop"),
    ("get", "/api/crop/0/99999.png", {}, 404, "no crop"),
    ("get", "/api/page/1/0.png", {}, 404, "no crop"),
    ("post", "/api/search/image", {"files": {"file": ("a.png", b"not an image", "image/png")}}, 400, "not an image"),
    ("post", "/api/search/image", {"files": {"file": ("a.png", b"", "image/png")}}, 400, "empty"),
    ("post", "/api/search/image", {"files": {"other": ("a.png", b"x", "image/png")}}, 400, "'file'"),
    ("post", "/api/search/image", {"files": {"file": ("big.png", b"0" * 300_000, "image/png")}}, 413, "at most"),
    ("post", "/api/search/box", {"json": {"row": 0}}, 400, "box"),
    ("post", "/api/search/box", {"json": {"row": 0, "box": [5, 5, 1, 1]}}, 400, "box"),
    ("post", "/api/search/box", {"json": {"row": 0, "box": "a,b"}}, 400, "box"),
    ("post", "/api/search/box", {"content": b"{", "headers": {"content-type": "application/json"}}, 422, ""),
    ("post", "/api/batch", {"json": {"queries": "great"}}, 400, "queries"),
    ("post", "/api/batch", {"json": {"queries": ["a"] * 101}}, 400, "at most"),
    ("post", "/api/batch", {"json": {"queries": ["a"], "k": 0}}, 400, "k from"),
    ("get", "/api/nothing", {}, 404, ""),
])
def test_bad_requests_get_a_clear_4xx(served, method, url, kw, status, words):
    error(getattr(served["client"], method)(url, **kw), status, words)


def test_a_page_image_gone_from_disk_is_a_404(served, tmp_path):
    c = served["client"]
    page = served["root"] / "page.png"
    saved = page.read_bytes()
    page.unlink()
    try:
        error(c.get(f"/api/page/0/{served['page_row']}.png"), 404, "not readable")
    finally:
        page.write_bytes(saved)


def test_several_clients_at_once(served):
    c = served["client"]
    words = [s.text for s in served["test"]] * 3

    def one(w):
        return c.get("/api/search", params={"q": w, "k": 3}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, words)) == {200}


def test_serve_refuses_bad_options(tiny_run, tmp_path):
    from typer.testing import CliRunner

    from wordspot.cli import app
    r = CliRunner().invoke(app, ["serve", str(tmp_path / "none.idx")])
    assert r.exit_code != 0 and "no such index" in r.output
    r = CliRunner().invoke(app, ["serve", str(tmp_path), "--port", "0"])
    assert r.exit_code != 0 and "--port" in r.output
    assert "127.0.0.1" in CliRunner().invoke(app, ["serve", "--help"]).output



def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels and holds none: what a decompression bomb looks like."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(10_000, 10_000), (32_000, 32_000), (2**31 - 1, 2)])
def test_an_image_declaring_too_many_pixels_is_refused_before_decoding(served, size):
    data = _png_header(*size)
    assert len(data) < 2000
    r = served["client"].post("/api/search/image", files={"file": ("bomb.png", data, "image/png")})
    error(r, 400, "pixels")


def test_the_upload_limit_holds_whatever_the_headers_say(served):
    c = served["client"]
    chunks = [b"-" * 50_000] * 8  # 400 kB, over the fixture's 200 kB limit
    head = {"content-type": "multipart/form-data; boundary=xyz"}
    error(c.post("/api/search/image", content=iter(chunks), headers=head), 413, "at most 200,000")
    error(c.post("/api/search/image", content=iter(chunks), headers={**head, "content-length": "1000"}), 413,
          "at most 200,000")
    error(c.post("/api/batch", content=iter(chunks), headers={"content-type": "application/json"}), 413, "at most")


@pytest.mark.parametrize("host, status", [
    ("rebind.attacker.test", 421), ("rebind.attacker.test:8765", 421), ("", 421), ("127.0.0.1.evil.test", 421),
    ("127.0.0.1:8765", 200), ("localhost", 200), ("[::1]:8765", 200), ("LOCALHOST:1", 200),
])
def test_only_requests_addressed_to_this_server_are_answered(served, host, status):
    c = served["client"]
    for url in ("/api/info", "/api/search?q=great", "/api/page/0/0.png"):
        r = c.get(url, headers={"host": host})
        assert r.status_code == status, (url, r.text[:200])
        if status != 200:
            assert "answers requests for" in r.json()["detail"]


def test_allowed_hosts_follow_the_bound_address():
    from wordspot.serve.webkit import allowed_hosts
    assert allowed_hosts("127.0.0.1") == ("127.0.0.1", "localhost", "::1")
    assert "archive.example.org" in allowed_hosts("0.0.0.0", ["archive.example.org"])
    assert "0.0.0.0" not in allowed_hosts("0.0.0.0") and "10.1.2.3" in allowed_hosts("10.1.2.3")


def test_pages_are_decoded_once_for_many_requests(served, monkeypatch):
    import wordspot.serve.webkit as serve_mod
    calls = []
    real = serve_mod.read_grey
    monkeypatch.setattr(serve_mod, "read_grey", lambda p: calls.append(p) or real(p))
    client = TestClient(create_app(served["searcher"]), base_url="http://127.0.0.1")
    row = served["page_row"]
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: client.get(f"/api/{'page' if i % 2 else 'crop'}/0/{row + i % 3}.png")
                              .status_code, range(40)))
    assert codes == [200] * 40 and len(calls) == 1  # three crops of one page: one decode for 40 requests


def test_iiif_manifest_and_content_search(served):
    c = served["client"]
    manifest = ok(c.get("/iiif/manifest"))
    assert manifest["type"] == "Manifest" and manifest["service"][0]["type"] == "SearchService2"
    canvases = {cv["id"]: cv for cv in manifest["items"]}
    assert len(canvases) == served["n"] - 2  # every word image, and the one page holding three crops
    page = next(cv for cv in canvases.values() if cv["label"]["none"] == ["page.png"])
    image = page["items"][0]["items"][0]["body"]
    assert ok(c.get(image["id"].replace("http://127.0.0.1:8765", ""))).headers["content-type"] == "image/png"
    found = ok(c.get("/iiif/search", params={"q": "great", "k": 30}))
    assert found["type"] == "AnnotationPage" and len(found["items"]) == min(30, served["n"])
    for a in found["items"]:
        canvas_id, _, frag = a["target"].partition("#")
        assert a["motivation"] == "highlighting" and canvas_id in canvases
        if frag:  # a crop on the page: its box as x, y, w, h
            x, y, w, h = map(int, frag.removeprefix("xywh=").split(","))
            assert w > 0 and h > 0 and x + w <= page["width"] and y + h <= page["height"]
    assert any("#xywh=" in a["target"] for a in found["items"])
    error(c.get("/iiif/image/0/99999.png"), 404, "no page")
    error(c.get("/iiif/search", params={"q": "!!!"}), 400, "empty once normalised")


def test_iiif_content_search_1_for_the_viewers_that_read_only_that(served):
    c = served["client"]
    manifest = ok(c.get("/iiif/manifest"))
    (v1,) = [s for s in manifest["service"] if s.get("profile") == "http://iiif.io/api/search/1/search"]
    canvases = {cv["id"] for cv in manifest["items"]}
    found = ok(c.get(v1["@id"].replace("http://127.0.0.1:8765", ""), params={"q": "great", "k": 5}))
    assert found["@type"] == "sc:AnnotationList" and len(found["resources"]) == 5 == found["within"]["total"]
    assert all(r["on"].partition("#")[0] in canvases and r["resource"]["chars"] for r in found["resources"])
    assert [h["annotations"][0] for h in found["hits"]] == [r["@id"] for r in found["resources"]]
    error(c.get("/iiif/search/1", params={"q": "!!!"}), 400, "empty once normalised")


def test_iiif_resources_are_shared_only_with_the_origins_named(served):
    viewer, shared_with = "https://viewer.example", "access-control-allow-origin"
    plain = served["client"]
    assert shared_with not in plain.get("/iiif/manifest", headers={"Origin": viewer}).headers
    shared = TestClient(create_app(served["searcher"], iiif_origins=[viewer]), base_url="http://127.0.0.1")
    r = shared.get("/iiif/manifest", headers={"Origin": viewer})
    assert r.status_code == 200 and r.headers[shared_with] == viewer
    assert shared_with not in shared.get("/iiif/manifest", headers={"Origin": "https://evil.example"}).headers
    assert shared_with not in shared.get("/api/info", headers={"Origin": viewer}).headers
