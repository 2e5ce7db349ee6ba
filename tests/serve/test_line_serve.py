"""`wordspot serve` over a line index: the search page, hits as lines with the keyword boxed, and only the
index's lines served."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import make_fki_lines
from fastapi.testclient import TestClient

from wordspot.config import ModelConfig
from wordspot.data import open_lines
from wordspot.data.text import Alphabet
from wordspot.index.lines import LineIndex, build_line_index
from wordspot.model.linereader import LineReader
from wordspot.search.line_query import LineSearcher
from wordspot.serve.lines import create_line_app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """An untrained reader's line index of a small FKI database: served as any line index is."""
    root = tmp_path_factory.mktemp("lineserve")
    db = make_fki_lines(root / "db")
    reader = LineReader(ModelConfig(image_height=32), Alphabet(" .abcehrstz"))
    reader.save(root / "reader.pt")
    build_line_index(reader, open_lines(str(db), "cv1").subset("all"), root / "l.idx", str(root / "reader.pt"))
    return TestClient(create_line_app(LineSearcher(LineIndex(root / "l.idx"))), base_url="http://127.0.0.1:8765",
                      raise_server_exceptions=False)


def test_hits_are_lines_with_their_pictures(client):
    assert client.get("/api/info").json()["lines"] == 5
    assert "wordspot" in client.get("/").text
    r = client.get("/api/search", params={"q": "cat", "k": 2})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert [h["rank"] for h in hits] == [1, 2] and all(h["line"].endswith(".png") for h in hits)
    for h in hits:
        for url in (h["thumb"], h["page_image"]):
            img = client.get(url)
            assert img.status_code == 200 and img.headers["content-type"] == "image/png"
            assert cv2.imdecode(np.frombuffer(img.content, np.uint8), cv2.IMREAD_COLOR) is not None


def test_only_the_index_lines_are_served_and_bad_requests_say_why(client):
    assert client.get("/api/line/5.png").status_code == 404
    assert client.get("/api/line/-1/page.png").status_code == 404
    r = client.get("/api/line/0.png", params={"box": "1,2,x,4"})
    assert r.status_code == 400 and "x1,y1,x2,y2" in r.json()["detail"]
    assert client.get("/api/line/0.png", params={"box": "5,2,1,4"}).status_code == 400
    r = client.get("/api/search", params={"q": "ü"})
    assert r.status_code == 400 and "cannot write" in r.json()["detail"]
    assert client.get("/api/search", params={"q": "cat", "k": 0}).status_code == 422


def test_an_uploaded_example_is_read_by_the_index_reader_and_searched(client, monkeypatch):
    import wordspot.serve.lines as served
    assert client.get("/api/info").json()["examples"] is True
    ok, png = cv2.imencode(".png", np.full((40, 90), 255, np.uint8))
    read = []
    monkeypatch.setattr(served, "read_example", lambda reader, grey: read.append((reader, grey.shape)) or "cat")
    r = client.post("/api/search/image", params={"k": 2}, files={"file": ("w.png", png.tobytes(), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["read_as"] == "cat" and "read as" in body["query"] and len(body["hits"]) == 2
    assert read[0][1] == (40, 90) and read[0][0].model_id() == client.get("/api/info").json()["model_id"]
    r = client.post("/api/search/image", files={"file": ("w.png", b"not an image", "image/png")})
    assert r.status_code == 400 and "w.png" in r.json()["detail"]
    assert client.post("/api/search/image").status_code == 400  # no file


def test_without_its_reader_a_line_index_takes_typed_words_only(tmp_path):
    db = make_fki_lines(tmp_path / "db")
    reader = LineReader(ModelConfig(image_height=32), Alphabet(" .abcehrstz"))
    build_line_index(reader, open_lines(str(db), "cv1").subset("all"), tmp_path / "l.idx")  # names no model
    c = TestClient(create_line_app(LineSearcher(LineIndex(tmp_path / "l.idx"))), base_url="http://127.0.0.1:8765")
    assert c.get("/api/info").json()["examples"] is False
    ok, png = cv2.imencode(".png", np.full((40, 90), 255, np.uint8))
    r = c.post("/api/search/image", files={"file": ("w.png", png.tobytes(), "image/png")})
    assert r.status_code == 400 and "needs the line reader that built the index" in r.json()["detail"]
