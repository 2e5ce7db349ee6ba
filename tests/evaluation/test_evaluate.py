from collections import Counter

import numpy as np
import pytest

from wordspot.evaluation.evaluate import CEILING, evaluate_strings
from wordspot.model.embedder import Embedder


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


def test_spearman_of_distances_matches_a_naive_loop_and_its_sample():
    import Levenshtein
    from scipy.stats import spearmanr

    from wordspot.evaluation.evaluate import distance_spearman
    rng = np.random.default_rng(0)
    queries, texts = ["great", "grate", "camp"], ["great", "greater", "camp", "cramp", "the"]
    dist = rng.random((3, 5))
    d, lev = [], []
    for i, q in enumerate(queries):  # every pair, one by one
        for j, t in enumerate(texts):
            d.append(dist[i, j])
            lev.append(Levenshtein.distance(q, t))
    assert distance_spearman(dist, queries, texts) == pytest.approx(spearmanr(d, lev)[0])
    exact = np.array([[Levenshtein.distance(q, t) for t in texts] for q in queries], float)
    assert distance_spearman(exact, queries, texts, max_pairs=10) == pytest.approx(1.0)  # sampled pairs


def test_out_of_vocabulary_split_of_qbs(tiny_run, tiny_data):
    from wordspot.data import load_folder
    from wordspot.evaluation.evaluate import evaluate_spotting
    src = load_folder(tiny_data)
    emb = Embedder.load(tiny_run)
    test = src.subset("test")
    words = sorted({emb.norm(s.text) for s in test})
    res = evaluate_spotting(emb, test, vocabulary=words[:3])
    per = res["per_query"]
    assert [q["query"] for q in per if not q["oov"]] == words[:3]
    assert res["qbs_queries_inv"] == 3 and res["qbs_queries_oov"] == len(words) - 3
    assert res["qbs_map_oov"] == pytest.approx(np.mean([q["ap"] for q in per if q["oov"]]))
    assert res["qbs_map_inv"] == pytest.approx(np.mean([q["ap"] for q in per if not q["oov"]]))
    assert "qbs_map_oov" not in evaluate_spotting(emb, test)


def test_interpolated_precision_matches_a_naive_loop():
    from wordspot.evaluation.plots import RECALL_GRID, _interpolated_pr
    rng = np.random.default_rng(3)
    dist = rng.random((5, 12))
    rel = rng.random((5, 12)) < 0.3
    rel[0] = False  # a query with nothing relevant is left out
    rel[1, 0] = True
    got = _interpolated_pr(dist, rel)
    want = []
    for q in range(1, 5):  # one query, one recall level at a time
        order = np.argsort(dist[q], kind="stable")
        hits = rel[q][order]
        prec = [hits[:i + 1].sum() / (i + 1) for i in range(len(hits))]
        rec = [hits[:i + 1].sum() / hits.sum() for i in range(len(hits))]
        want.append([max(p for p, r in zip(prec, rec) if r >= level - 1e-12) for level in RECALL_GRID])
    np.testing.assert_allclose(got, np.mean(want, 0))


def test_eval_plot_draws_the_pictures(tiny_run, tiny_data, tmp_path):
    from typer.testing import CliRunner

    from wordspot.cli import app
    r = CliRunner().invoke(app, ["eval", str(tiny_run), "--data", str(tiny_data), "--plot", str(tmp_path / "pics"),
                                 "--json"])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "pics").iterdir())
    assert len(names) == 4 and {"precision-recall.png", "edit-distance.png", "reliability.png"} <= set(names), names
    assert next(n for n in names if n.startswith("map-")).endswith(".png")
    assert "wrote" in r.output
