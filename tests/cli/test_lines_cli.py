"""Lines from the command line: train a line reader, index lines with it, search them, measure it."""

import json

import pytest
from conftest import make_fki_lines
from typer.testing import CliRunner

from wordspot.cli import app

pytestmark = pytest.mark.train
runner = CliRunner()


@pytest.fixture(scope="module")
def line_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lines")
    db = make_fki_lines(tmp / "db")
    r = runner.invoke(app, ["train", "--lines", "--data", str(db), "--split", "cv1", "--out", str(tmp / "run"),
                            "--image-epochs", "2", "--height", "32", "--set", "line_batch=2", "--seed", "0",
                            "--plain"])
    assert r.exit_code == 0, r.output
    return tmp, db


def test_lines_are_indexed_and_searched_without_the_model(line_run):
    tmp, db = line_run
    r = runner.invoke(app, ["index", str(tmp / "run"), "--data", str(db), "--split", "cv1", "--subset", "all",
                            "--out", str(tmp / "lines.idx")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["query", str(tmp / "lines.idx"), "the", "-k", "3", "--json"])
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)["hits"]
    assert len(hits) == 3 and [h["rank"] for h in hits] == [1, 2, 3]
    assert all(h["line"].endswith(".png") and h["box"] is None or len(h["box"]) == 4 for h in hits)
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    r = runner.invoke(app, ["query", str(tmp / "lines.idx"), "the", "-k", "2", "--csv", str(tmp / "hits.csv")])
    assert r.exit_code == 0, r.output
    rows = (tmp / "hits.csv").read_text().splitlines()
    assert rows[0].startswith("query,rank,score") and len(rows) == 3 and rows[1].startswith("the,1,")
    r = runner.invoke(app, ["query", str(tmp / "lines.idx"), "the", "--min-score", "0.5"])
    assert r.exit_code == 1 and "not probabilities" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["query", str(tmp / "lines.idx"), "the", "-k", "3", "--page-xml", str(tmp / "px")])
    assert r.exit_code == 0, r.output
    from wordspot.data.pagefiles import read_page_xml
    pages = [read_page_xml(f) for f in sorted((tmp / "px").glob("*.xml"))]
    words = [w for p in pages for w in p.words]
    assert len(words) == 3 and all(w.text == "the" for w in words)  # each hit a Word on its line image
    assert all(p.image.is_file() and p.image.suffix == ".png" for p in pages)


def test_an_example_image_is_read_by_the_index_reader_and_searched_as_what_it_reads(line_run, tmp_path):
    tmp, db = line_run
    idx = tmp_path / "l.idx"
    assert runner.invoke(app, ["index", str(tmp / "run"), "--data", str(db), "--split", "cv1", "--subset", "all",
                               "--out", str(idx)]).exit_code == 0
    line = db / "data" / "line_images_normalized" / "100-01.png"
    r = runner.invoke(app, ["query", str(idx), "--image", str(line), "--box", "0,0,60,40", "-k", "2", "--json"])
    # a reader trained two epochs may read anything, or nothing: either is said plainly
    assert (r.exit_code == 0 and "read as" in r.output) or (r.exit_code == 1 and "reads nothing in the example" in r.output)
    assert "Traceback" not in r.output
    r = runner.invoke(app, ["query", str(idx), "--image", str(line), "--model", str(tmp / "nothing")])
    assert r.exit_code == 1 and "needs the line reader that built the index" in r.output
    r = runner.invoke(app, ["query", str(idx), "--image", str(tmp_path / "none.png")])
    assert r.exit_code == 1 and "none.png" in r.output and "Traceback" not in r.output


def test_eval_of_a_line_reader_runs_the_line_protocol(line_run):
    tmp, db = line_run
    r = runner.invoke(app, ["eval", str(tmp / "run"), "--data", str(db), "--split", "cv1", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    (fold,) = res.values()
    assert set(fold) >= {"exact", "folded", "seconds_per_line"}
    assert fold["folded"]["keywords_with_relevant"] == 1 and "localisation" in fold["folded"]


def test_train_lines_without_data_is_one_clear_line(tmp_path):
    r = runner.invoke(app, ["train", "--lines", "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and "--lines needs --data" in r.output and "Traceback" not in r.output


def test_a_bare_page_is_not_read_as_a_line_and_the_route_is_said(line_run, tmp_path):
    import cv2
    import numpy as np

    run, _ = line_run
    cv2.imwrite(str(tmp_path / "page.png"), np.full((800, 600), 255, np.uint8))
    r = runner.invoke(app, ["index", str(run / "run"), str(tmp_path / "page.png"), "--out", str(tmp_path / "x.idx")])
    assert r.exit_code == 1 and "looks like a page" in r.output and "segment pages into lines" in r.output


def test_a_line_reader_is_not_taken_for_a_word_model(line_run):
    from wordspot.model.embedder import Embedder
    from wordspot.model.modelfile import ModelError, is_line_reader

    run, _ = line_run
    assert is_line_reader(run / "run") and not is_line_reader(run / "nothing")
    with pytest.raises(ModelError, match="a line reader, not a word model"):
        Embedder.load(run / "run")


def test_a_line_index_is_rebuilt_in_place_and_another_folder_is_never_overwritten(line_run, tmp_path):
    run, db = line_run
    args = ["index", str(run / "run"), "--data", str(db), "--split", "cv1", "--subset", "test"]
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "l.idx")]).exit_code == 0
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "l.idx")]).exit_code == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "mine")])
    assert r.exit_code == 1 and "is not a line index" in r.output
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_a_sheet_draws_the_hit_lines(line_run, tmp_path):
    import cv2

    run, db = line_run
    assert runner.invoke(app, ["index", str(run / "run"), "--data", str(db), "--split", "cv1", "--subset", "all",
                               "--out", str(tmp_path / "l.idx")]).exit_code == 0
    r = runner.invoke(app, ["query", str(tmp_path / "l.idx"), "cat", "-k", "2", "--sheet", str(tmp_path / "s.png")])
    assert r.exit_code == 0, r.output
    sheet = cv2.imread(str(tmp_path / "s.png"))
    assert sheet is not None and sheet.shape[0] == 30 + 2 * 110 and (sheet < 128).any()


def test_data_check_of_lines_counts_lines_words_and_keywords(tmp_path):
    db = make_fki_lines(tmp_path / "db")
    r = runner.invoke(app, ["data", "check", str(db), "--split", "cv1", "--lines"])
    assert r.exit_code == 0, r.output
    assert "5 lines holding 11 words" in r.output and "keywords: 4, 1 of them in the test lines" in r.output
    assert "s_pt x2 -> '.'" in r.output  # the lines' special tokens, as for words
    r = runner.invoke(app, ["data", "check", str(db), "--split", "cv1", "--lines", "--json"])
    report = json.loads(r.stdout)
    assert report["subsets"]["train"]["words"] == 3 and report["words_in_lines"]["train"]["words"] == 6
