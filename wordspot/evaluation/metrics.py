"""Retrieval metrics: average precision and the word spotting protocol (QbS and QbE)."""

from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np

Distance = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (Q, D), (N, D) -> (Q, N)


def distances(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(Q, D), (N, D) -> (Q, N) Euclidean distances (in float64: the expanded form cancels badly)."""
    q, x = np.asarray(q, np.float64), np.asarray(x, np.float64)
    sq = (q * q).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2.0 * q @ x.T
    return np.sqrt(np.maximum(sq, 0.0))


def cosine_distances(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(Q, D), (N, D) -> (Q, N) one minus cosine similarity."""
    q, x = np.asarray(q, np.float64), np.asarray(x, np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return 1.0 - q @ x.T


def ranking(dist: np.ndarray) -> np.ndarray:
    """Indices by increasing distance; ties keep collection order (a stable sort)."""
    return np.argsort(dist, axis=-1, kind="stable")


def average_precisions(dist: np.ndarray, relevant: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """AP of each query over its full ranked list; NaN for a query with no relevant item.

    dist, relevant: (Q, N); exclude: (Q, N) bool of items removed from that query's ranking
    (in QbE, the query itself).
    """
    dist = np.asarray(dist, dtype=np.float64)
    rel = np.asarray(relevant, dtype=bool)
    if exclude is not None:
        dist = np.where(exclude, np.inf, dist)
        rel = rel & ~exclude
    order = ranking(dist)
    hits = np.take_along_axis(rel, order, axis=1)  # (Q, N) relevance in rank order
    cum = np.cumsum(hits, axis=1)
    ranks = np.arange(1, hits.shape[1] + 1)
    n_rel = hits.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rel > 0, (hits * cum / ranks).sum(1) / n_rel, np.nan)


def qbs_relevance(image_texts: list[str], query_texts: list[str]) -> np.ndarray:
    """(Q, N) bool: which images each QbS query (one per text in `query_texts`) should find."""
    return np.array(query_texts, dtype=object)[:, None] == np.array(image_texts, dtype=object)[None, :]


def qbe_queries(image_texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The QbE queries of the George Washington protocol: the rows of the images whose text occurs
    at least twice, their (q, N) relevance, and the (q, N) mask of each query itself (left out)."""
    texts = np.array(image_texts, dtype=object)
    counts = Counter(image_texts)
    qi = np.array([i for i, t in enumerate(image_texts) if counts[t] >= 2], dtype=int)
    rel = texts[qi][:, None] == texts[None, :]
    itself = np.zeros_like(rel)
    itself[np.arange(len(qi)), qi] = True
    return qi, rel, itself


def spotting_scores(image_vecs: np.ndarray, image_texts: list[str],
                    query_vecs: np.ndarray, query_texts: list[str],
                    string_distances: Distance = distances, image_distances: Distance = distances,
                    readings: list[str] | None = None) -> dict:
    """QbS and QbE mean average precision by the George Washington protocol.

    QbS: one query per distinct text in `query_texts`, against all images.
    QbE: every image whose text occurs at least twice, itself removed from its ranking; with `readings`
    (what a reader read in each image), `image_distances(examples, images, their readings)`.
    Queries with no relevant item are dropped and counted.
    """
    out: dict = {}
    if len(query_texts):
        ap = average_precisions(string_distances(query_vecs, image_vecs), qbs_relevance(image_texts, query_texts))
        out["qbs_map"] = float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")
        out["qbs_queries"] = int(np.isfinite(ap).sum())
        out["qbs_dropped"] = int(np.isnan(ap).sum())
        out["qbs_ap"] = ap
    qi, rel, itself = qbe_queries(image_texts)
    if len(qi):
        extra = () if readings is None else ([readings[i] for i in qi],)
        ap = average_precisions(image_distances(image_vecs[qi], image_vecs, *extra), rel, itself)
        out["qbe_map"] = float(np.nanmean(ap))
        out["qbe_queries"] = int(len(qi))
    else:
        out["qbe_map"], out["qbe_queries"] = float("nan"), 0
    return out
