import warnings

import numpy as np
import pytest

from wordspot.text import Alphabet, TextNorm, UnknownSymbolWarning, decode_fki, special_symbol


def test_decode_fki_letters_and_specials():
    assert decode_fki("O-r-d-e-r-s") == "Orders"
    assert decode_fki("L-e-t-t-e-r-s-s_cm") == "Letters,"
    assert decode_fki("s_2-s_7-s_0-s_pt") == "270."
    assert decode_fki("s_s-o") == "so"  # long s reads as s
    assert decode_fki("s_1st") == "1st"
    assert decode_fki("w-e-l-l-s_mi-b-e-i-n-g") == "well-being"


def test_unknown_special_token_is_one_stable_symbol():
    out = decode_fki("a-s_xyz-b")
    assert len(out) == 3 and out[0] == "a" and out[2] == "b"
    assert out[1] == special_symbol("s_xyz") == decode_fki("s_xyz")
    assert decode_fki("s_abc") != decode_fki("s_xyz")


def test_text_norm_defaults_follow_gw_protocol():
    norm = TextNorm()
    assert norm("Letters,") == "letters"
    assert norm("270.") == "270"
    assert norm("well-being") == "wellbeing"
    assert TextNorm(lowercase=False)("Orders,") == "Orders"
    assert TextNorm(alnum_only=False)("Orders,") == "orders,"
    assert TextNorm()("Ärger") == "ärger"  # any Unicode letter survives


def test_alphabet_learned_and_onehot_positions():
    al = Alphabet.from_words(["abc", "cab", "zz"])
    assert al.symbols == ["a", "b", "c", "z"]
    x = al.onehot(["cab"], max_len=5)
    assert x.shape == (1, 4, 5)
    assert x[0, :, 0].tolist() == [0, 0, 1, 0]
    assert x[0, :, 1].tolist() == [1, 0, 0, 0]
    assert x[0, :, 3:].sum() == 0


def test_unknown_query_symbol_warns_and_leaves_zero_column():
    al = Alphabet("ab")
    with pytest.warns(UnknownSymbolWarning, match="q"):
        x = al.onehot(["aqb"], max_len=4)
    assert x[0, :, 1].sum() == 0  # the unknown symbol keeps its position, contributes nothing
    assert x[0, al.index["b"], 2] == 1  # and the rest of the word stays aligned


def test_too_long_word_is_refused_not_truncated():
    al = Alphabet("ab")
    with pytest.raises(ValueError, match="at most 4"):
        al.onehot(["ababa"], max_len=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(al.onehot(["abab"], 4).sum(), 4.0)


def test_onehot_both_ends_aligns_the_word_right_too():
    al = Alphabet("abc")
    x = al.onehot(["ab"], max_len=4, both_ends=True)
    assert x.shape == (1, 6, 4)
    assert x[0, :3].argmax(0)[:2].tolist() == [0, 1] and x[0, :3, 2:].sum() == 0  # left-aligned block
    assert x[0, 3:, :2].sum() == 0 and x[0, 3:].argmax(0)[2:].tolist() == [0, 1]  # right-aligned block
