"""A trained model given more symbols (--init on a collection with new letters): old words rank as before."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wordspot.data.text import Alphabet
from wordspot.methods.phoc.base import PHOC
from wordspot.model.embedder import Embedder, ModelConfig
from wordspot.model.grow import _phoc_places, with_symbols

WORDS = ["orders", "great", "camp", "fort"]


def _model(method: str, image_side: str = "") -> Embedder:
    torch.manual_seed(0)
    cfg = ModelConfig(dim=16, max_len=12, string_channels=8, string_hidden=32, image_height=32, image_channels=[4, 8],
                      image_blocks=[1, 1], image_hidden=16, method=method, image_side=image_side,
                      phoc_bigrams=PHOC.from_words(WORDS).bigrams if method != "lsde" else [])
    return Embedder(cfg, Alphabet.from_words(WORDS))


def test_phoc_places_follow_the_sorted_alphabet():
    old, new = PHOC("ab", ["ab"], levels=(2,)), PHOC("abc", ["ab"], levels=(2,))
    # level 2: regions of 2 and 3 unigrams, then the bigram at its 2 regions
    assert _phoc_places(old, new).tolist() == [0, 1, 3, 4, 6, 7]
    word = "ab"
    assert (new(word)[_phoc_places(old, new)] == old(word)).all()
    assert new(word)[[2, 5]].sum() == 0  # no c


def _old_part(emb: Embedder, grown: Embedder, vectors: np.ndarray) -> np.ndarray:
    """The grown model's vectors at the old model's places (a PHOC part has more attributes now)."""
    phoc_old, phoc_new = emb.phoc or emb.aux_phoc, grown.phoc or grown.aux_phoc
    if phoc_old is None:
        return vectors
    places = _phoc_places(phoc_old, phoc_new)
    if emb.phoc is not None:
        return vectors[:, places]
    return np.hstack([vectors[:, :emb.config.dim], vectors[:, emb.config.dim + places]])


@pytest.mark.parametrize("method,side", [("lsde", "read"), ("both", "read"), ("phoc", ""), ("lsde", "regress")])
def test_a_grown_model_keeps_its_old_words(method, side):
    emb = _model(method, side)
    for net in emb.nets():
        net.eval()
    grown = with_symbols(emb, {"z", "\u00e9", "a"})  # a: known already
    assert grown.alphabet.symbols == sorted(set("".join(WORDS)) | {"z", "\u00e9"})
    assert with_symbols(grown, {"z"}) is grown
    np.testing.assert_allclose(_old_part(emb, grown, grown.embed_strings(WORDS)), emb.embed_strings(WORDS), atol=1e-5)
    rng = np.random.default_rng(0)
    images = [rng.random((32, 60)).astype(np.float32) for _ in range(3)]
    np.testing.assert_allclose(_old_part(emb, grown, grown.embed_images(images)), emb.embed_images(images), atol=1e-3)
    if grown.reads:
        _, old_read = emb.embed_and_read(images)
        assert grown.embed_and_read(images)[1] == old_read  # a new letter is never read before fine-tuning
    # the new letters are there to learn: a word with one is encoded, not an unknown symbol
    assert grown.encode(["z\u00e9"], warn=False).sum() > 0 or grown.phoc is not None
