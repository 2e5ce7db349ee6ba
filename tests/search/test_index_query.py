import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from wordspot.data import load_folder
from wordspot.errors import WordspotError
from wordspot.index.build import IndexFileError, build_index, collect_crops, dataset_crops, open_index, write_index
from wordspot.index.store import Crop
from wordspot.model.embedder import Embedder
from wordspot.search.query import Hit, by_example, by_string, contact_sheet


@pytest.fixture(scope="module")
def collection(tiny_data, tmp_path_factory):
    """Word images in a folder, one page image with a boxes file, one with PAGE XML."""
    root = tmp_path_factory.mktemp("collection")
    test = load_folder(tiny_data).subset("test")
    words = root / "words"
    words.mkdir()
    for s in test[:4]:
        shutil.copy(s.path, words / f"{s.text}-{Path(s.path).stem}.png")
    # a page: three test words pasted side by side
    imgs = [cv2.imread(s.path, cv2.IMREAD_GRAYSCALE) for s in test[4:7]]
    h = max(i.shape[0] for i in imgs) + 20
    page = np.full((h, sum(i.shape[1] for i in imgs) + 80), 255, np.uint8)
    boxes, x = [], 20
    for s, im in zip(test[4:7], imgs):
        page[10:10 + im.shape[0], x:x + im.shape[1]] = im
        boxes.append((x, 10, x + im.shape[1], 10 + im.shape[0], s.text))
        x += im.shape[1] + 20
    pages = root / "pages"
    pages.mkdir()
    cv2.imwrite(str(pages / "p1.png"), page)
    (pages / "p1.txt").write_text("".join(f"{a} {b} {c} {d} {t}\n" for a, b, c, d, t in boxes))
    cv2.imwrite(str(pages / "p2.png"), page)
    words_xml = "".join(
        f'<Word id="w{i}"><Coords points="{a},{b} {c},{b} {c},{d} {a},{d}"/>'
        f"<TextEquiv><Unicode>{t}</Unicode></TextEquiv></Word>" for i, (a, b, c, d, t) in enumerate(boxes))
    (pages / "p2.xml").write_text(
        '<?xml version="1.0"?><PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">'
        f'<Page imageFilename="p2.png" imageWidth="{page.shape[1]}" imageHeight="{page.shape[0]}">'
        f'<TextRegion id="r1"><TextLine id="l1">{words_xml}</TextLine></TextRegion></Page></PcGts>')
    return root, boxes


def test_collect_crops_from_every_source_kind(collection, tiny_data):
    root, boxes = collection
    crops = collect_crops([root / "words", root / "pages"])
    by_kind = {"word": [c for c in crops if c.box is None], "p1": [c for c in crops if c.page == "p1"],
               "p2": [c for c in crops if c.page == "p2"]}
    assert len(by_kind["word"]) == 4 and len(by_kind["p1"]) == 3 and len(by_kind["p2"]) == 3
    assert [c.box + (c.text,) for c in by_kind["p1"]] == boxes == [c.box + (c.text,) for c in by_kind["p2"]]
    assert len(dataset_crops(load_folder(tiny_data).subset("test"))) == len(load_folder(tiny_data).subset("test"))


def test_index_save_load_append_and_query(collection, tiny_run, tmp_path):
    root, boxes = collection
    emb = Embedder.load(tiny_run)
    idx, stats = build_index(emb, collect_crops([root / "words", root / "pages"]), str(tiny_run))
    assert stats["crops"] == 10 and stats["skipped"] == 0
    loaded = write_index(idx, tmp_path / "a.idx")
    assert loaded.model_id == emb.model_id() and len(loaded) == len(idx)
    assert loaded.crops == [replace(c, source=os.path.abspath(c.source)) for c in idx.crops]
    np.testing.assert_array_equal(loaded.vectors, idx.vectors)
    assert not list((tmp_path / "a.idx").glob("*.tmp"))  # written through a temporary file, then renamed

    # QbE with a box on page p1: the same word cut from page p2 (identical pixels) ranks first
    x1, y1, x2, y2, text = boxes[1]
    hits = by_example(emb, loaded, root / "pages" / "p1.png", (x1, y1, x2, y2), k=3)
    assert hits[0].crop.page == "p2" and hits[0].crop.box == (x1, y1, x2, y2)
    assert hits[0].distance < 1e-3 and hits[0].lev == 0
    assert all(h.crop.page != "p1" or h.crop.box != (x1, y1, x2, y2) for h in hits)  # itself left out

    # QbS returns k hits in increasing distance with edit distances to the query
    hits = by_string(emb, loaded, text, k=5)
    assert len(hits) == 5 and [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert all(a.distance <= b.distance for a, b in zip(hits, hits[1:]))
    assert contact_sheet(hits, tmp_path / "sheet.png", title=text) == []
    assert cv2.imread(str(tmp_path / "sheet.png")).shape[0] > 5 * 64
    assert hits[0].where == f"{hits[0].crop.page} [{','.join(map(str, hits[0].crop.box))}]"
    # a crop whose image has gone is named on the sheet and returned, not drawn blank
    gone = Hit(1, 0.5, Crop(str(tmp_path / "gone.png"), "gone", None, "x" * 60))
    assert gone.where == "gone.png"
    missing = contact_sheet([gone, *hits[:1]], tmp_path / "sheet2.png")
    assert len(missing) == 1 and "gone.png" in missing[0]
    assert cv2.imread(str(tmp_path / "sheet2.png")).shape[1] > 480  # wide enough for the long word

    more, _ = build_index(emb, collect_crops([root / "words"]), str(tiny_run))
    assert len(idx.extend(more)) == 14


def test_qbs_finds_the_word_on_the_tiny_model(tiny_data, tiny_run):
    emb = Embedder.load(tiny_run)
    idx, _ = build_index(emb, dataset_crops(load_folder(tiny_data).subset("test")))
    top1 = [by_string(emb, idx, w, k=1)[0].crop.text == w for w in sorted({c.text for c in idx.crops})]
    assert np.mean(top1) >= 0.5  # far better than the 1/8 of chance


def test_index_from_another_model_is_refused(tiny_run, tiny_data, tmp_path):
    emb = Embedder.load(tiny_run)
    idx, _ = build_index(emb, dataset_crops(load_folder(tiny_data).subset("test")[:3]))
    other = Embedder.load(tiny_run)
    with __import__("torch").no_grad():
        next(other.image_net.parameters()).add_(0.01)
    with pytest.raises(IndexFileError, match="made by another model"):
        by_string(other, idx, "great")
    with pytest.raises(IndexFileError, match="not a wordspot index"):
        (tmp_path / "x.idx").write_bytes(b"junk")
        open_index(tmp_path / "x.idx")
    # an index of an older format (a single .npz file) must be rebuilt, not misread
    meta = {"format": 2, "kind": "wordspot-index", "model_id": idx.model_id, "crops": []}
    np.savez(tmp_path / "old.npz", vectors=idx.vectors, meta=np.array(json.dumps(meta)))
    with pytest.raises(IndexFileError, match="older format.*build it again"):
        open_index(tmp_path / "old.npz")


def test_edit_radius_search_and_wildcards(tiny_data, tiny_run, tmp_path):
    from wordspot.search.query import Searcher
    emb = Embedder.load(tiny_run)
    idx, _ = build_index(emb, dataset_crops(load_folder(tiny_data).subset("test")))
    searcher = Searcher(emb, [idx], exact=True)
    hits = searcher.by_string("great~2", 50)
    assert hits and all(h.distance <= 2.5 for h in hits)  # the estimate of the edit distance, within the radius
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    assert all(h.lev is not None and h.score is None for h in hits)
    assert len(searcher.by_string("great~0", 50)) <= len(hits)
    # the space is Levenshtein-shaped: the radius search ranks by the LSDE part, exactly
    space = emb.ranking.space
    q = space(emb.embed_strings(["great"]), images=False)[0]
    d = np.linalg.norm(space(idx.vectors, images=True) - q, axis=1)
    assert [h.distance for h in hits] == pytest.approx(sorted(d[d <= 2.5])[:50], rel=1e-5)
    with pytest.raises(WordspotError, match="wildcards are not supported.*great~2"):
        searcher.by_string("great*")
    with pytest.raises(WordspotError, match="an edit radius of 0 to 5"):
        searcher.by_string("great~9")


def test_a_moved_collection_is_found_with_root(tiny_data, tiny_run, tmp_path):
    import shutil

    from typer.testing import CliRunner

    from wordspot.cli import app
    old = tmp_path / "old" / "words"
    shutil.copytree(tiny_data / "images", old)
    r = CliRunner().invoke(app, ["index", str(tiny_run), str(old), "--out", str(tmp_path / "w.idx"), "--plain"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "w.idx" / "index.json").read_text())["root"] == str(old)
    new = tmp_path / "new" / "scans"
    shutil.move(str(old), new)
    r = CliRunner().invoke(app, ["query", str(tmp_path / "w.idx"), "great", "-k", "3", "--json"])
    assert r.exit_code == 0 and "not where the index says" in r.output and "give --root" in r.output
    r = CliRunner().invoke(app, ["query", str(tmp_path / "w.idx"), "great", "-k", "3", "--json", "--root", str(new)])
    assert r.exit_code == 0 and "not where the index says" not in r.output, r.output
    hits = json.loads(r.stdout)["hits"]
    assert all(h["source"].startswith(str(new)) for h in hits)
    # the example image at its new place is found in the index, and left out of its own ranking
    idx = open_index(tmp_path / "w.idx")
    from wordspot.index.store import IndexStore
    moved = IndexStore(tmp_path / "w.idx", root=new)
    assert moved.find(hits[0]["source"], None) == hits[0]["row"] and idx.find(hits[0]["source"], None) is None


def test_hits_as_page_xml_read_back_as_the_same_boxes(tmp_path):
    from wordspot.data.pagefiles import read_page_xml
    from wordspot.search.query import page_xml
    cv2.imwrite(str(tmp_path / "p1.png"), np.full((100, 200), 255, np.uint8))
    cv2.imwrite(str(tmp_path / "w.png"), np.full((20, 40), 255, np.uint8))
    hits = [Hit(1, 2.5, Crop(str(tmp_path / "p1.png"), "p1", (10, 20, 60, 45), "great"), score=0.9),
            Hit(2, 7.0, Crop(str(tmp_path / "w.png"), "w", None, "greet")),
            Hit(3, 9.0, Crop(str(tmp_path / "p1.png"), "p1", (100, 20, 150, 45), "grant"), score=0.2)]
    files = page_xml("great & <co>", hits, tmp_path / "out")
    assert sorted(f.name for f in files) == ["p1.xml", "w.xml"]
    page = read_page_xml(tmp_path / "out" / "p1.xml")
    assert page.image == tmp_path / "p1.png"
    assert [(r.box, r.text) for r in page.words] == [((10, 20, 60, 45), "great & <co>"), ((100, 20, 150, 45), "great & <co>")]
    assert [r.box for r in read_page_xml(tmp_path / "out" / "w.xml").words] == [(0, 0, 40, 20)]  # the whole word image
    assert 'conf="0.9000"' in (tmp_path / "out" / "p1.xml").read_text()
