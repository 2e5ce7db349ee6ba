"""Evaluation: word spotting mAP on a labelled set, and how well a string space tracks Levenshtein."""

from __future__ import annotations

import Levenshtein
import numpy as np

from wordspot.data import Crop
from wordspot.errors import WordspotError
from wordspot.evaluation.metrics import (
    average_precisions,
    distances,
    qbe_queries,
    qbs_relevance,
    ranking,
    spotting_scores,
)
from wordspot.index.build import Index, build_index, dataset_crops
from wordspot.methods.phoc.base import PHOC, NgramBag
from wordspot.model.embedder import Embedder
from wordspot.progress import Reporter
from wordspot.search.radius import radius_ranks


def evaluate_spotting(emb: Embedder, samples: list[Crop], reporter: Reporter | None = None,
                      vocabulary: list[str] | None = None) -> dict:
    """QbS/QbE mAP, P@1 and the mean edit distance of the top 1/5/10 QbS hits, on one labelled set.

    With `vocabulary` (the training transcriptions), QbS mAP is also given apart for the queries
    whose word never occurs in it (out of vocabulary) and for the rest.
    """
    return evaluate_index(emb, *index_labelled(emb, samples, reporter), vocabulary=vocabulary)


def index_labelled(emb: Embedder, samples: list[Crop],
                   reporter: Reporter | None = None) -> tuple[Index, dict]:
    """The evaluation collection: images whose normalised transcription is empty (punctuation
    alone) are left out, since no query can name them."""
    labelled = [s for s in samples if emb.norm(s.text)]
    if not labelled:
        raise WordspotError("no test image has a transcription left after normalisation")
    return build_index(emb, dataset_crops(labelled), reporter=reporter)


def evaluate_index(emb: Embedder, index: Index, stats: dict, vocabulary: list[str] | None = None) -> dict:
    """`evaluate_spotting` on a collection already indexed by `index_labelled`."""
    texts = [emb.norm(c.text) for c in index.crops]
    queries = sorted(set(texts))
    qvecs = emb.embed_strings(queries)
    scores = spotting_scores(index.vectors, texts, qvecs, queries, emb.string_distances, emb.example_distances,
                             index.readings)
    # what a user sees: how far from the query are the top hits
    dist = emb.string_distances(qvecs, index.vectors)
    order = ranking(dist)
    lev = np.array([[Levenshtein.distance(q, texts[j]) for j in row[:10]] for q, row in zip(queries, order)])
    out = {
        "images": len(texts), "skipped_images": stats["skipped"],
        "qbs_map": scores["qbs_map"], "qbs_queries": scores["qbs_queries"], "qbs_dropped": scores["qbs_dropped"],
        "qbe_map": scores["qbe_map"], "qbe_queries": scores["qbe_queries"],
        "qbs_p_at_1": float(np.mean(lev[:, 0] == 0)),
        # over all hits when the collection has fewer than k images
        **{f"qbs_lev_top{k}": float(lev[:, :k].mean()) for k in (1, 5, 10)},
        "qbs_spearman": distance_spearman(dist, queries, texts),
        "per_query": [{"query": q, "ap": float(a), "top1": texts[row[0]], "lev_top1": int(lv[0])}
                      for q, a, row, lv in zip(queries, scores["qbs_ap"], order, lev)],
    }
    out.update(radius_maps(emb, index.vectors, texts, queries, qvecs, dist, index.readings))
    if emb.calibration:
        out.update(calibration_report(emb, index.vectors, texts, queries, dist, qvecs, index.readings))
    if vocabulary is not None:
        seen = {emb.norm(w) for w in vocabulary}
        ap = scores["qbs_ap"]
        oov = np.array([q not in seen for q in queries]) & np.isfinite(ap)
        inv = ~oov & np.isfinite(ap)
        out.update({"qbs_map_oov": float(ap[oov].mean()) if oov.any() else float("nan"), "qbs_queries_oov": int(oov.sum()),
                    "qbs_map_inv": float(ap[inv].mean()) if inv.any() else float("nan"), "qbs_queries_inv": int(inv.sum())})
        for q in out["per_query"]:
            q["oov"] = q["query"] not in seen
    return out


def radius_maps(emb: Embedder, vectors: np.ndarray, texts: list[str], queries: list[str], qvecs: np.ndarray,
                qbs_dist: np.ndarray, readings: list[str] | None = None, radii: tuple[int, ...] = (1, 2)) -> dict:
    """QbS mAP of edit-radius search: an image is relevant to a query when its transcription is
    within r edits of it. Ranked as `word~r` ranks (search/radius.py: by what the model read in each image,
    then the Levenshtein-shaped space) where the model has that space, else by its QbS distance (PHOC), so
    that methods stand side by side."""
    lev = np.array([[Levenshtein.distance(q, t) for t in texts] for q in queries])
    if emb.ranking.edit_space:
        dist = distances(emb.ranking.space(qvecs, images=False), emb.ranking.space(np.asarray(vectors), images=True))
        if readings is not None:
            dist = radius_ranks(queries, readings, dist)
    else:
        dist = qbs_dist
    out = {}
    for r in radii:
        ap = average_precisions(dist, lev <= r)
        out[f"qbs_map_r{r}"] = float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")
    return out


CALIBRATION_TOP = 10  # ECE over the hits a user sees first: each query's top 10


def calibration_report(emb: Embedder, vectors: np.ndarray, texts: list[str], queries: list[str],
                       qbs_dist: np.ndarray, qvecs: np.ndarray, readings: list[str] | None = None) -> dict:
    """How well a calibrated model's scores are probabilities, for QbS and QbE: the expected
    calibration error over each query's top CALIBRATION_TOP hits, with its reliability bins, and
    precision and recall of "score >= 0.5" over all (query, image) pairs."""
    from wordspot.model.calibration import expected_calibration_error
    out: dict = {}
    qi, rel_e, itself = qbe_queries(texts)
    parts = {"qbs": (qbs_dist, qbs_relevance(texts, queries), None)}
    if len(qi):
        parts["qbe"] = (emb.qbe_distances(np.asarray(vectors), qi, readings), rel_e, itself)
    for kind, (dist, rel, skip) in parts.items():
        scores = emb.scores(dist, kind)
        if scores is None:
            continue
        if skip is not None:
            dist = np.where(skip, np.inf, dist)
        top = ranking(dist)[:, :CALIBRATION_TOP]
        ece, bins = expected_calibration_error(np.take_along_axis(scores, top, 1), np.take_along_axis(rel, top, 1))
        keep = np.ones_like(rel) if skip is None else ~skip
        said = (scores >= 0.5) & keep
        out.update({f"{kind}_ece": ece, f"{kind}_reliability": bins,
                    f"{kind}_precision_at_half": float((said & rel).sum() / max(1, said.sum())),
                    f"{kind}_recall_at_half": float((said & rel).sum() / max(1, (rel & keep).sum()))})
    return out


def distance_spearman(dist: np.ndarray, queries: list[str], texts: list[str], max_pairs: int = 500_000,
                      seed: int = 0) -> float:
    """Spearman correlation of (Q, N) query-image distances with the Levenshtein distance between
    the query and the image's transcription (a sample of `max_pairs` pairs on large sets)."""
    from scipy.stats import spearmanr  # here: `wordspot query` should not pay for importing it
    q, n = dist.shape
    if q * n <= max_pairs:
        qi, ni = np.divmod(np.arange(q * n), n)
    else:
        rng = np.random.default_rng(seed)
        qi, ni = rng.integers(q, size=max_pairs), rng.integers(n, size=max_pairs)
    lev = np.array([Levenshtein.distance(queries[a], texts[b]) for a, b in zip(qi, ni)])
    d = dist[qi, ni]
    if lev.std() == 0 or d.std() == 0:
        return float("nan")
    return float(spearmanr(d, lev)[0])


SUMMARY_KEYS = ("qbs_map", "qbe_map", "qbs_p_at_1", "qbs_lev_top1", "qbs_lev_top5", "qbs_lev_top10",
                "qbs_spearman", "qbs_map_oov", "qbs_map_inv", "qbs_ece", "qbe_ece", "qbs_map_r1", "qbs_map_r2")


def summarise(rows: list[dict]) -> dict:
    """Mean and standard deviation over folds of each headline figure of `evaluate_spotting`
    (those every fold has)."""
    return {key: {"mean": float(np.mean([r[key] for r in rows])), "std": float(np.std([r[key] for r in rows]))}
            for key in SUMMARY_KEYS if all(key in r for r in rows)}


# ---- string spaces -----------------------------------------------------------------------------
CEILING = "ceiling (Levenshtein, ties broken)"


def _pairs(words: list[str], max_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of distinct words when there are at most `max_pairs`, else a random sample."""
    n = len(words)
    total = n * (n - 1) // 2
    if total <= max_pairs:
        i, j = np.triu_indices(n, 1)
        return i, j
    rng = np.random.default_rng(seed)
    i, j = rng.integers(n, size=(2, int(max_pairs * 1.1)))
    keep = i != j
    return i[keep][:max_pairs], j[keep][:max_pairs]


def _pair_dist(vecs: np.ndarray, metric: str, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    a, b = vecs[i], vecs[j]
    if metric == "cosine":
        na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
        return 1.0 - (a * b).sum(1) / np.maximum(na * nb, 1e-12)
    return np.linalg.norm(a - b, axis=1)


def evaluate_strings(emb: Embedder, words: list[str], max_pairs: int = 300_000, close: int = 3,
                     seed: int = 0) -> dict:
    """Pearson and Spearman correlation of embedding distance with Levenshtein distance.

    Methods: LSDE (this model), PHOC (Euclidean and cosine), a bag of character n-grams. Reported
    over all pairs of distinct words and over close pairs (distance <= `close`). Words with symbols
    outside the model's alphabet are left out, so every method sees the same words.

    A last row, the ceiling, is the Levenshtein distance itself with its ties broken at random: the
    best Spearman correlation any distance without exact ties can reach. Levenshtein distances are
    small integers, mostly tied (over close pairs most are 3), so this ceiling is well below 1.
    """
    words = sorted({w for w in map(emb.norm, words) if w and len(w) <= emb.config.max_len
                    and not emb.alphabet.unknown(w)})
    if len(words) < 3:
        raise WordspotError(f"need at least 3 distinct words the model can embed, got {len(words)}")
    from scipy.stats import pearsonr, spearmanr  # here: `wordspot query` should not pay for importing it
    i, j = _pairs(words, max_pairs, seed)
    lev = np.array([Levenshtein.distance(words[a], words[b]) for a, b in zip(i, j)], dtype=np.float64)
    phoc = PHOC.from_words(words)
    vecs = {"LSDE": (emb.ranking.space(emb.embed_strings(words), images=False), "euclidean"),
            "PHOC (Euclidean)": (phoc.encode(words), "euclidean"),
            "PHOC (cosine)": (phoc.encode(words), "cosine"),
            "n-gram bag": (NgramBag(words).encode(words), "euclidean")}
    near = lev <= close
    methods = {}
    for name in [*vecs, CEILING]:
        if name == CEILING:
            d = lev + np.random.default_rng(seed).uniform(0.0, 1e-3, len(lev))
        else:
            d = _pair_dist(*vecs[name], i, j)
        row = {}
        for part, mask in (("all", slice(None)), ("close", near)):
            dd, ll = d[mask], lev[mask]
            ok = len(ll) > 2 and ll.std() > 0 and dd.std() > 0
            row[f"{part}_pearson"] = float(pearsonr(dd, ll)[0]) if ok else float("nan")
            row[f"{part}_spearman"] = float(spearmanr(dd, ll)[0]) if ok else float("nan")
        methods[name] = row
        methods[name]["_dist"] = d
    return {"words": len(words), "pairs": int(len(lev)), "close_pairs": int(near.sum()), "close": close,
            "methods": methods, "_lev": lev}
