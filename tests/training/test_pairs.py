import Levenshtein
import numpy as np

from wordspot.training.pairs import PairSampler, random_edit


def test_random_edit_is_one_edit_or_a_swap():
    rng = np.random.default_rng(0)
    for _ in range(300):
        w = "".join(rng.choice(list("abcde"), rng.integers(1, 8)))
        e = random_edit(w, list("abcde"), rng, max_len=8)
        assert 1 <= len(e) <= 8
        assert Levenshtein.distance(w, e) <= 2  # a swap of two letters counts 2


def test_pairs_cover_close_and_far_distances():
    lexicon = ["orders", "letter", "great", "camp", "fort", "the", "and", "virginia", "instructions"]
    s = PairSampler(lexicon, list("abcdefghijklmnopqrstuvwxyz"), max_len=24, seed=0)
    a, b = s.sample(4000)
    d = np.array([Levenshtein.distance(x, y) for x, y in zip(a, b)])
    assert (d <= 3).mean() > 0.3  # close pairs well represented
    assert (d > 10).sum() > 50  # and far ones present
    assert d.min() == 0
    assert max(len(w) for w in a + b) > 20  # long strings exercise every position
    assert all(1 <= len(w) <= 24 for w in a + b)


def test_sampler_is_seeded_and_resumable():
    s1 = PairSampler(["abc", "bcd"], list("abcd"), 8, seed=3)
    s2 = PairSampler(["abc", "bcd"], list("abcd"), 8, seed=3)
    assert s1.sample(20) == s2.sample(20)
    state = s1.state()
    nxt = s1.sample(5)
    s2.set_state(state)
    assert s2.sample(5) == nxt
