"""The line-level keyword spotting protocol against rankings worked out by hand (kws-assessment's rules)."""

import math

import numpy as np
import pytest

from wordspot.evaluation.kws import average_precision, kws_scores, relevance


@pytest.mark.parametrize("scores, relevant, expected", [
    ([0.9, 0.8, 0.7], [1, 0, 1], (1 + 2 / 3) / 2),          # as plain AP: 1 at rank 1, 2/3 at rank 3
    ([0.9, 0.8], [0, 1], 0.5),
    ([0.9, 0.8, 0.7, 0.6], [1, 0, 0, 1], 0.75),
    # interpolation: rank 2's precision 1/2 rises to rank 3's 2/3; the trapezoid averages 2/3 and 2/3
    ([0.9, 0.8, 0.7], [0, 1, 1], 2 / 3),
    ([0.9, 0.9], [1, 0], 0.5),                               # a tie is one threshold: precision 1/2
    ([0.9, float("nan")], [1, 1], 0.5),                      # a relevant pair never retrieved is a miss
    ([float("nan"), float("nan")], [1, 0], 0.0),
])
def test_average_precision_by_hand(scores, relevant, expected):
    assert average_precision(np.array(scores), np.array(relevant, bool)) == pytest.approx(expected)


def test_no_relevant_pair_has_no_ap():
    assert math.isnan(average_precision(np.array([0.5, 0.4]), np.array([False, False])))


def test_map_averages_keywords_with_a_relevant_line_and_gap_pools_all_pairs():
    # three lines, three keywords; the third keyword occurs in no line and is left out of mAP
    scores = np.array([[0.9, 0.2, 0.5],
                       [0.1, 0.8, 0.4],
                       [0.3, 0.7, 0.6]])
    relevant = np.array([[1, 0, 0],
                         [0, 1, 0],
                         [0, 1, 0]], bool)
    r = kws_scores(scores, relevant)
    assert r["keywords_with_relevant"] == 2 and r["map"] == pytest.approx(1.0)
    # pooled: 0.9 R, 0.8 R, 0.7 R, then the rest non-relevant: AP 1
    assert r["gap"] == pytest.approx(1.0)
    scores[2, 1] = 0.05  # now below every other pair: precision 3/9 at the last relevant one
    r = kws_scores(scores, relevant)
    # its own column: 0.8 R, 0.2 N, 0.05 R: precision 1, then 2/3 (interpolated 2/3 from rank 2 on)
    assert r["per_keyword"][1] == pytest.approx((1 + 2 / 3) / 2)
    assert r["gap"] == pytest.approx((1 + 1 + 3 / 9) / 3)


def test_exact_tokens_keep_case_and_punctuation_and_folding_merges_them():
    lines = [["O-r-d-e-r-s-s_pt", "t-h-e"], ["o-r-d-e-r-s"], ["O-r-d-e-r-s"]]
    keys, rel = relevance(lines, ["O-r-d-e-r-s", "O-r-d-e-r-s-s_pt"], fold=False)
    assert keys == ["O-r-d-e-r-s", "O-r-d-e-r-s-s_pt"]
    assert rel.tolist() == [[False, True], [False, False], [True, False]]
    keys, rel = relevance(lines, ["O-r-d-e-r-s", "O-r-d-e-r-s-s_pt"], fold=True)
    assert keys == ["orders"] and rel[:, 0].tolist() == [True, True, True]
