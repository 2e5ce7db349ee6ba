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


def _line_index(path, readings: list[str], with_readings: bool = True):
    """A line index of readers sure of `readings`, written as `wordspot index` writes one."""
    import json
    path.mkdir()
    lps = [_reading(t) for t in readings]
    records = [{"source": str(path / f"l{i}.png"), "page": "p", "box": None, "text": t, "lo": 0.0, "scale": 1.0,
                "width": 4 * len(lp), "height": 32, "frames": len(lp), **({"reading": t} if with_readings else {})}
               for i, (t, lp) in enumerate(zip(readings, lps))]
    np.save(path / "logprobs.npy", np.concatenate(lps).astype(np.float16))
    (path / "line-index.json").write_text(json.dumps({"kind": "lines", "format": 2, "model_id": "m", "model_path": "",
                                                      "alphabet": SYMBOLS, "lines": records}))


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
    _line_index(tmp_path / "old.idx", texts, with_readings=False)  # format 1: no readings, every line scored
    old = lq.LineSearcher(LineIndex(tmp_path / "old.idx"))
    assert not old.approximate and len(old.search("the", 50, fold=False)) == 24
