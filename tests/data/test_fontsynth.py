"""Words rendered in fonts as a data set (data/fontsynth.py, `wordspot data synth`)."""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib
import pytest
from typer.testing import CliRunner

from wordspot.cli import app
from wordspot.data import DataError, open_source
from wordspot.data.fontsynth import Font, find_fonts, generate_fonts, read_words

FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"  # DejaVu ships with matplotlib: on every machine


def test_fonts_and_words_are_found_or_refused(tmp_path):
    assert FONTS / "DejaVuSans.ttf" in find_fonts([FONTS])
    assert find_fonts([FONTS / "DejaVuSans.ttf"]) == [FONTS / "DejaVuSans.ttf"]
    with pytest.raises(DataError, match="no such font"):
        find_fonts([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .ttf or .otf"):
        find_fonts([tmp_path / "empty"])
    (tmp_path / "bad.ttf").write_text("not a font")
    with pytest.raises(DataError, match="not a usable font"):
        Font(tmp_path / "bad.ttf")
    (tmp_path / "lex.txt").write_text("great 12\n\nfort\ngreat\n  camp x\n")
    assert read_words(tmp_path / "lex.txt") == ["great", "fort", "camp"]
    (tmp_path / "blank.txt").write_text("\n \n")
    with pytest.raises(DataError, match="no words"):
        read_words(tmp_path / "blank.txt")


def test_a_rendered_data_set_loads_and_leaves_out_what_no_font_draws(tmp_path):
    font = Font(FONTS / "DejaVuSans.ttf")
    assert font.covers("Great's") and not font.covers("gr\ue001at")  # a private-use character: no glyph
    words = [f"w{i}ord" for i in range(30)] + ["gr\ue001at"]
    stats = generate_fonts(tmp_path / "synth", words, [FONTS / "DejaVuSans.ttf", FONTS / "DejaVuSerif.ttf"],
                           per_word=2, height=48)
    assert stats["images"] == 60 and stats["skipped_words"] == ["gr\ue001at"]
    assert (stats["train"], stats["valid"], stats["test"]) == (54, 3, 3)
    src = open_source(str(tmp_path / "synth"))
    assert len(src.subset("train")) == 54 and {s.text for s in src.subset("test")} <= set(words)
    img = cv2.imread(src.subset("train")[0].path, cv2.IMREAD_GRAYSCALE)
    assert img.shape[0] == 48 and img.min() < 100 and img.max() > 200  # dark ink on light paper
    again = generate_fonts(tmp_path / "again", words, [FONTS / "DejaVuSans.ttf", FONTS / "DejaVuSerif.ttf"],
                           per_word=2, height=48)
    assert again == stats and (tmp_path / "again" / "train.tsv").read_text() == (tmp_path / "synth" / "train.tsv").read_text()
    with pytest.raises(DataError, match="none of the 1 words"):
        generate_fonts(tmp_path / "none", ["\ue001"], [FONTS / "DejaVuSans.ttf"])
    assert not (tmp_path / "none").exists()


def test_data_synth_command(tmp_path):
    (tmp_path / "lex.txt").write_text("great\nfort\ncamp\n")
    r = CliRunner().invoke(app, ["data", "synth", str(tmp_path / "out"), "--words", str(tmp_path / "lex.txt"),
                                 "--fonts", str(FONTS / "DejaVuSans.ttf"), "--per-word", "2", "--limit", "2",
                                 "--seed", "1"])
    assert r.exit_code == 0, r.output
    assert "4 images of 2 words in 1 font(s)" in r.output
    r = CliRunner().invoke(app, ["data", "synth", str(tmp_path / "x"), "--words", str(tmp_path / "nope.txt"),
                                 "--fonts", str(FONTS)])
    assert r.exit_code != 0 and "nope.txt: cannot read" in r.output and "Traceback" not in r.output
