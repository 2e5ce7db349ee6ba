"""Which pairs to fit a model's scores on (issue #28): all (query, image) pairs of the validation set, or
each query's nearest k only, the hits a user reads. Chosen on validation images, never on a test fold.

For each trained word model (a `benchmarks/gw.py` run folder), its 300 held-out validation images are
embedded; the queries (QbS: each distinct word; QbE: each image whose word occurs twice) are split in two
halves, a curve fitted on one half's pairs scores the other half's hits, and the expected calibration error
over each query's top 10 (what `wordspot eval` reports) is averaged over the two ways round.

    python benchmarks/calibration.py --runs runs/gw-both-branchv2-40min-cv1 runs/gw-both-branchv2-40min-cv2 \\
        runs/gw-both-branchv2-40min-cv3 runs/gw-both-branchv2-40min-cv4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import RESULTS, held_out, machine, md_table, run_folds, write_json

from wordspot.evaluation.evaluate import CALIBRATION_TOP, index_labelled
from wordspot.evaluation.metrics import qbe_queries, qbs_relevance, ranking
from wordspot.model.calibration import expected_calibration_error, fit, probability
from wordspot.model.embedder import Embedder

NEAREST = (0, 10, 30, 100)  # 0: every pair


def nearest_pairs(distances: np.ndarray, relevant: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's (row's) `k` nearest pairs: (distances, relevant), the hits a user reads first."""
    top = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(distances, top, 1), np.take_along_axis(relevant, top, 1)


def _ece(dist: np.ndarray, rel: np.ndarray, params: list[float]) -> float:
    top = ranking(dist)[:, :CALIBRATION_TOP]
    scores = probability(np.take_along_axis(dist, top, 1), params)
    return expected_calibration_error(scores, np.take_along_axis(rel, top, 1))[0]


def crossed(dist: np.ndarray, rel: np.ndarray, nearest: int, seed: int = 0) -> float:
    """Top-10 ECE of curves fitted on one half of the queries and scoring the other, both ways round."""
    halves = np.array_split(np.random.default_rng(seed).permutation(len(dist)), 2)
    out = []
    for a, b in (halves, halves[::-1]):
        d, r = (nearest_pairs(dist[a], rel[a], nearest) if nearest else (dist[a], rel[a]))
        out.append(_ece(dist[b], rel[b], fit(d, r)))
    return float(np.mean(out))


def fold(data: str, run: Path, holdout: int, fold_name: str) -> dict:
    emb = Embedder.load(run)
    index, _ = index_labelled(emb, held_out(data, fold_name, holdout))
    texts = [emb.norm(c.text) for c in index.crops]
    queries = sorted(set(texts))
    qi, rel_e, itself = qbe_queries(texts)
    parts = {"qbs": (emb.string_distances(emb.embed_strings(queries), index.vectors), qbs_relevance(texts, queries)),
             "qbe": (np.where(itself, np.inf, emb.image_distances(index.vectors[qi], index.vectors)), rel_e)}
    out = {"run": run.name, "fold": fold_name, "images": len(texts)}
    for kind, (dist, rel) in parts.items():
        out[f"{kind}_queries"] = len(dist)
        for k in NEAREST:
            out[f"{kind} ece nearest{k}"] = crossed(dist, rel, k)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/washingtondb-v1.0")
    ap.add_argument("--runs", nargs="+", required=True, help="gw.py run folders (their names end in the fold)")
    ap.add_argument("--holdout", type=int, default=300, help="the validation images the runs held out")
    ap.add_argument("--out", default=str(RESULTS / "calibration-pairs.json"))
    args = ap.parse_args()
    folds = []
    for run, name in run_folds(ap, args.runs):
        folds.append(fold(args.data, run, args.holdout, name))
        print(folds[-1], flush=True)
    keys = [f"{kind} ece nearest{k}" for kind in ("qbs", "qbe") for k in NEAREST]
    mean = {key: float(np.mean([f[key] for f in folds])) for key in keys}
    write_json(Path(args.out), {"validation": folds, "mean": mean, "machine": machine()})
    print("\n".join(md_table(["fold", *keys], [[f["fold"], *(f"{f[k]:.4f}" for k in keys)] for f in folds]
                             + [["mean", *(f"{mean[k]:.4f}" for k in keys)]])))


if __name__ == "__main__":
    main()
