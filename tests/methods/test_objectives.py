"""What each kind of image CNN learns (objectives.py): the kind a model gets, the words a reader
can learn from, and the regression's losses against a naive loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wordspot.config import TrainConfig
from wordspot.data.text import Alphabet
from wordspot.methods import Attributes, Reading, Regression, objective_kind
from wordspot.methods.phoc.base import PHOC
from wordspot.model.embedder import Embedder, ModelConfig

WORDS = ["orders", "order", "letters", "great", "greater", "camp"]


def _model(**kw) -> Embedder:
    cfg = ModelConfig(dim=4, max_len=12, string_channels=8, string_hidden=16, image_height=32, image_channels=[4, 4],
                      image_blocks=[1, 1], image_hidden=16, phoc_bigrams=PHOC.from_words(WORDS).bigrams, **kw)
    torch.manual_seed(0)
    return Embedder(cfg, Alphabet.from_words(WORDS))


def _batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    return torch.rand(n, 1, 32, 48), torch.full((n,), 48)


@pytest.mark.parametrize("kw, kind", [({"method": "phoc"}, Attributes), ({"method": "both"}, Reading),
                                      ({"method": "lsde", "image_side": "regress"}, Regression),
                                      ({"method": "both", "image_side": "regress"}, Regression)])
def test_each_model_gets_its_kind(kw, kind):
    assert objective_kind(_model(**kw)) is kind


def test_a_reader_learns_only_from_words_it_can_spell():
    emb = _model(method="both")
    assert Reading.usable(emb, ["great", "gr@at", "camp", "zoo"]) == [0, 2]  # CTC needs every symbol
    assert Regression.usable(emb, ["great", "gr@at"]) == [0, 1]


@pytest.mark.parametrize("loss", ["euclidean", "bce", "softmax"])
def test_regression_loss_matches_a_naive_loop(loss):
    emb = _model(method="lsde", image_side="regress")
    texts = ["great", "camp", "order", "great"]
    obj = Regression(emb, texts, TrainConfig(image_loss=loss))
    x, w = _batch(3)
    idx = np.array([3, 0, 1])
    emb.image_net.eval()  # no dropout: the loop below sees the same outputs
    got = obj.image_loss(x, w, idx).item()
    out = emb.image_net(x, w).detach().numpy().astype(float)
    tgt = emb.embed_strings(texts).astype(float)
    words = sorted(set(texts))
    total = 0.0
    for b, i in enumerate(idx):
        if loss == "bce":
            for z, t in zip(out[b], tgt[i]):
                p, q = 1 / (1 + math.exp(-z)), 1 / (1 + math.exp(-t))
                total -= (q * math.log(p) + (1 - q) * math.log(1 - p)) / len(out[b])
            continue
        total += sum((o - t) ** 2 for o, t in zip(out[b], tgt[i]))
        if loss == "softmax":  # the image's own word should be the nearest of all training words
            logits = [-sum((o - a) ** 2 for o, a in zip(out[b], emb.embed_strings([v])[0])) for v in words]
            top = max(logits)
            total += top + math.log(sum(math.exp(z - top) for z in logits)) - logits[words.index(texts[i])]
    assert got == pytest.approx(total / len(idx), rel=1e-4)


def test_the_phoc_head_adds_its_weighted_term():
    emb = _model(method="both", image_side="regress")  # a PHOC head of weight phoc_weight
    texts = ["great", "camp", "order"]
    obj = Regression(emb, texts, TrainConfig())
    x, w = _batch(3)
    idx = np.arange(3)
    emb.image_net.eval()
    out, logits = emb.image_net(x, w, aux=True)
    lsde = (out - torch.from_numpy(emb.embed_strings(texts)[:, :4])).pow(2).sum(1).mean()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(emb.aux_phoc.encode(texts)))
    assert obj.image_loss(x, w, idx).item() == pytest.approx((lsde + emb.config.phoc_weight * bce).item(), rel=1e-5)
    vecs, kept = obj.joint(x, w, idx)
    assert vecs.shape == (3, 4) and kept.item() == pytest.approx(emb.config.phoc_weight * bce.item(), rel=1e-5)
