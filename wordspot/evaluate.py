"""Evaluation: word spotting mAP on a labelled set, and how well a string space tracks Levenshtein."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import Levenshtein
import numpy as np

from .datasets import WordSample
from .embedder import Embedder
from .errors import WordspotError
from .index import Index, build_index, dataset_crops
from .metrics import average_precisions, distances, qbe_queries, qbs_relevance, ranking, spotting_scores
from .phoc import PHOC, NgramBag
from .progress import Reporter


def evaluate_spotting(emb: Embedder, samples: list[WordSample], reporter: Reporter | None = None,
                      vocabulary: list[str] | None = None) -> dict:
    """QbS/QbE mAP, P@1 and the mean edit distance of the top 1/5/10 QbS hits, on one labelled set.

    With `vocabulary` (the training transcriptions), QbS mAP is also given apart for the queries
    whose word never occurs in it (out of vocabulary) and for the rest.
    """
    return evaluate_index(emb, *index_labelled(emb, samples, reporter), vocabulary=vocabulary)


def index_labelled(emb: Embedder, samples: list[WordSample],
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
    scores = spotting_scores(index.vectors, texts, qvecs, queries, emb.string_distances, emb.image_distances)
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
    out.update(radius_maps(emb, index.vectors, texts, queries, qvecs, dist))
    if emb.calibration:
        out.update(calibration_report(emb, index.vectors, texts, queries, dist, qvecs))
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
                qbs_dist: np.ndarray, radii: tuple[int, ...] = (1, 2)) -> dict:
    """QbS mAP of edit-radius search: an image is relevant to a query when its transcription is
    within r edits of it. Ranked as `word~r` ranks (the Levenshtein-shaped space) where the model
    has one, else by its QbS distance (PHOC), so that methods stand side by side."""
    lev = np.array([[Levenshtein.distance(q, t) for t in texts] for q in queries])
    if emb.ranking.edit_space:
        dist = distances(emb.ranking.space(qvecs, images=False), emb.ranking.space(np.asarray(vectors), images=True))
    else:
        dist = qbs_dist
    out = {}
    for r in radii:
        ap = average_precisions(dist, lev <= r)
        out[f"qbs_map_r{r}"] = float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")
    return out


CALIBRATION_TOP = 10  # ECE over the hits a user sees first: each query's top 10


def calibration_report(emb: Embedder, vectors: np.ndarray, texts: list[str], queries: list[str],
                       qbs_dist: np.ndarray, qvecs: np.ndarray) -> dict:
    """How well a calibrated model's scores are probabilities, for QbS and QbE: the expected
    calibration error over each query's top CALIBRATION_TOP hits, with its reliability bins, and
    precision and recall of "score >= 0.5" over all (query, image) pairs."""
    from .calibration import expected_calibration_error
    out: dict = {}
    qi, rel_e, itself = qbe_queries(texts)
    parts = {"qbs": (qbs_dist, qbs_relevance(texts, queries), None)}
    if len(qi):
        parts["qbe"] = (emb.image_distances(np.asarray(vectors[qi]), vectors), rel_e, itself)
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


# ---- pictures ----------------------------------------------------------------------------------
RECALL_GRID = np.linspace(0.0, 1.0, 101)


def _interpolated_pr(dist: np.ndarray, relevant: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Mean over queries of interpolated precision (the best precision at recall >= r) at RECALL_GRID."""
    dist = np.where(exclude, np.inf, dist) if exclude is not None else dist
    rel = relevant & ~exclude if exclude is not None else relevant
    hits = np.take_along_axis(rel, ranking(dist), 1)
    n_rel = hits.sum(1)
    keep = n_rel > 0
    hits, n_rel = hits[keep], n_rel[keep]
    cum = np.cumsum(hits, 1)
    precision = cum / np.arange(1, hits.shape[1] + 1)
    best_after = np.maximum.accumulate(precision[:, ::-1], 1)[:, ::-1]
    recall = cum / n_rel[:, None]
    out = np.zeros((len(hits), len(RECALL_GRID)))
    for q in range(len(hits)):
        at = np.minimum(np.searchsorted(recall[q], RECALL_GRID, side="left"), hits.shape[1] - 1)
        out[q] = best_after[q, at]
    return out.mean(0) if len(out) else np.full(len(RECALL_GRID), np.nan)


def spotting_curves(emb: Embedder, index: Index, words: int = 6, max_k: int = 20) -> dict:
    """What `plot_spotting` draws for one model: QbS and QbE precision-recall, the mean edit
    distance of the top k QbS hits for k = 1..max_k, and a 2-D map (PCA) of the string vectors of
    the most frequent words beside their images' vectors."""
    texts = [emb.norm(c.text) for c in index.crops]
    queries = sorted(set(texts))
    qvecs = emb.embed_strings(queries)
    dist = emb.string_distances(qvecs, index.vectors)
    qbs = _interpolated_pr(dist, qbs_relevance(texts, queries))
    qi, rel, itself = qbe_queries(texts)
    qbe = np.full(len(RECALL_GRID), np.nan)
    if len(qi):
        qbe = _interpolated_pr(emb.image_distances(index.vectors[qi], index.vectors), rel, itself)
    counts = Counter(texts)
    order = ranking(dist)[:, :max_k]
    lev_at_k = np.array([[Levenshtein.distance(q, texts[j]) for j in row] for q, row in zip(queries, order)])
    common = [w for w, n in counts.most_common() if n >= 3][:words]
    pick = [i for i, t in enumerate(texts) if t in common]
    images = emb.ranking.space(np.asarray(index.vectors[pick], np.float64), images=True)
    points = (np.concatenate([emb.ranking.space(emb.embed_strings(common), images=False), images]) if common
              else np.zeros((0, 2)))
    centred = points - points.mean(0) if len(points) else points
    xy = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T if len(points) > 2 else centred[:, :2]
    reliability = {}
    if emb.calibration:
        report = calibration_report(emb, index.vectors, texts, queries, dist, qvecs)
        reliability = {k: report[f"{k}_reliability"] for k in ("qbs", "qbe") if f"{k}_reliability" in report}
    return {"qbs_pr": qbs, "qbe_pr": qbe, "lev_at_k": lev_at_k.mean(0), "words": common, "reliability": reliability,
            "word_xy": xy[:len(common)], "image_xy": xy[len(common):], "image_word": [texts[i] for i in pick]}


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_spotting(curves: dict[str, dict], folder: str | Path) -> list[Path]:
    """precision-recall.png, edit-distance.png (one line per model) and map-<model>.png in `folder`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key in zip(axes, ("qbs_pr", "qbe_pr")):
        for name, c in curves.items():
            ax.plot(RECALL_GRID, c[key], label=name)
        ax.set_title(f"{key[:3].upper()}: interpolated precision")
        ax.set_xlabel("recall")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("precision")
    axes[1].legend(fontsize=8, loc="lower left")
    written.append(_save(fig, folder / "precision-recall.png"))
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, c in curves.items():
        ax.plot(np.arange(1, len(c["lev_at_k"]) + 1), np.cumsum(c["lev_at_k"]) / np.arange(1, len(c["lev_at_k"]) + 1),
                marker=".", label=name)
    ax.set_xlabel("k (top hits of a query by string)")
    ax.set_ylabel("mean edit distance to the query")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    written.append(_save(fig, folder / "edit-distance.png"))
    calibrated = {name: c for name, c in curves.items() if c.get("reliability")}
    if calibrated:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for ax, kind in zip(axes, ("qbs", "qbe")):
            ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfectly calibrated")
            for name, c in calibrated.items():
                bins = c["reliability"].get(kind) or []
                ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", label=name)
            ax.set_title(f"{kind.upper()}: top {CALIBRATION_TOP} hits of each query", fontsize=9)
            ax.set_xlabel("score (mean of a bin)")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("share of hits that are the word")
        axes[1].legend(fontsize=8, loc="upper left")
        written.append(_save(fig, folder / "reliability.png"))
    for name, c in curves.items():
        fig, ax = plt.subplots(figsize=(6, 5))
        colours = plt.get_cmap("tab10").colors
        for i, w in enumerate(c["words"]):
            mine = np.array([t == w for t in c["image_word"]])
            ax.scatter(*c["image_xy"][mine].T, s=12, alpha=0.6, color=colours[i % 10])
            ax.scatter(*c["word_xy"][i], marker="*", s=260, color=colours[i % 10], edgecolor="black", label=w)
        ax.set_title(f"{name}\nwords (stars) and their images (dots), first two principal components", fontsize=9)
        ax.legend(fontsize=8)
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
        written.append(_save(fig, folder / f"map-{safe}.png"))
    return written


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


def plot_strings(result: dict, path: str | Path) -> None:
    """Embedding distance against Levenshtein distance, one panel per method."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lev = result["_lev"]
    methods = {k: v for k, v in result["methods"].items() if k != CEILING}  # its panel would be a staircase
    fig, axes = plt.subplots(1, len(methods), figsize=(4 * len(methods), 3.6))
    rng = np.random.default_rng(0)
    show = rng.permutation(len(lev))[:20000]
    for ax, (name, row) in zip(np.atleast_1d(axes), methods.items()):
        d = row["_dist"]
        ax.scatter(lev[show] + rng.uniform(-0.25, 0.25, len(show)), d[show], s=2, alpha=0.15)
        means = [d[lev == k].mean() for k in range(int(lev.max()) + 1) if (lev == k).any()]
        ax.plot([k for k in range(int(lev.max()) + 1) if (lev == k).any()], means, "r-", lw=1.5)
        ax.set_title(f"{name}\nSpearman all {row['all_spearman']:.3f}, close {row['close_spearman']:.3f}", fontsize=9)
        ax.set_xlabel("Levenshtein distance")
    np.atleast_1d(axes)[0].set_ylabel("embedding distance")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
