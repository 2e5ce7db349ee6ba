import numpy as np

from wordspot.phoc import PHOC, NgramBag


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
