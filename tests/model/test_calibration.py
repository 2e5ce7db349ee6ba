"""Scores: the probability that a hit is the word, fitted on validation images (calibration.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from wordspot.cli import app
from wordspot.data import load_folder
from wordspot.files import load_tree
from wordspot.index.build import dataset_crops, index_crops, open_index
from wordspot.model.calibration import expected_calibration_error, fit, probability
from wordspot.model.embedder import Embedder
from wordspot.search.query import Searcher
from wordspot.training.run import calibrate_model


def test_fit_recovers_a_logistic_curve_and_its_scores_are_calibrated():
    rng = np.random.default_rng(0)
    d = rng.gamma(2.0, 2.0, 200_000)
    truth = [3.0, -2.5]
    y = rng.random(len(d)) < probability(d, truth)
    a, b = fit(d, y)
    assert a == pytest.approx(truth[0], abs=0.1) and b == pytest.approx(truth[1], abs=0.1)
    ece, bins = expected_calibration_error(probability(d, [a, b]), y)
    assert ece < 0.01 and sum(b["n"] for b in bins) == len(d)
    # a badly calibrated score is caught: certainty where the truth is a coin toss
    assert expected_calibration_error(np.ones(1000), np.arange(1000) % 2 == 0)[0] == pytest.approx(0.5)


def test_separable_pairs_give_a_finite_curve_not_certainty():
    d = np.concatenate([np.full(50, 1.0), np.full(5000, 10.0)])
    y = np.arange(len(d)) < 50
    a, b = fit(d, y)
    assert np.isfinite([a, b]).all() and b < 0
    p = probability(np.array([1.0, 10.0]), [a, b])
    assert 0.9 < p[0] < 1.0 and 0.0 < p[1] < 0.01  # Platt's targets keep both away from 0 and 1


def test_training_calibrates_the_model_and_hits_carry_scores(tiny_run, tiny_data, tmp_path):
    emb = Embedder.load(tiny_run)
    assert set(emb.calibration) == {"qbs", "qbe"}
    index_crops(emb, dataset_crops(load_folder(tiny_data).subset("test")), tmp_path / "t.idx",
                model_path=str(tiny_run / "model.pt"))
    hits = Searcher(emb, [open_index(tmp_path / "t.idx")]).by_string("great", 10)
    scores = [h.score for h in hits]
    assert all(0.0 <= s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)  # monotone in distance
    assert hits[0].as_dict()["score"] == round(scores[0], 4)
    # the CLI: a score column, --min-score cuts the list, and eval reports calibration
    r = CliRunner().invoke(app, ["query", str(tmp_path / "t.idx"), "great", "--json", "--min-score", "0.5"])
    assert r.exit_code == 0, r.output
    kept = json.loads(r.stdout)["hits"]
    assert all(h["score"] >= 0.5 for h in kept) and len(kept) == sum(s >= 0.5 for s in scores)
    r = CliRunner().invoke(app, ["query", str(tmp_path / "t.idx"), "great", "--min-score", "2"])
    assert r.exit_code == 1 and "from 0 to 1" in r.output
    r = CliRunner().invoke(app, ["eval", str(tiny_run), "--data", str(tiny_data), "--json", "--plot",
                                 str(tmp_path / "plots"), "--plain"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)["splits"].values()
    assert 0.0 <= row["qbs_ece"] <= 1.0 and 0.0 <= row["qbe_ece"] <= 1.0
    assert (tmp_path / "plots" / "reliability.png").stat().st_size > 1000


def test_calibrating_keeps_rankings_and_the_model_id(tiny_run, tiny_data, tmp_path):
    blob = load_tree(tiny_run / "model.pt")
    blob.pop("calibration", None)
    from wordspot.files import save_tree
    save_tree(blob, tmp_path / "m.pt")
    plain = Embedder.load(tmp_path / "m.pt")
    assert plain.calibration is None
    calibrated = calibrate_model(tmp_path / "m.pt", load_folder(tiny_data).subset("valid"))
    assert calibrated.model_id() == plain.model_id() and set(calibrated.calibration) == {"qbs", "qbe"}
    assert Embedder.load(tmp_path / "m.pt").calibration == calibrated.calibration
    r = CliRunner().invoke(app, ["model", "calibrate", str(tmp_path / "m.pt"), "--data", str(tiny_data),
                                 "--subset", "test"])
    assert r.exit_code == 1 and "the test set is for measuring" in r.output
    r = CliRunner().invoke(app, ["model", "calibrate", str(tmp_path / "m.pt"), "--data", str(tiny_data)])
    assert r.exit_code == 0 and "scores calibrated" in r.output
