"""QbE through the example's reading (Rankings.example_distances): a reader's example counts the QbS distance
of what it read, on the scale fitted on validation; without a fitted scale, or for a model that does not
read, QbE is the image's distance alone. Searches and fits use the same distance."""

import numpy as np
import pytest

from wordspot.config import ModelConfig
from wordspot.data import Crop
from wordspot.data.text import Alphabet
from wordspot.index.build import Index
from wordspot.model.calibration import calibrate, reading_scale
from wordspot.model.embedder import Embedder
from wordspot.model.stringside import StringSide
from wordspot.search.query import Searcher

SMALL = dict(dim=8, max_len=12, image_height=16, image_channels=[4, 4, 4, 4], image_blocks=[1, 1, 1, 1],
             image_hidden=16, string_channels=8, string_hidden=16)
WORDS = ["and", "the", "then", "than", "hand", "band", "them", "land", "sand", "ten"]


def reader(**kw) -> Embedder:
    return Embedder(ModelConfig(**SMALL, method="both", **kw), Alphabet("abcdefghijklmnopqrstuvwxyz"))


def collection(emb: Embedder, n: int = 120, seed: int = 0) -> tuple[np.ndarray, list[str], list[str]]:
    """Random image vectors, their texts, and readings (some empty, some wrong)."""
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(n, emb.dim)).astype(np.float32)
    texts = [WORDS[i % len(WORDS)] for i in range(n)]
    readings = [t if i % 4 else ("" if i % 8 else WORDS[(i + 3) % len(WORDS)]) for i, t in enumerate(texts)]
    return vecs, texts, readings


def test_a_read_example_adds_the_weighted_qbs_distance_of_its_reading():
    emb = reader()
    vecs, _, readings = collection(emb)
    plain = emb.image_distances(vecs[:5], vecs)
    np.testing.assert_array_equal(emb.example_distances(vecs[:5], vecs, readings[:5]), plain)  # no scale: the image
    emb.reading_scale = 2.0
    assert emb.reading_weight == pytest.approx(2.0 * ModelConfig().example_reading)
    got = emb.example_distances(vecs[:5], vecs, readings[:5])
    for i in range(5):
        word = emb.norm(readings[i])
        extra = emb.reading_weight * emb.string_distances(emb.embed_strings([word]), vecs)[0] if word else 0.0
        np.testing.assert_allclose(got[i], plain[i] + extra, rtol=1e-6)
    assert readings[4] == "" and np.array_equal(got[4], plain[4])  # read as nothing: the image alone
    assert readings[0] not in ("", WORDS[0]) and not np.allclose(got[0], plain[0])  # misread: still counts
    np.testing.assert_array_equal(emb.example_distances(vecs[:5], vecs), plain)  # no readings given
    emb.config.example_reading = 0.0
    np.testing.assert_array_equal(emb.example_distances(vecs[:5], vecs, readings[:5]), plain)


def test_a_model_that_does_not_read_ranks_examples_by_the_image():
    emb = Embedder(ModelConfig(**SMALL, method="lsde", image_side="regress"), Alphabet("abcdefghijklmnopqrstuvwxyz"))
    emb.reading_scale = 2.0
    assert emb.reading_weight == 0.0


def test_the_scale_is_the_ratio_of_median_distances_and_is_kept_in_the_model_file(tmp_path):
    emb = reader()
    vecs, texts, readings = collection(emb)
    scale = reading_scale(emb, vecs, texts, readings)
    qi = [i for i, t in enumerate(texts) if texts.count(t) >= 2 and emb.norm(readings[i])]
    words = sorted({readings[i] for i in qi})
    expect = np.median(emb.image_distances(vecs[qi], vecs)) / np.median(
        emb.string_distances(emb.embed_strings(words), vecs))
    assert scale == pytest.approx(expect)
    assert reading_scale(emb, vecs, texts, None) is None and reading_scale(emb, vecs, texts, [""] * len(texts)) is None
    before = emb.model_id()
    emb.reading_scale = scale
    emb.calibration = calibrate(emb, vecs, texts, emb.embed_strings(sorted(set(texts))), sorted(set(texts)), readings)
    emb.save(tmp_path / "m.pt")
    assert Embedder.load(tmp_path / "m.pt").reading_scale == pytest.approx(scale)
    side = StringSide.load(tmp_path / "m.pt")
    assert side.reading_scale == pytest.approx(scale) and side.reading_weight == pytest.approx(emb.reading_weight)
    assert emb.model_id() == before  # vectors and search forms do not change: indexes stay valid


def test_searching_by_a_crop_ranks_as_the_example_distance_and_finds_what_the_reading_names():
    emb = reader()
    vecs, texts, readings = collection(emb)
    index = Index(vecs, [Crop(f"p{i}.png", f"w{i}", None, t) for i, t in enumerate(texts)], emb.model_id(),
                  readings=readings)
    searcher = Searcher(emb, [index], exact=True)
    emb.reading_scale = 1e4  # the reading drowns the image: its nearest crops as a typed word must come first
    row = 5
    d = emb.example_distances(vecs[row:row + 1], vecs, [readings[row]])[0]
    d[row] = np.inf
    hits = searcher.by_crop(0, row, k=3)
    assert [h.row for h in hits] == list(np.argsort(d, kind="stable")[:3])
    typed = emb.string_distances(emb.embed_strings([readings[row]]), vecs)[0]
    typed[row] = np.inf
    assert hits[0].row == int(np.argmin(typed))
    emb.reading_scale = None  # as before: the image alone
    d = emb.image_distances(vecs[row:row + 1], vecs)[0]
    d[row] = np.inf
    assert [h.row for h in searcher.by_crop(0, row, k=3)] == list(np.argsort(d, kind="stable")[:3])


def test_the_servers_vector_api_carries_the_reading_so_a_front_ranks_as_one_server():
    from fastapi.testclient import TestClient

    from wordspot.serve.app import create_app
    emb = reader()
    emb.reading_scale = 50.0
    vecs, texts, readings = collection(emb)
    index = Index(vecs, [Crop(f"p{i}.png", f"w{i}", None, t) for i, t in enumerate(texts)], emb.model_id(),
                  readings=readings)
    searcher = Searcher(emb, [index], exact=True)
    client = TestClient(create_app(searcher), base_url="http://127.0.0.1:8765")
    got = client.get("/api/vector/crop", params={"shard": 0, "row": 6}).json()
    assert got["reading"] == readings[6]
    body = {"vector": got["vector"], "reading": got["reading"], "kind": "qbe", "k": 4, "skip": [0, 6]}
    hits = client.post("/api/search/vector", json=body).json()["hits"]
    assert [h["row"] for h in hits] == [h.row for h in searcher.by_crop(0, 6, k=4)]
    without = client.post("/api/search/vector", json={**body, "reading": None}).json()["hits"]
    assert [h["row"] for h in without] != [h["row"] for h in hits]  # the reading changes the ranking
    assert client.post("/api/search/vector", json={**body, "reading": 7}).status_code == 400
