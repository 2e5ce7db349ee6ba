import math

import numpy as np
import pytest

from wordspot.evaluation.metrics import average_precisions, cosine_distances, spotting_scores


def naive_ap(dist_row, rel_row):
    order = sorted(range(len(dist_row)), key=lambda i: (dist_row[i], i))
    hits, total = 0, 0.0
    for rank, i in enumerate(order, 1):
        if rel_row[i]:
            hits += 1
            total += hits / rank
    return total / hits if hits else float("nan")


def test_ap_matches_naive_on_random_cases():
    rng = np.random.default_rng(0)
    for _ in range(50):
        q, n = rng.integers(1, 6), rng.integers(1, 30)
        dist = rng.integers(0, 5, (q, n)).astype(float)  # small integers: many ties
        rel = rng.random((q, n)) < 0.3
        got = average_precisions(dist, rel)
        want = [naive_ap(d, r) for d, r in zip(dist, rel)]
        np.testing.assert_allclose(got, want, equal_nan=True)


def test_hand_cases():
    # relevant at ranks 1 and 3: (1/1 + 2/3) / 2
    assert average_precisions([[0.1, 0.2, 0.3]], [[1, 0, 1]])[0] == pytest.approx((1 + 2 / 3) / 2)
    # every item relevant
    assert average_precisions([[3.0, 1.0, 2.0]], [[1, 1, 1]])[0] == 1.0
    # no relevant item: NaN, dropped by the caller
    assert math.isnan(average_precisions([[0.1, 0.2]], [[0, 0]])[0])
    # a tie keeps collection order: the relevant item listed second ranks second
    assert average_precisions([[0.5, 0.5]], [[0, 1]])[0] == 0.5


def test_exclusion_removes_query_from_its_ranking():
    ap = average_precisions([[0.0, 0.1, 0.2]], [[1, 0, 1]], exclude=np.array([[True, False, False]]))
    assert ap[0] == 0.5


def test_spotting_scores_protocol():
    vecs = np.array([[0.0], [0.1], [5.0], [5.1], [9.0]])
    texts = ["a", "a", "b", "b", "c"]
    qv = np.array([[0.0], [5.0], [9.0], [20.0]])
    s = spotting_scores(vecs, texts, qv, ["a", "b", "c", "zzz"])
    assert s["qbs_queries"] == 3 and s["qbs_dropped"] == 1  # "zzz" has no relevant image
    assert s["qbs_map"] == 1.0
    assert s["qbe_queries"] == 4  # "c" occurs once: not a QbE query
    assert s["qbe_map"] == 1.0


def test_cosine_distances_match_a_naive_loop():
    rng = np.random.default_rng(1)
    q, x = rng.normal(size=(3, 5)), rng.normal(size=(4, 5))
    got = cosine_distances(q, x)
    for i in range(3):
        for j in range(4):
            want = 1 - q[i] @ x[j] / (np.linalg.norm(q[i]) * np.linalg.norm(x[j]))
            assert got[i, j] == pytest.approx(want)
    assert cosine_distances(q, 3 * q).diagonal() == pytest.approx(0.0, abs=1e-12)  # scale does not matter


def test_spotting_scores_use_the_given_distances():
    vecs = np.array([[1.0, 0.0], [5.0, 0.0], [0.0, 1.0]])
    texts = ["a", "a", "b"]
    # [1, 0] is nearer [0, 1] than [5, 0] by Euclidean distance, but not by angle
    assert spotting_scores(vecs, texts, vecs[:1], ["a"])["qbe_map"] < 1.0
    assert spotting_scores(vecs, texts, vecs[:1], ["a"], image_distances=cosine_distances)["qbe_map"] == 1.0
