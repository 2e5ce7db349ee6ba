import numpy as np
import pytest

from wordspot.methods.phoc.base import PHOC, NgramBag, prm_distances


def test_phoc_vector_by_hand():
    # alphabet a, b; levels 2 and 3; one bigram "ab" at level 2
    p = PHOC("ab", ["ab"], levels=(2, 3), bigram_level=2)
    v = p("ab")
    # level 2: 'a' occupies [0, .5) -> region 0; 'b' [.5, 1) -> region 1. Layout region-major: [a b | a b]
    level2 = [1, 0, 0, 1]
    # level 3: 'a' [0, .5): region 0 fully (1/3 of .5 -> .67 >= .5), region 1 ([1/3, .5) is 1/3 of it) no
    #          'b' [.5, 1): region 2 yes, region 1 no -> [a b | a b | a b] = [1 0 | 0 0 | 0 1]
    level3 = [1, 0, 0, 0, 0, 1]
    # bigram 'ab' spans [0, 1): half in each of the 2 regions -> both
    bigram = [1, 1]
    assert v.tolist() == level2 + level3 + bigram
    assert p.dim == len(v)


def test_phoc_from_words_uses_frequent_bigrams():
    p = PHOC.from_words(["the", "then", "them", "ox"], n_bigrams=2)
    assert p.bigrams == ["th", "he"]
    assert p.dim == len(p.unigrams) * 14 + 2 * 2
    assert np.all(p.encode(["the"]) == p("the"))


def test_ngram_bag_counts():
    bag = NgramBag(["aa"], n=2)
    v = bag.encode(["aa"])[0]
    # grams of "<aa>": unigrams < a a >, bigrams <a aa a>
    assert v.sum() == 7
    assert v[bag._index["a"]] == 2


def test_prm_distances_match_a_naive_loop():
    rng = np.random.default_rng(0)
    phocs = (rng.random((4, 7)) < 0.4).astype(np.float32)
    logits = rng.normal(0, 30, (5, 7))  # large logits: probabilities of exactly 0 or 1 in float
    got = prm_distances(phocs, logits)
    for q in range(4):
        for n in range(5):
            nll = 0.0
            for a, z in zip(phocs[q], logits[n]):
                # -log p(a | z) with p = sigmoid(z), in a form that stays finite
                nll += np.log1p(np.exp(-abs(z))) + max(0.0, -z if a else z)
            assert got[q, n] == pytest.approx(nll, rel=1e-9)
    # the most likely image for a PHOC is the one whose logits agree with it in sign
    agree = np.where(phocs[:1] > 0, 5.0, -5.0)
    assert prm_distances(phocs[:1], np.vstack([agree, -agree])).argmin() == 0
