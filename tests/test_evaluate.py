from collections import Counter

import numpy as np
import pytest

from wordspot.embedder import Embedder
from wordspot.evaluate import CEILING, evaluate_strings


def test_ceiling_is_the_spearman_of_tied_levenshtein_distances(tiny_run):
    words = ["orders", "order", "letters", "letter", "great", "greater", "camp", "cramp", "fort", "forth",
             "the", "then", "them", "virginia", "ordered", "lettered"]
    res = evaluate_strings(Embedder.load(tiny_run), words, close=3)
    lev = res["_lev"]
    for part, mask in (("all", lev >= 0), ("close", lev <= 3)):
        # the Spearman of a distance that orders every tie group right but breaks ties: with n pairs
        # and tie groups of sizes t, sqrt(1 - sum(t^3 - t) / (n^3 - n))
        n, ties = mask.sum(), np.array(list(Counter(lev[mask]).values()), float)
        want = np.sqrt(1 - (ties ** 3 - ties).sum() / (n ** 3 - n))
        assert res["methods"][CEILING][f"{part}_spearman"] == pytest.approx(want, abs=1e-6)
        assert res["methods"][CEILING][f"{part}_pearson"] > 0.999
    assert res["methods"][CEILING]["close_spearman"] < 0.95  # ties cap it well below 1
