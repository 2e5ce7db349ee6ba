"""Data sets as distributed: each layout built as a tiny fixture here (never copies of the databases)."""

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import GW
from typer.testing import CliRunner

from wordspot.cli import app
from wordspot.data import (
    DataError,
    DataWarning,
    ImageCache,
    check,
    detect,
    find_splits,
    load_fki,
    load_iam,
    load_labels,
    load_pages,
    open_source,
)
from wordspot.data.text import TextNorm, special_symbol
from wordspot.index.build import collect_crops


def blank(path: Path, h: int = 20, w: int = 30) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((h, w), 255, np.uint8)
    img[5:15, 5:w - 5] = 0  # some ink
    cv2.imwrite(str(path), img)


def make_fki(root: Path, sets_dir: str = "sets") -> Path:
    """George Washington's layout: IDs 270-01-01, splits of line IDs in sets/cv1."""
    images = root / "data" / "word_images_normalized"
    labels = {"270-01-01": "O-r-d-e-r-s", "270-01-02": "s_2-s_7-s_pt", "270-02-01": "a-n-d", "271-01-01": "c-a-m-p"}
    for wid in labels:
        blank(images / f"{wid}.png")
    (root / "ground_truth").mkdir()
    (root / "ground_truth" / "word_labels.txt").write_text("".join(f"{k} {v}\n" for k, v in labels.items()))
    split = root / sets_dir / "cv1"
    split.mkdir(parents=True)
    (split / "train.txt").write_text("270-01\n")
    (split / "valid.txt").write_text("270-02\n")
    (split / "test.txt").write_text("271-01\n")
    return root


def make_parzival(root: Path) -> Path:
    """Parzival's layout: IDs d-006a-001_01 (word number after '_'), split lists in sets1/ at the top."""
    images = root / "data" / "word_images_normalized"
    labels = {"d-006a-001_01": "w-a-z-s_et", "d-006a-001_02": "d-a-z", "d-006a-002_01": "h-e-r-s_x",
              "d-007a-014_01": "m-i-t-pt", "d-007a-014_02": "v-hp115-a-l"}
    for wid in labels:
        blank(images / f"{wid}.png")
    (root / "ground_truth").mkdir()
    (root / "ground_truth" / "word_labels.txt").write_text("".join(f"{k} {v}\n" for k, v in labels.items()))
    sets = root / "sets1"
    sets.mkdir()
    (sets / "train.txt").write_text("d-006a-001\n")
    (sets / "valid.txt").write_text("d-006a-002\n")
    (sets / "test.txt").write_text("d-007a-014\n")
    return root


def make_iam(root: Path) -> Path:
    lines = ["#--- words.txt ---", "a01-000u-00-00 ok 154 408 768 27 51 AT A",
             "a01-000u-00-01 ok 154 507 766 213 48 NN MOVE", "a01-000u-01-00 err 154 1 2 3 4 TO to",
             "a01-003-00-00 ok 156 395 932 441 100 VB stop", "b02-010-00-00 ok 160 1 2 3 4 NP Gaitskell"]
    (root / "ascii").mkdir(parents=True)
    (root / "ascii" / "words.txt").write_text("\n".join(lines) + "\n")
    for line in lines[1:]:
        wid = line.split()[0]
        a, b = wid.split("-")[:2]
        blank(root / "words" / a / f"{a}-{b}" / f"{wid}.png")
    split = root / "splits"
    split.mkdir()
    (split / "trainset.txt").write_text("a01-000u\n")  # form IDs
    (split / "validationset1.txt").write_text("a01-003-00\n")  # a line ID
    (split / "testset.txt").write_text("b02-010\n")
    return root


PAGE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">
  <Page imageFilename="{image}" imageWidth="200" imageHeight="100"><TextRegion id="r1">
    <TextLine id="l1"><Coords points="0,0 200,0 200,40 0,40"/>
      <Word id="w1"><Coords points="10,10 60,10 60,35 10,35"/><TextEquiv><Unicode>{w1}</Unicode></TextEquiv></Word>
      <Word id="w2"><Coords points="70,10 120,10 120,35 70,35"/><TextEquiv><Unicode>{w2}</Unicode></TextEquiv></Word>
    </TextLine>
    <TextLine id="l2"><Coords points="10,50 60,50 60,80 10,80"/><TextEquiv><Unicode>{w3}</Unicode></TextEquiv></TextLine>
    <TextLine id="l3"><Coords points="10,85 190,85 190,99 10,99"/><TextEquiv><Unicode>two words</Unicode></TextEquiv></TextLine>
  </TextRegion></Page>
</PcGts>"""

ALTO_XML = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#">
  <Description><MeasurementUnit>pixel</MeasurementUnit>
    <sourceImageInformation><fileName>{image}</fileName></sourceImageInformation></Description>
  <Layout><Page WIDTH="200" HEIGHT="100"><PrintSpace><TextBlock><TextLine>
    <String ID="s1" HPOS="10" VPOS="10" WIDTH="50" HEIGHT="25" CONTENT="{w1}"/><SP/>
    <String ID="s2" HPOS="70" VPOS="10" WIDTH="50" HEIGHT="25" CONTENT="{w2}"/>
  </TextLine></TextBlock></PrintSpace></Page></Layout>
</alto>"""


def make_pages(root: Path, n: int = 4) -> Path:
    for i in range(n):
        blank(root / f"p{i}.png", 100, 200)
        if i % 2:
            (root / f"p{i}.xml").write_text(ALTO_XML.format(image=f"p{i}.png", w1="great", w2=f"camp{i}"))
        else:
            (root / f"p{i}.xml").write_text(PAGE_XML.format(image=f"p{i}.png", w1="great", w2=f"fort{i}", w3="and"))
    return root


# ---- FKI IAM-HistDB --------------------------------------------------------------------------
def test_fki_layout_with_named_sets_folder(tmp_path):
    root = make_fki(tmp_path / "db", sets_dir="folds")
    src = load_fki(root, "cv1", sets_dir="folds")
    assert [s.text for s in src.subset("train")] == ["Orders", "27."]
    assert [s.text for s in src.subset("test")] == ["camp"]
    assert src.subset("train")[0].page == "270"
    with pytest.raises(DataError, match=r"no split 'cv9' \(available: cv1\)"):
        load_fki(root, "cv9", sets_dir="folds")


def test_fki_splits_found_without_sets_dir(tmp_path):
    root = make_fki(tmp_path / "db")
    assert list(find_splits(root)) == ["cv1"]
    src = open_source(str(root))  # the first split by default
    assert src.name == "db/cv1" and len(src.subset("train")) == 2


def test_parzival_layout_underscore_word_ids_and_top_level_sets(tmp_path):
    root = make_parzival(tmp_path / "parzival")
    assert detect(str(root)) == "fki"
    src = open_source(str(root))
    assert src.name == "parzival/sets1"
    assert {k: len(v) for k, v in src.subsets.items()} == {"train": 2, "valid": 1, "test": 2}
    assert [s.text for s in src.subset("train")] == ["waz&", "daz"]
    assert src.subset("valid")[0].text == "her" + special_symbol("s_x")  # unknown token: one symbol
    assert src.subset("test")[0].page == "d-007a"
    report = check(src, TextNorm())
    assert report["special_tokens"]["s_x"] == {"count": 1, "decoded": False, "symbol": special_symbol("s_x")}
    assert report["special_tokens"]["s_et"]["decoded"] and report["problems"] == []
    # tokens without the s_ prefix: one symbol each, mapped when their meaning is documented
    assert [s.text for s in src.subset("test")] == ["mit.", "v" + special_symbol("hp115") + "al"]
    assert report["special_tokens"]["pt"] == {"count": 1, "decoded": True, "symbol": "."}
    assert report["special_tokens"]["hp115"]["decoded"] is False
    assert not set("15p") & set(report["alphabet"])  # no digits or letters from the codes
    r = CliRunner().invoke(app, ["data", "check", str(root), "--no-read-images"])
    assert "pt x1 -> '.'" in r.output and "hp115 x1 (unmapped: one symbol; type it as [hp115])" in r.output


def test_split_matching_no_word_names_both_sides(tmp_path):
    root = make_parzival(tmp_path / "p")
    (root / "sets1" / "train.txt").write_text("270-01\n270-02\n")
    with pytest.warns(DataWarning, match="none matches"):
        src = open_source(str(root))
    with pytest.raises(DataError) as e:
        src.subset("train")
    msg = str(e.value)
    assert "sets1/train.txt: 2 IDs, none matches a word ID in" in msg
    assert "first ID 270-01, first word ID d-006a-001_01" in msg
    r = CliRunner().invoke(app, ["train", "--data", str(root), "--out", str(tmp_path / "run"), "--method", "phoc"])
    assert r.exit_code == 1 and "subset 'train' is empty" in r.output and "none matches" in r.output


def test_bad_data_is_never_silent(tmp_path):
    root = make_fki(tmp_path / "db")
    labels = root / "ground_truth" / "word_labels.txt"
    labels.write_text(labels.read_text() + "270-01-01 X\n272-01-01 n-o-i-m-a-g-e\n")  # repeated ID; no image
    blank(root / "data" / "word_images_normalized" / "999-01-01.png")  # image without label
    (root / "sets" / "cv1" / "test.txt").write_text("271-01\n271-09\n271-01\n")  # a line that does not exist
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        src = load_fki(root, "cv1")
        src.warn()
    messages = [str(w.message) for w in caught]
    assert any("1 repeated ID(s)" in m and "270-01-01" in m for m in messages)
    assert any("1 of 5 labelled words have no image" in m and "272-01-01.png" in m for m in messages)
    assert any("1 image(s) have no label" in m and "999-01-01.png" in m for m in messages)
    assert any("test.txt: 1 of 2 IDs match no word ID" in m and "271-09" in m for m in messages)
    assert any("test.txt: 1 repeated ID(s)" in m for m in messages)
    assert len(src.subset("test")) == 1  # the repeated line does not duplicate the word
    assert [s.text for s in src.subset("train")] == ["Orders", "27."]  # the first label of a repeated ID


def test_malformed_label_line_names_file_and_line(tmp_path):
    root = make_fki(tmp_path / "db")
    f = root / "ground_truth" / "word_labels.txt"
    f.write_text(f.read_text() + "270-03-01\n")
    with pytest.raises(DataError, match=r"word_labels.txt:5"):
        load_fki(root, "cv1")


def test_no_split_folder_says_what_to_do(tmp_path):
    root = make_fki(tmp_path / "db")
    for f in (root / "sets" / "cv1").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="no split found"):
        load_fki(root)
    assert len(load_fki(root, "none").subset("all")) == 4


# ---- IAM ---------------------------------------------------------------------------------------
def test_iam_words_splits_and_err_flag(tmp_path):
    root = make_iam(tmp_path / "iam")
    assert detect(str(root)) == "iam"
    with pytest.warns(DataWarning, match="1 word\\(s\\) flagged 'err' \\(segmentation\\) kept; first a01-000u-01-00"):
        src = open_source(str(root))
    assert src.name == "iam/splits"
    assert [s.text for s in src.subset("train")] == ["A", "MOVE", "to"]
    assert [s.text for s in src.subset("valid")] == ["stop"]
    assert src.subset("test")[0].page == "b02-010"
    assert Path(src.subset("test")[0].path).is_file()
    with pytest.warns(DataWarning, match="left out"):
        dropped = load_iam(root, drop_err=True)
        dropped.warn()
    assert [s.text for s in dropped.subset("train")] == ["A", "MOVE"]


def test_iam_malformed_line(tmp_path):
    root = make_iam(tmp_path / "iam")
    f = root / "ascii" / "words.txt"
    f.write_text(f.read_text() + "a01-000u-00 ok\n")
    with pytest.raises(DataError, match=r"words.txt:7: expected 'WORD-ID ok\|err"):
        load_iam(root)


# ---- PAGE / ALTO --------------------------------------------------------------------------------
def test_page_and_alto_folder_is_a_data_set(tmp_path):
    root = make_pages(tmp_path / "pages")
    assert detect(str(root)) == "pages"
    with pytest.warns(DataWarning) as caught:
        src = open_source(str(root))
    messages = [str(w.message) for w in caught]
    assert any("TextLine l3 has text of several words" in m for m in messages)
    assert any("split by page order, 2/1/1 pages" in m for m in messages)
    # PAGE pages p0, p2: two Words and a one-word TextLine each; ALTO p1, p3: two Strings each
    assert [s.text for s in src.subset("train")] == ["great", "fort0", "and", "great", "camp1"]
    assert [s.text for s in src.subset("test")] == ["great", "camp3"]
    assert src.subset("train")[3].box == (10, 10, 60, 35)
    cache = ImageCache(16)
    kept, images = cache.load(src.subset("all"))
    assert len(kept) == 10 and images[0].shape[0] == 16 and not cache.bad
    # a split by page lists
    (root / "train.txt").write_text("p0\np1.xml\n")
    (root / "test.txt").write_text("p2\np9\n")
    with pytest.warns(DataWarning, match="test.txt: 1 of 2 page\\(s\\) not found; first p9"):
        src = load_pages(root)
        src.warn()
    assert len(src.subset("train")) == 5 and len(src.subset("test")) == 3


def test_pages_with_one_file_name_in_two_folders_are_two_pages(tmp_path):
    root = tmp_path / "pages"
    for vol in ("vol1", "vol2"):
        (root / vol).mkdir(parents=True)
        blank(root / vol / "0001.png", 100, 200)
        (root / vol / "0001.xml").write_text(ALTO_XML.format(image="0001.png", w1="great", w2=vol))
    src = load_pages(root, split="none")
    assert sorted((s.page, s.text) for s in src.subset("all")) == [
        ("vol1/0001", "great"), ("vol1/0001", "vol1"), ("vol2/0001", "great"), ("vol2/0001", "vol2")]
    (root / "train.txt").write_text("vol1/0001.xml\n")
    (root / "test.txt").write_text("0001\n")  # a bare name that two pages have is refused, not guessed
    src = load_pages(root)
    assert [s.text for s in src.subset("train")] == ["great", "vol1"] and src.subsets["test"] == []
    assert any("'0001' names 2 pages" in p for p in src.problems)


def test_index_reads_alto_like_page(tmp_path):
    root = make_pages(tmp_path / "pages", n=2)
    crops = collect_crops([root / "p1.xml"])
    assert [(c.text, c.box) for c in crops] == [("great", (10, 10, 60, 35)), ("camp1", (70, 10, 120, 35))]
    assert crops[0].source.endswith("p1.png")
    with pytest.warns(UserWarning, match="several words"):
        crops = collect_crops([root])
    assert len(crops) == 5  # the page images themselves are not taken as word images


# ---- label files and detection ------------------------------------------------------------------
def test_generic_labels_file(tmp_path):
    blank(tmp_path / "a.png")
    (tmp_path / "train.tsv").write_text("# comment\na.png\tgreat\n")
    assert load_labels(tmp_path / "train.tsv")[0].text == "great"
    src = open_source(str(tmp_path))
    assert len(src.subset("train")) == 1
    (tmp_path / "bad.tsv").write_text("a.png great\n")
    with pytest.raises(DataError, match=r"bad.tsv:1"):
        load_labels(tmp_path / "bad.tsv")


def test_label_file_duplicates_and_missing_images_are_said(tmp_path):
    blank(tmp_path / "a.png")
    (tmp_path / "train.tsv").write_text("a.png\tgreat\na.png\tgreat\nb.png\tcamp\n")
    with pytest.warns(DataWarning) as caught:
        src = open_source(str(tmp_path))
    messages = " | ".join(str(w.message) for w in caught)
    assert "1 repeated ID(s)" in messages and "1 of 2 images do not exist (first" in messages
    assert [s.text for s in src.subset("train")] == ["great"]


def test_unknown_folder_lists_formats(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="not a data set wordspot knows.*IAM"):
        detect(str(tmp_path))


def test_corrupt_image_is_skipped_and_counted(tmp_path):
    blank(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    (tmp_path / "train.tsv").write_text("good.png\tx\nbad.png\ty\nmissing.png\tz\n")
    cache = ImageCache(height=16)
    kept, images = cache.load(load_labels(tmp_path / "train.tsv"))
    assert [s.text for s in kept] == ["x"]
    assert images[0].shape[0] == 16
    assert len(cache.bad) == 2 and any("bad.png" in m for m in cache.bad.values())


def test_missing_data_path():
    with pytest.raises(DataError, match="no such file"):
        open_source("/nonexistent/data")


def test_data_check_command(tmp_path):
    root = make_parzival(tmp_path / "parzival")
    (root / "data" / "word_images_normalized" / "d-006a-001_02.png").write_bytes(b"broken")
    r = CliRunner().invoke(app, ["data", "check", str(root)])
    assert r.exit_code == 0, r.output
    for text in ("parzival/sets1: FKI IAM-HistDB", "train", "5 words", "alphabet", "longest word: her[s_x] (4 symbols)",
                 "unreadable images: 1", "s_x x1 (unmapped: one symbol; type it as [s_x])", "d-006a-001_02.png: cannot read image"):
        assert text in r.output, text
    (root / "sets1" / "test.txt").write_text("x-1\n")
    r = CliRunner().invoke(app, ["data", "check", str(root), "--no-read-images"])
    assert r.exit_code == 1 and "none matches a word ID" in r.output and "Traceback" not in r.output


@pytest.mark.skipif(not GW.exists(), reason="George Washington database not in ../shared/data")
def test_george_washington_cv1():
    src = load_fki(GW, "cv1")
    sizes = {k: len(v) for k, v in src.subsets.items()}
    assert sizes == {"train": 2433, "valid": 1293, "test": 1168}  # every one of the 4894 words, once
    assert any(s.text == "Orders" for s in src.subset("all"))
    assert src.problems == []
    assert list(find_splits(GW)) == ["cv1", "cv2", "cv3", "cv4"]


@pytest.mark.parametrize("make", [make_parzival, make_iam, make_pages])
def test_eval_protocol_runs_on_every_format(make, tiny_run, tmp_path):
    root = make(tmp_path / "db")
    r = CliRunner().invoke(app, ["eval", str(tiny_run), "--data", str(root), "--json", "--plain"])
    assert r.exit_code == 0, r.output
    row = next(iter(json.loads(r.stdout)["splits"].values()))
    assert row["images"] == len(open_source(str(root)).subset("test")) and row["qbs_queries"] >= 1
