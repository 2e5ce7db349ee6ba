"""Text lines of an FKI database: reading them, where their words are, and training a line reader on them."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from wordspot.config import TrainConfig
from wordspot.data import DataWarning, open_lines
from wordspot.data.formats.fki_lines import word_positions

LINES = {"100-01": ["t-h-e", "c-a-t-s_pt"], "100-02": ["a", "c-a-t"], "100-03": ["t-h-e", "d-o-g"],
         "101-01": ["d-o-g", "a-n-d", "c-a-t"], "101-02": ["t-h-e", "e-n-d-s_pt"]}


def _word_image(text: str) -> np.ndarray:
    img = np.full((40, 18 * len(text) + 8), 255, np.uint8)
    cv2.putText(img, text, (4, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 0, 2)
    return img


def make_fki_lines(root: Path, keywords=("t-h-e", "c-a-t", "c-a-t-s_pt", "z-e-b-r-a")) -> Path:
    """A small FKI database: line images made of word images (exact crops, as the real ones are)."""
    (root / "ground_truth").mkdir(parents=True)
    (root / "data" / "line_images_normalized").mkdir(parents=True)
    (root / "data" / "word_images_normalized").mkdir(parents=True)
    labels = []
    for lid, words in LINES.items():
        parts, gap = [], np.full((40, 14), 255, np.uint8)
        for n, w in enumerate(words, 1):
            img = _word_image(w.replace("-", "").replace("s_pt", "."))
            cv2.imwrite(str(root / "data" / "word_images_normalized" / f"{lid}-{n:02d}.png"), img)
            labels.append(f"{lid}-{n:02d} {w}")
            parts += [img, gap]
        cv2.imwrite(str(root / "data" / "line_images_normalized" / f"{lid}.png"), np.hstack(parts))
    (root / "ground_truth" / "transcription.txt").write_text(
        "".join(f"{lid} {'|'.join(ws)}\n" for lid, ws in LINES.items()))
    (root / "ground_truth" / "word_labels.txt").write_text("\n".join(labels) + "\n")
    sets = root / "sets" / "cv1"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("100-01\n100-02\n100-03\n")
    (sets / "valid.txt").write_text("101-01\n")
    (sets / "test.txt").write_text("101-02\n")
    (sets / "keywords.txt").write_text("\n".join(keywords) + "\n")
    return root


def test_lines_with_their_tokens_and_keywords(tmp_path):
    root = make_fki_lines(tmp_path / "db")
    with pytest.warns(DataWarning, match="1 of 4 keywords occur in no line"):
        src = open_lines(str(root), "cv1")
    assert {k: len(v) for k, v in src.subsets.items()} == {"train": 3, "valid": 1, "test": 1}
    first = src.subset("train")[0]
    assert first.text == "the cat." and src.tokens[first.source] == ["t-h-e", "c-a-t-s_pt"]
    assert first.page == "100" and src.keywords[:2] == ["t-h-e", "c-a-t"]


def test_a_line_without_words_and_a_missing_image_are_reported(tmp_path):
    root = make_fki_lines(tmp_path / "db")
    with open(root / "ground_truth" / "transcription.txt", "a") as f:
        f.write("102-01 \n102-02 n-o\n")
    with pytest.warns(DataWarning) as caught:
        src = open_lines(str(root), "none")
    said = " ".join(str(w.message) for w in caught)
    assert "1 line(s) without words left out; first 102-01" in said
    assert "1 of 6 transcribed lines have no image" in said and len(src.subset("all")) == 5


def test_word_positions_are_found_in_their_lines(tmp_path):
    root = make_fki_lines(tmp_path / "db")
    src = open_lines(str(root), "none")
    line = next(c for c in src.subset("all") if c.source.endswith("100-01.png"))
    found = word_positions(root, [line])[line.source]
    width = _word_image("the").shape[1]
    assert [t for t, _, _ in found] == ["t-h-e", "c-a-t-s_pt"]
    assert found[0][1:] == (0, width) and found[1][1] == width + 14


@pytest.mark.train
def test_a_line_reader_trains_from_lines_alone_and_is_measured(tmp_path):
    from wordspot.evaluation.lines import evaluate_lines
    from wordspot.model.linereader import LineReader
    from wordspot.training.line_stage import train_lines

    root = make_fki_lines(tmp_path / "db")
    src = open_lines(str(root), "cv1")
    cfg = TrainConfig.from_dict({"seed": 0, "image_epochs": 3, "line_batch": 2, "model": {"image_height": 32}})
    reader = train_lines(cfg, tmp_path / "run", src.subset("train"), src.subset("valid"))
    assert " " in reader.alphabet.symbols and (tmp_path / "run" / "model.pt").is_file()
    again = LineReader.load(tmp_path / "run")
    assert again.model_id() == reader.model_id()
    res = evaluate_lines(reader, src.subset("test"), src.tokens, src.keywords,
                         word_positions(root, src.subset("test")))
    for protocol in ("exact", "folded"):
        assert 0.0 <= res[protocol]["gap"] <= 1.0 and 0.0 <= res[protocol]["map"] <= 1.0
        assert res[protocol]["keywords_with_relevant"] == 1  # "the" is the only keyword in the test line
    assert res["folded"]["localised_pairs"] == 1 and res["seconds_per_line"] > 0
