"""A hit's distance -> the probability that it is the word asked for (no PyTorch here).

A distance's scale changes with the model, the method and the query kind, so a reader cannot tell
a good hit from a bad one by it. At training, a logistic curve in the log of the distance is fitted
to the validation set's (query, image) pairs, relevant or not, for QbS and for QbE apart (Platt
scaling); it is kept in the model file and turns every hit's distance into a score. The curve is
monotone: ranking by score is ranking by distance.

The probability is the validation set's: in a collection where the word is rarer, a hit with the
same distance is somewhat less likely to be it.
"""

from __future__ import annotations

import numpy as np

from wordspot.evaluation.metrics import qbe_queries, qbs_relevance

EPS = 1e-6
MAX_PAIRS = 400_000  # pairs a fit uses at most (a seeded sample beyond): seconds, not minutes


def fit(distances: np.ndarray, relevant: np.ndarray, seed: int = 0) -> list[float]:
    """[a, b] of p = sigmoid(a + b log(d + EPS)), fitted to (distance, relevant) pairs by Newton's
    method on the log-likelihood, with Platt's targets."""
    d, y = np.asarray(distances, np.float64).ravel(), np.asarray(relevant, bool).ravel()
    ok = np.isfinite(d)
    d, y = d[ok], y[ok].astype(np.float64)
    if len(d) > MAX_PAIRS:  # every relevant pair, and a sample of the rest weighed up to their share
        rng = np.random.default_rng(seed)
        pos, neg = np.flatnonzero(y), np.flatnonzero(y == 0)
        keep = rng.choice(neg, size=max(1, MAX_PAIRS - len(pos)), replace=False)
        w = np.concatenate([np.ones(len(pos)), np.full(len(keep), len(neg) / len(keep))])
        d, y = np.concatenate([d[pos], d[keep]]), np.concatenate([y[pos], y[keep]])
    else:
        w = np.ones(len(d))
    if not len(d) or y.min() == y.max():
        raise ValueError("calibration needs relevant and non-relevant pairs")
    # Platt's targets: not 1 and 0 but (N+ + 1) / (N+ + 2) and 1 / (N- + 2), so that a validation
    # set the model separates perfectly gives a steep curve, not a step of certainty
    n_pos, n_neg = w[y == 1].sum(), w[y == 0].sum()
    y = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    x = np.log(d + EPS)
    mu, sd = x.mean(), x.std() or 1.0
    z = np.stack([np.ones_like(x), (x - mu) / sd], 1)
    beta = np.zeros(2)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(z @ beta)))
        grad = z.T @ (w * (y - p)) - 1e-6 * beta
        hess = -(z.T * (w * p * (1 - p))) @ z - 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-9:
            break
    a, b = beta[0] - beta[1] * mu / sd, beta[1] / sd  # back to log-distance units
    return [float(a), float(b)]


def probability(distances: np.ndarray, params: list[float]) -> np.ndarray:
    """Scores in [0, 1] of distances, by a fitted [a, b]."""
    a, b = params
    t = a + b * np.log(np.maximum(np.asarray(distances, np.float64), 0.0) + EPS)
    return 1.0 / (1.0 + np.exp(-np.clip(t, -60, 60)))


def calibrate(rankings, image_vecs: np.ndarray, texts: list[str], string_vecs: np.ndarray,
              queries: list[str], readings: list[str] | None = None) -> dict:
    """{"qbs": [a, b], "qbe": [a, b]} fitted on a labelled set by the GW protocol's pairs (QbE
    without each query itself, with what the model read in each image when it reads: the distance it
    ranks by); a kind with no query is left out."""
    out = {}
    if len(queries):
        d = rankings.string_distances(string_vecs, image_vecs)
        out["qbs"] = fit(d, qbs_relevance(texts, queries))
    qi, rel, itself = qbe_queries(texts)
    if len(qi):
        d = rankings.qbe_distances(image_vecs, qi, readings)
        out["qbe"] = fit(d[~itself], rel[~itself])
    return out


def reading_scale(rankings, image_vecs: np.ndarray, texts: list[str], readings: list[str] | None) -> float | None:
    """A reader's median QbE distance over its median QbS distance, on a labelled set's QbE examples read as
    a word (`Rankings.reading_scale`); None when it read none, or reads nothing."""
    qi = qbe_queries(texts)[0]
    rows = np.array([i for i in qi if readings is not None and rankings.norm(readings[i])], int)
    if not len(rows):
        return None
    qbs = np.median(rankings.reading_distances(sorted({rankings.norm(readings[i]) for i in rows}), image_vecs))
    qbe = np.median(rankings.image_distances(image_vecs[rows], image_vecs))
    return float(qbe / qbs) if qbe > 0 and qbs > 0 and np.isfinite(qbe / qbs) else None


def check_scale(value: object) -> float | None:
    """A model file's reading scale, or None when it has none or a damaged one."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) and value > 0
    return float(value) if ok else None


def check(blob_value: object) -> dict | None:
    """A model file's calibration, or None when it has none or a damaged one."""
    if not isinstance(blob_value, dict):
        return None
    ok = {k: v for k, v in blob_value.items() if k in ("qbs", "qbe") and isinstance(v, (list, tuple))
          and len(v) == 2 and all(isinstance(x, (int, float)) and np.isfinite(x) for x in v)}
    return {k: [float(x) for x in v] for k, v in ok.items()} or None


def expected_calibration_error(scores: np.ndarray, relevant: np.ndarray, bins: int = 10) -> tuple[float, list[dict]]:
    """ECE over equal-width score bins (the mean |accuracy - confidence| weighed by bin size), and
    the bins for a reliability diagram."""
    s, y = np.asarray(scores, np.float64).ravel(), np.asarray(relevant, bool).ravel()
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(s, edges[1:-1]), 0, bins - 1)
    out, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            conf, acc = float(s[m].mean()), float(y[m].mean())
            ece += m.sum() / max(1, len(s)) * abs(acc - conf)
            out.append({"low": float(edges[b]), "high": float(edges[b + 1]), "n": int(m.sum()),
                        "confidence": conf, "accuracy": acc})
    return float(ece), out
