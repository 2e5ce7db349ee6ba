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
