"""Edit-radius search by what a reading model read in each crop (search/radius.py), and the readings an
index keeps (index/store.py)."""

from __future__ import annotations

import numpy as np
import torch

from wordspot.data.text import Alphabet
from wordspot.index.build import Crop, Index, index_crops, open_index, write_index
from wordspot.model.embedder import Embedder, ModelConfig
from wordspot.model.networks import best_paths
from wordspot.search.query import Searcher
from wordspot.search.radius import ReadingsVocabulary, radius_order, radius_ranks


def test_best_paths_merge_repeats_and_drop_blanks():
    # classes a=0, b=1, blank=2; item 0 reads a a _ a b (frames 0-4) -> "aab"; item 1 only its first 2 frames
    paths = [[0, 0, 2, 0, 1], [1, 2, 0, 0, 0]]
    logp = torch.full((5, 2, 3), -9.0)
    for b, path in enumerate(paths):
        for t, c in enumerate(path):
            logp[t, b, c] = 0.0
    (classes0, seg0), (classes1, seg1) = best_paths(logp, torch.tensor([5, 2]))
    assert classes0 == [0, 0, 1] and seg0 == [[0, 1], [3], [4]]
    assert classes1 == [1] and seg1 == [[0]]


def test_near_readings_and_their_order():
    readings = ["great", "geat", "greatly", "bread", "xyz", "great", "greathy", "get", "greatest"]
    v = ReadingsVocabulary(readings)
    rows, edits, dropped = v.near("great", 2)
    got = dict(zip(rows.tolist(), zip(edits.tolist(), dropped.tolist())))
    # within 2 edits, and how many letters of the query each reading does not keep in order
    assert got == {0: (0, 0), 5: (0, 0), 1: (1, 1), 2: (2, 0), 6: (2, 0), 3: (2, 2), 7: (2, 2)}
    assert 8 not in got and 4 not in got  # greatest is 3 edits away
    space = np.array([0.5, 0.4, 3.0, 1.0, 0.0, 0.2, 2.9, 0.1, 9.0])[rows]
    order = rows[radius_order(edits, dropped, space)]
    # fewest edits, then fewest letters dropped (greatly, greathy before get and bread), then the space
    assert order.tolist() == [5, 0, 1, 6, 2, 7, 3]
    assert v.near("great", 0)[0].tolist() == [0, 5]
    assert len(ReadingsVocabulary([]).near("great", 2)[0]) == 0
    assert len(v.near("zzzzzzzz", 1)[0]) == 0


def test_radius_ranks_follow_the_same_order():
    readings = ["great", "bread", "greatly", "xyz"]
    space = np.array([[0.1, 0.2, 0.3, 0.0], [1.0, 0.0, 2.0, 3.0]])
    ranks = radius_ranks(["great", "bread"], readings, space)
    assert ranks[0].tolist() == [0, 2, 1, 3]  # greatly (2 edits, keeps every letter) before bread (2, drops 2)
    assert ranks[1].tolist() == [1, 0, 2, 3]


def _reader() -> Embedder:
    torch.manual_seed(0)
    words = ["great", "greater", "bread", "fort"]
    cfg = ModelConfig(dim=16, max_len=16, string_channels=8, string_hidden=32, image_height=32,
                      image_channels=[4, 4], image_blocks=[1, 1], image_hidden=16, method="both",
                      image_side="read")
    from wordspot.methods.phoc.base import PHOC
    cfg.phoc_bigrams = PHOC.from_words(words).bigrams
    return Embedder(cfg, Alphabet.from_words(words))


def _word_images(folder, n: int) -> list[Crop]:
    import cv2
    folder.mkdir()
    rng = np.random.default_rng(0)
    crops = []
    for i in range(n):
        img = np.full((32, 40 + 8 * (i % 5)), 255, np.uint8)
        img[8:24, 5:-5] = rng.integers(0, 120, (16, img.shape[1] - 10))
        cv2.imwrite(str(folder / f"w{i}.png"), img)
        crops.append(Crop(str(folder / f"w{i}.png"), f"w{i}", None, ""))
    return crops


def test_a_reading_model_index_keeps_its_readings(tmp_path):
    emb = _reader()
    crops = _word_images(tmp_path / "words", 12)
    index_crops(emb, crops, tmp_path / "a.idx", chunk=5)
    store = open_index(tmp_path / "a.idx")
    readings = store.crop_readings()
    assert readings is not None and len(readings) == 12
    from wordspot.data.imaging import load_image
    _, direct = emb.embed_and_read([load_image(c.source, 32) for c in crops])
    assert readings == direct  # chunked and stored, the same as read at once
    # crops appended to an index without readings (an older wordspot's): no readings for the whole
    old = Index(store.vectors[:6].copy(), store.crops[:6], store.model_id)
    write_index(old, tmp_path / "b.idx")
    assert open_index(tmp_path / "b.idx").crop_readings() is None
    index_crops(emb, crops[6:], tmp_path / "b.idx", append=True)
    assert len(open_index(tmp_path / "b.idx")) == 12 and open_index(tmp_path / "b.idx").crop_readings() is None


def test_edit_radius_ranks_by_the_readings(tmp_path):
    emb = _reader()
    crops = _word_images(tmp_path / "words", 8)
    index_crops(emb, crops, tmp_path / "a.idx")
    store = open_index(tmp_path / "a.idx")
    # what an untrained reader reads is arbitrary: give the index readings whose order is known
    readings = ["great", "bread", "greatly", "fort", "geat", "great", "reat", "b"]
    store.crop_readings = lambda: readings
    hits = Searcher(emb, [store]).by_string("great~2", 10)
    # fewest edits first; among as many, those that drop fewer of the query's letters (greatly none, bread 2);
    # geat and reat drop one each: the space orders them
    assert [h.reading for h in hits][:2] == ["great", "great"] and {h.reading for h in hits[2:4]} == {"geat", "reat"}
    assert [h.reading for h in hits][4:] == ["greatly", "bread"]
    assert [h.distance for h in hits] == [0, 0, 1, 1, 2, 2]
    assert all(h.as_dict()["reading"] == h.reading for h in hits)
    assert len(Searcher(emb, [store]).by_string("great~0", 10)) == 2


def test_the_hits_table_shows_what_was_read():
    from rich.console import Console

    from wordspot.cli.query import _hits_table
    from wordspot.search.query import Hit
    hits = [Hit(1, 0.0, Crop("/w/a.png", "a", None, "great"), lev=0, reading="great"),
            Hit(2, 2.0, Crop("/w/b.png", "b", None, "greatly"), lev=2, reading="greathy")]
    console = Console(width=200, record=True)
    console.print(_hits_table("great~2", hits))
    text = console.export_text()
    assert "edits" in text and "read as" in text and "greathy" in text and "distance" not in text
    console = Console(width=200, record=True)
    console.print(_hits_table("great", [Hit(1, 0.5, Crop("/w/a.png", "a", None, "great"))]))
    text = console.export_text()
    assert "read as" not in text and "distance" in text
