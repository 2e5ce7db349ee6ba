"""Pictures of an evaluation: precision-recall, edit distance of the top hits, reliability of the
scores, a 2-D map of words and their images (`wordspot eval --plot`), and of a string space."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import Levenshtein
import numpy as np

from wordspot.evaluation.evaluate import CALIBRATION_TOP, CEILING, calibration_report
from wordspot.evaluation.metrics import qbe_queries, qbs_relevance, ranking
from wordspot.index.build import Index
from wordspot.model.embedder import Embedder

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
        qbe = _interpolated_pr(emb.qbe_distances(np.asarray(index.vectors), qi, index.readings), rel, itself)
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
        report = calibration_report(emb, index.vectors, texts, queries, dist, qvecs, index.readings)
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
