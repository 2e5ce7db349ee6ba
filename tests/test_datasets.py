from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import GW

from wordspot.datasets import DataError, ImageCache, load_fki, load_labels, open_source


def make_fki(root: Path, sets_dir: str = "sets") -> Path:
    images = root / "data" / "word_images_normalized"
    images.mkdir(parents=True)
    labels = {"270-01-01": "O-r-d-e-r-s", "270-01-02": "s_2-s_7-s_pt", "270-02-01": "a-n-d", "271-01-01": "c-a-m-p"}
    for wid in labels:
        cv2.imwrite(str(images / f"{wid}.png"), np.full((20, 30), 255, np.uint8))
    (root / "ground_truth").mkdir()
    (root / "ground_truth" / "word_labels.txt").write_text("".join(f"{k} {v}\n" for k, v in labels.items()))
    split = root / sets_dir / "cv1"
    split.mkdir(parents=True)
    (split / "train.txt").write_text("270-01\n")
    (split / "valid.txt").write_text("270-02\n")
    (split / "test.txt").write_text("271-01\n")
    return root


def test_fki_layout_with_named_sets_folder(tmp_path):
    root = make_fki(tmp_path / "db", sets_dir="folds")
    src = load_fki(root, "cv1", sets_dir="folds")
    assert [s.text for s in src.subset("train")] == ["Orders", "27."]
    assert [s.text for s in src.subset("test")] == ["camp"]
    assert src.subset("train")[0].page == "270"
    with pytest.raises(DataError, match="no such split"):
        load_fki(root, "cv9", sets_dir="folds")


def test_malformed_label_line_names_file_and_line(tmp_path):
    root = make_fki(tmp_path / "db")
    f = root / "ground_truth" / "word_labels.txt"
    f.write_text(f.read_text() + "270-03-01\n")
    with pytest.raises(DataError, match=r"word_labels.txt:5"):
        load_fki(root, "cv1")


def test_generic_labels_file(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.full((20, 30), 255, np.uint8))
    (tmp_path / "train.tsv").write_text("# comment\na.png\tgreat\n")
    assert load_labels(tmp_path / "train.tsv")[0].text == "great"
    src = open_source(str(tmp_path))
    assert len(src.subset("train")) == 1
    (tmp_path / "bad.tsv").write_text("a.png great\n")
    with pytest.raises(DataError, match=r"bad.tsv:1"):
        load_labels(tmp_path / "bad.tsv")


def test_corrupt_image_is_skipped_and_counted(tmp_path):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.full((20, 30), 255, np.uint8))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    (tmp_path / "train.tsv").write_text("good.png\tx\nbad.png\ty\nmissing.png\tz\n")
    cache = ImageCache(height=16)
    kept, images = cache.load(load_labels(tmp_path / "train.tsv"))
    assert [s.text for s in kept] == ["x"]
    assert images[0].shape[0] == 16
    assert len(cache.bad) == 2 and any("bad.png" in m for m in cache.bad.values())


def test_missing_data_path():
    with pytest.raises(DataError, match="no such file"):
        open_source("/nonexistent/data")


@pytest.mark.skipif(not GW.exists(), reason="George Washington database not in ../shared/data")
def test_george_washington_cv1():
    src = load_fki(GW, "cv1")
    sizes = {k: len(v) for k, v in src.subsets.items()}
    assert sizes == {"train": 2433, "valid": 1293, "test": 1168}  # every one of the 4894 words, once
    assert any(s.text == "Orders" for s in src.subset("all"))
