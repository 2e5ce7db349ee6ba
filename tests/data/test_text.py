import warnings

import numpy as np
import pytest

from wordspot.data.text import (
    Alphabet,
    LongWordWarning,
    TextNorm,
    UnknownSymbolWarning,
    decode_fki,
    is_special,
    query_text,
    special_symbol,
)


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


def test_too_long_word_is_squeezed_not_truncated():
    al = Alphabet("abcdefghij")
    with pytest.warns(LongWordWarning, match="1 word\\(s\\) longer than the 4 positions"):
        x = al.onehot(["abcdefghij"], max_len=4, both_ends=True)
    assert x.shape == (1, 20, 4)
    assert np.allclose(x[0, :10].sum(0), 1.0) and x[0, :10].sum() == pytest.approx(4.0)  # every position full
    assert (x[0, :10].sum(1) > 0).all()  # every letter counts, the last ones too
    assert x[0, al.index["j"], 3] > 0 and x[0, al.index["a"], 0] > 0  # in order
    assert np.array_equal(x[0, :10], x[0, 10:])  # a word filling the window is aligned at both ends
    # a change at the end of a long word changes its encoding (truncation would hide it)
    with pytest.warns(LongWordWarning):
        assert not np.array_equal(al.onehot(["abcdefghij"], 4), al.onehot(["abcdefghia"], 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(al.onehot(["abab"], 4).sum(), 4.0)


def test_bare_and_prefixed_tokens_are_one_symbol_each():
    assert decode_fki("d-e-s_pt") == "de." == decode_fki("d-e-pt")
    assert decode_fki("w-o-l-eq") == "wol-"
    word = decode_fki("v-hp115-a-l")
    assert len(word) == 4 and word[1] == special_symbol("hp115") and is_special(word[1])
    assert TextNorm()(word) == "v" + special_symbol("hp115") + "al"  # kept by the alphanumeric filter
    assert TextNorm()(decode_fki("d-e-pt")) == "de"  # punctuation is still folded away
    assert decode_fki("s_GW") == "GW" and decode_fki("s_1st") == "1st"  # George Washington's set as before
    # a user types a token in brackets, as the labels write it
    assert query_text("v[hp115]al") == word and query_text("Orders[s_pt]") == "Orders."
    assert query_text("[x]") == "x" and query_text("a[b") == "a[b"


def test_large_alphabet_and_long_words_embed():
    import torch

    from wordspot.model.networks import StringCNN, soft_onehot
    symbols = [chr(0x3B1 + i) for i in range(24)] + [chr(0x410 + i) for i in range(32)] + list("0123456789")
    al = Alphabet(symbols)  # 66 symbols: Greek, Cyrillic, digits
    words = ["".join(symbols[(7 * i + j) % len(symbols)] for j in range(n)) for i, n in enumerate((3, 12, 45))]
    with pytest.warns(LongWordWarning):
        x = torch.from_numpy(al.onehot(words, 16, both_ends=True))
    net = StringCNN(2 * len(al), 16, 8, 8, 32)
    assert net(x).shape == (3, 8)
    # a reader's soft reading of a long word is squeezed the same way
    logp = torch.full((60, 1, len(al) + 1), -30.0)
    for t, ch in enumerate(words[2]):
        logp[t, 0, al.index[ch]] = 0.0
    soft = soft_onehot(logp, torch.tensor([45]), 16, True)
    with pytest.warns(LongWordWarning):
        assert torch.allclose(soft, torch.from_numpy(al.onehot([words[2]], 16, both_ends=True)), atol=1e-5)


def test_onehot_both_ends_aligns_the_word_right_too():
    al = Alphabet("abc")
    x = al.onehot(["ab"], max_len=4, both_ends=True)
    assert x.shape == (1, 6, 4)
    assert x[0, :3].argmax(0)[:2].tolist() == [0, 1] and x[0, :3, 2:].sum() == 0  # left-aligned block
    assert x[0, 3:, :2].sum() == 0 and x[0, 3:].argmax(0)[2:].tolist() == [0, 1]  # right-aligned block
