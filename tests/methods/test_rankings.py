"""The methods' rankings (rankings.py): the fused ranking against a naive loop, its search forms,
the choice of its weights, and a fused model's string side and file."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wordspot.data.text import Alphabet
from wordspot.evaluation.metrics import spotting_scores
from wordspot.files import load_tree, save_tree
from wordspot.methods import FUSION_DEFAULT, FUSION_GRID, PHOC_ALONE, FusedRanking, choose_fusion
from wordspot.methods.phoc.base import PHOC
from wordspot.model.embedder import Embedder, ModelConfig, ModelError
from wordspot.model.stringside import StringSide

WORDS = ["orders", "order", "letters", "great", "greater", "camp", "fort", "the", "then"]


def _fused_model() -> Embedder:
    cfg = ModelConfig(dim=8, max_len=12, string_channels=8, string_hidden=16, image_height=32, image_channels=[4, 4],
                      image_blocks=[1, 1], image_hidden=16, method="both", phoc_bigrams=PHOC.from_words(WORDS).bigrams)
    return Embedder(cfg, Alphabet.from_words(WORDS))


def _vectors(rng, n: int, dim: int, attrs: int, binary: bool) -> np.ndarray:
    phoc = (rng.random((n, attrs)) < 0.3).astype(np.float32) if binary else rng.normal(0, 3, (n, attrs))
    return np.hstack([rng.normal(0, 2, (n, dim)), phoc]).astype(np.float32)


def test_fused_distances_match_a_naive_loop():
    rng = np.random.default_rng(0)
    r = FusedRanking(4, (0.7, 20.0))
    words, images = _vectors(rng, 3, 4, 6, True), _vectors(rng, 5, 4, 6, False)
    qbs, qbe = r.string_distances(words, images), r.image_distances(images[:2], images)
    for i in range(3):
        for j in range(5):
            lsde = sum((words[i, k] - images[j, k]) ** 2 for k in range(4))
            nll = 0.0
            for a, z in zip(words[i, 4:], images[j, 4:]):
                p = 1.0 / (1.0 + math.exp(-z))
                nll -= math.log(p) if a else math.log(1.0 - p)
            assert qbs[i, j] == pytest.approx(lsde + 0.7 * nll, rel=1e-6)
    for i in range(2):
        for j in range(5):
            lsde = sum((images[i, k] - images[j, k]) ** 2 for k in range(4))
            u, v = images[i, 4:].astype(float), images[j, 4:].astype(float)
            cos = 1.0 - u @ v / (np.linalg.norm(u) * np.linalg.norm(v))
            assert qbe[i, j] == pytest.approx(lsde + 20.0 * cos, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("kind", ["qbs", "qbe"])
@pytest.mark.parametrize("weight", [None, 0.0, PHOC_ALONE])
def test_fused_search_form_orders_as_the_distance(kind, weight):
    """-(query form . image form) is the distance up to a constant per query: the same order, also for
    the grid's ends (each head alone)."""
    rng = np.random.default_rng(1)
    r = FusedRanking(4, (0.3, 30.0) if weight is None else (weight, weight))
    images = _vectors(rng, 40, 4, 6, False)
    queries = _vectors(rng, 3, 4, 6, True) if kind == "qbs" else images[:3]
    dist = r.string_distances(queries, images) if kind == "qbs" else r.image_distances(queries, images)
    metric, image_form, query_form = r.search_form(kind)
    assert metric == "ip"
    ip = query_form(queries).astype(np.float64) @ image_form(images).astype(np.float64).T
    offset = dist + ip
    if weight is None:
        np.testing.assert_allclose(offset, offset[:, :1].repeat(40, 1), rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(np.argsort(dist, 1, kind="stable")[:, :10], np.argsort(-ip, 1, kind="stable")[:, :10])


def test_choose_fusion_takes_the_best_weights_of_the_grid():
    rng = np.random.default_rng(2)
    texts = [WORDS[i % len(WORDS)] for i in range(60)]
    phoc = PHOC.from_words(WORDS)
    # LSDE vectors that confuse words, PHOC logits that read them with noise: fusion has work to do
    lsde = rng.normal(0, 1, (len(WORDS), 4))[[i % len(WORDS) for i in range(60)]] + rng.normal(0, 1.5, (60, 4))
    logits = 6.0 * phoc.encode(texts) - 3.0 + rng.normal(0, 3, (60, phoc.dim))
    images = np.hstack([lsde, logits]).astype(np.float32)
    queries = sorted(set(texts))
    words = np.hstack([rng.normal(0, 1, (len(queries), 4)), phoc.encode(queries)]).astype(np.float32)
    r = FusedRanking(4)
    got = choose_fusion(r, images, texts, words, queries)
    by_weight = {}
    for ws in FUSION_GRID[0]:
        for we in FUSION_GRID[1]:
            s = spotting_scores(images, texts, words, queries, FusedRanking(4, (ws, we)).string_distances,
                                FusedRanking(4, (ws, we)).image_distances)
            by_weight[(ws, we)] = (s["qbs_map"], s["qbe_map"])
    assert got["qbs_map"] == pytest.approx(max(v[0] for v in by_weight.values()))
    assert got["qbe_map"] == pytest.approx(max(v[1] for v in by_weight.values()))
    assert by_weight[got["weights"]] == pytest.approx((got["qbs_map"], got["qbe_map"]))
    # each head alone, as a weight of 0 (LSDE) or one that drowns the LSDE term (PHOC) ranks
    for head, weight in (("lsde", 0.0), ("phoc", PHOC_ALONE)):
        alone = FusedRanking(4, (weight, weight))
        s = spotting_scores(images, texts, words, queries, alone.string_distances, alone.image_distances)
        assert (got["qbs_heads"][head], got["qbe_heads"][head]) == pytest.approx((s["qbs_map"], s["qbe_map"]))


def test_the_fused_ranking_is_never_below_a_head_on_validation():
    """An LSDE head that is noise (a script whose tokens it cannot spell) must not pull the fused
    ranking below the PHOC head: the grid ends in each head alone."""
    rng = np.random.default_rng(3)
    texts = [WORDS[i % len(WORDS)] for i in range(60)]
    phoc = PHOC.from_words(WORDS)
    logits = 6.0 * phoc.encode(texts) - 3.0 + rng.normal(0, 2, (60, phoc.dim))
    images = np.hstack([rng.normal(0, 30, (60, 4)), logits]).astype(np.float32)
    queries = sorted(set(texts))
    words = np.hstack([rng.normal(0, 30, (len(queries), 4)), phoc.encode(queries)]).astype(np.float32)
    got = choose_fusion(FusedRanking(4), images, texts, words, queries)
    for kind in ("qbs", "qbe"):
        assert got[f"{kind}_map"] >= max(got[f"{kind}_heads"].values()) - 1e-12
        assert got[f"{kind}_map"] > got[f"{kind}_heads"]["lsde"] + 0.1  # the noise head is really worse


def test_a_saturated_validation_set_keeps_the_default_weights():
    """Words the two heads both rank perfectly tie every weight: the default is kept, not the grid's
    first weight (which would weigh the LSDE head most)."""
    texts = [WORDS[i % len(WORDS)] for i in range(40)]
    phoc = PHOC.from_words(WORDS)
    lsde = 10.0 * np.random.default_rng(0).normal(0, 1, (len(WORDS), 4))[[i % len(WORDS) for i in range(40)]]
    images = np.hstack([lsde, 12.0 * phoc.encode(texts) - 6.0]).astype(np.float32)
    queries = sorted(set(texts))
    words = np.hstack([lsde[[texts.index(q) for q in queries]], phoc.encode(queries)]).astype(np.float32)
    got = choose_fusion(FusedRanking(4), images, texts, words, queries)
    assert got["qbs_map"] == pytest.approx(1.0) and got["qbe_map"] == pytest.approx(1.0)
    assert got["weights"] == FUSION_DEFAULT


def test_fused_model_file_and_string_side(tmp_path):
    emb = _fused_model()
    assert emb.dim == 8 + emb.aux_phoc.dim and emb.config.phoc_weight > 0  # "both" always has its PHOC head
    first = emb.model_id()
    emb.set_fusion((1.0, 3.0))
    assert emb.model_id() != first  # the weights change the ranking: an index must know
    emb.save(tmp_path / "m.pt")
    back, lite = Embedder.load(tmp_path / "m.pt"), StringSide.load(tmp_path / "m.pt")
    assert back.ranking.weights == (1.0, 3.0) and back.model_id() == emb.model_id() == lite.model_id()
    np.testing.assert_allclose(lite.embed_strings(WORDS), emb.embed_strings(WORDS), rtol=1e-4, atol=1e-5)
    assert lite.dim == emb.dim and emb.embed_strings(WORDS).shape == (len(WORDS), emb.dim)
    images = [np.random.default_rng(3).random((32, 40)).astype(np.float32) for _ in range(3)]
    assert emb.embed_images(images).shape == (3, emb.dim)
    blob = load_tree(tmp_path / "m.pt")
    save_tree({**blob, "fusion": ["a", 1]}, tmp_path / "bad.pt")
    for load in (Embedder.load, StringSide.load):
        with pytest.raises(ModelError, match="fusion weights"):
            load(tmp_path / "bad.pt")
