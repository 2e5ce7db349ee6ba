"""A keyword's CTC score in a line: whole words only, the reader's own reading scores 0, and its place."""

import numpy as np
import pytest

from wordspot.search.lines import keyword_scores

SYMBOLS = [" ", ".", "T", "a", "e", "h", "r", "t"]


def _reading(text: str) -> np.ndarray:
    """Log-probabilities of a reader sure of `text`, a blank after each symbol."""
    frames = []
    for ch in text:
        for c in (SYMBOLS.index(ch), len(SYMBOLS)):
            v = np.full(len(SYMBOLS) + 1, -9.0)
            v[c] = -0.01
            frames.append(v)
    return np.array(frames)


def test_whole_words_score_zero_and_parts_of_words_pay_for_the_missing_boundary():
    lines = [_reading("the at"), _reading("there at"), _reading("at the"), _reading("hat")]
    scores, spans = keyword_scores(lines, SYMBOLS, "the")
    assert scores[0] == pytest.approx(0, abs=0.1) and scores[2] == pytest.approx(0, abs=0.1)
    assert scores[1] < -8 and scores[3] < scores[1]  # "there": one frame bent; "hat": the word is not there
    assert spans[0] == (0, 4) and spans[2] == (6, 10)  # t h e take frames 0..4 (blanks between), or 6..10
    assert scores[0] == scores[2] == 0.0  # both readings hold it: a tie, not two roundings of 0


def test_exact_keeps_case_and_punctuation_and_fold_merges_them():
    lines = [_reading("The at."), _reading("at the")]
    exact, _ = keyword_scores(lines, SYMBOLS, "the")
    assert exact[0] < -8 and exact[1] == pytest.approx(0, abs=0.1)
    folded, _ = keyword_scores(lines, SYMBOLS, "the", fold=True)
    assert folded[0] == pytest.approx(0, abs=0.1)
    at, _ = keyword_scores(lines, SYMBOLS, "at", fold=True)  # "at." : the full stop is a boundary when folded
    assert at[0] == pytest.approx(0, abs=0.1)
    exact_at, _ = keyword_scores(lines, SYMBOLS, "at")
    assert exact_at[1] == pytest.approx(0, abs=0.1) and exact_at[0] < -8  # "at." is another token when exact


def test_a_keyword_the_alphabet_cannot_write_is_never_retrieved():
    scores, spans = keyword_scores([_reading("the")], SYMBOLS, "thz")
    assert np.isnan(scores).all() and spans == [None]


def test_candidate_lines_come_nearest_first_and_stop_at_what_is_wanted():
    from wordspot.search.readings import Readings
    r = Readings(["the cat", "tha rat", "eeeee", "at the.", "The"], SYMBOLS + ["c", "d", "o"])
    assert list(r.candidates("the", False, 1)) == [0]
    assert list(r.candidates("the", False, 10)) == [0, 1, 3, 4]  # "tha", "the.", "The": one edit; "eeeee" never
    assert list(r.candidates("the", True, 2)) == [0, 3]  # folded, "the." and "The" are "the"
    assert list(r.candidates("the", True, 10)) == [0, 3, 4, 1]
    assert list(r.candidates("zzzzzz", False, 10)) == []
    assert list(r.candidates("at the", False, 10)) == [0, 3, 1]  # a phrase: near both words, edits added


def _line_index(path, readings: list[str], fmt: int = 3, within: float = 10.0):
    """A line index of readers sure of `readings`, written as `wordspot index` writes one (format 3), or as
    older versions did: every class kept (2), and no readings either (1)."""
    import json

    from wordspot.index.lines import write_line_index
    lps = [_reading(t) for t in readings]
    records = [{"source": str(path / f"l{i}.png"), "page": "p", "box": None, "text": t, "lo": 0.0, "scale": 1.0,
                "width": 4 * len(lp), "height": 32, "frames": len(lp), **({"reading": t} if fmt > 1 else {})}
               for i, (t, lp) in enumerate(zip(readings, lps))]
    meta = {"model_id": "m", "model_path": "", "alphabet": SYMBOLS}
    if fmt == 3:
        return write_line_index(path, records, lps, meta, within)
    path.mkdir()
    np.save(path / "logprobs.npy", np.concatenate(lps).astype(np.float16))
    (path / "line-index.json").write_text(json.dumps({"kind": "lines", "format": fmt, **meta, "lines": records}))


def test_a_large_line_index_scores_the_lines_read_near_the_keyword_and_exact_scores_all(tmp_path, monkeypatch):
    import wordspot.search.line_query as lq
    from wordspot.index.lines import LineIndex
    texts = ["at the", "hat", "the", "a tea", "there", "Tea at", "eat", "ate the"] * 3
    _line_index(tmp_path / "a.idx", texts)
    index = lq.LineSearcher(LineIndex(tmp_path / "a.idx"))
    assert not index.approximate  # small: every line scored
    monkeypatch.setattr(lq, "SCAN_ALL", 4)
    monkeypatch.setattr(lq, "CANDIDATES", 5)
    assert index.approximate
    fast, exact = index.search("the", 5, fold=False), index.search("the", 5, fold=False, exact=True)
    assert [h.line.source for h in fast] == [h.line.source for h in exact]  # all five hold "the": same ties
    assert all(h.score == pytest.approx(0, abs=0.1) for h in fast)
    assert len(index.search("the", 50, fold=False)) < len(index.search("the", 50, fold=False, exact=True)) == 24
    assert index.search("aaaa", 3, fold=False) == [] and "0 line(s) read near it" in index.shortfall([], 3)
    assert len(index.search("aaaa", 3, fold=False, exact=True)) == 3  # every line ranked, however far
    for exact in (False, True):  # a phrase: its words next to each other in the line
        phrase = index.search("at the", 4, fold=False, exact=exact)
        assert [h.line.text for h in phrase[:3]] == ["at the"] * 3 and phrase[2].score > -0.1 > -5 > phrase[3].score
    _line_index(tmp_path / "old.idx", texts, fmt=1)  # format 1: no readings, every line scored
    old = lq.LineSearcher(LineIndex(tmp_path / "old.idx"))
    assert not old.approximate and len(old.search("the", 50, fold=False)) == 24


def test_frames_keep_the_likely_classes_and_score_as_if_all_were_kept(tmp_path):
    from wordspot.index.lines import dense_frames, sparse_frames
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 300)) * 4  # an alphabet beyond one byte's classes
    lp = (x - np.log(np.exp(x).sum(1, keepdims=True))).astype(np.float16).astype(np.float64)
    kept, classes, logp, rest = sparse_frames(lp, within=1e9)
    assert classes.dtype == np.uint16 and (kept == 255).all()  # at most 255 a frame
    assert (dense_frames(kept, classes, logp, rest, 300) >= lp).all()  # the rest: never below a class it stands for
    kept, classes, logp, rest = sparse_frames(lp, within=3.0)
    back = dense_frames(kept, classes, logp, rest, 300)
    near = lp >= lp.max(1, keepdims=True) - 3.0
    assert (back[near] == lp[near]).all() and (back[~near] >= lp[~near]).all() and kept.sum() == near.sum()
    texts = ["at the", "hat", "The", "ate the."]
    _line_index(tmp_path / "new.idx", texts, within=5.0)  # each frame keeps its best; the others all read -9
    _line_index(tmp_path / "old.idx", texts, fmt=2)
    from wordspot.index.lines import LineIndex
    new, old = LineIndex(tmp_path / "new.idx"), LineIndex(tmp_path / "old.idx")
    assert sum(np.load(f).nbytes for f in (tmp_path / "new.idx").glob("*.npy")) * 3 == \
        sum(np.load(f).nbytes for f in (tmp_path / "old.idx").glob("*.npy"))  # 6 bytes a frame, not 2 a class
    for word in ("the", "at", "hate"):  # the rest is what every class left out read: the same scores
        for fold in (False, True):
            assert (keyword_scores(new.logprobs_of(range(4)), SYMBOLS, word, fold)[0] ==
                    keyword_scores(old.logprobs_of(range(4)), SYMBOLS, word, fold)[0]).all()


@pytest.mark.parametrize("damage", ["counts", "class", "dtype", "frames"])
def test_a_damaged_line_index_is_one_clear_error(tmp_path, damage):
    from wordspot.errors import WordspotError
    from wordspot.index.lines import LineIndex
    _line_index(tmp_path / "a.idx", ["at the", "hat"])
    path = tmp_path / "a.idx"
    if damage == "counts":
        np.save(path / "kept.npy", np.load(path / "kept.npy") + 1)
    elif damage == "class":
        classes = np.load(path / "classes.npy")
        classes[3] = len(SYMBOLS) + 1  # no such class
        np.save(path / "classes.npy", classes)
    elif damage == "dtype":
        np.save(path / "rest.npy", np.load(path / "rest.npy").astype(np.float64))
    else:
        np.save(path / "rest.npy", np.load(path / "rest.npy")[:-1])
    with pytest.raises(WordspotError, match="damaged line index"):
        LineIndex(path)


def test_an_example_is_searched_as_what_the_reader_reads_in_it(tmp_path):
    from wordspot.errors import WordspotError
    from wordspot.search.line_query import LineSearcher, read_example

    class Reader:  # reads "the" in any image, or nothing in a blank one
        config = type("C", (), {"image_height": 32})
        blank = len(SYMBOLS)

        def logprobs(self, images):
            return [_reading(" the.") if im.max() > 0 else np.log(np.eye(len(SYMBOLS) + 1)[-1:] + 1e-9)
                    for im in images]

        def transcribe(self, lp):
            best = lp.argmax(1)
            keep = (best != self.blank) & np.r_[True, best[1:] != best[:-1]]
            return "".join(SYMBOLS[c] for c in best[keep])
    page = np.full((100, 300), 255, np.uint8)
    page[40:60, 100:200] = 0
    assert read_example(Reader(), page[30:70, 90:210]) == "the"  # punctuation and spaces left out
    with pytest.raises(WordspotError, match="reads nothing in the example"):
        read_example(Reader(), page[:30, :50])  # all white
    _line_index(tmp_path / "a.idx", ["at the", "hat", "the"])
    from wordspot.index.lines import LineIndex
    hits = LineSearcher(LineIndex(tmp_path / "a.idx")).search(read_example(Reader(), page), 2)
    assert sorted(h.line.text for h in hits) == ["at the", "the"]


def test_line_hits_as_page_xml_are_words_inside_their_lines(tmp_path):
    import cv2

    from wordspot.data import Crop
    from wordspot.data.pagefiles import read_page_xml
    from wordspot.search.line_query import LineHit, line_page_xml
    cv2.imwrite(str(tmp_path / "page.png"), np.full((300, 400), 255, np.uint8))
    cv2.imwrite(str(tmp_path / "line.png"), np.full((40, 300), 255, np.uint8))
    page_line = Crop(str(tmp_path / "page.png"), "p", (10, 100, 390, 140), "at the hat")
    hits = [LineHit(1, 0.0, page_line, (60, 100, 110, 140)), LineHit(2, -3.0, page_line, None),
            LineHit(3, -9.0, Crop(str(tmp_path / "line.png"), "q", None, "the"), (5, 0, 50, 40))]
    files = line_page_xml("the", hits, tmp_path / "out")
    assert sorted(f.name for f in files) == ["line.xml", "page.xml"]
    words = read_page_xml(tmp_path / "out" / "page.xml").words
    assert [w.box for w in words] == [(60, 100, 110, 140), (10, 100, 390, 140)]  # not placed: the whole line
    assert [w.box for w in read_page_xml(tmp_path / "out" / "line.xml").words] == [(5, 0, 50, 40)]
    text = (tmp_path / "out" / "page.xml").read_text()
    assert 'conf="1.0000"' in text and f'conf="{np.exp(-3):.4f}"' in text and "score:-3;" in text
