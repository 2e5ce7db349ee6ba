"""Query by example through the example's reading, chosen on validation (issue #29: QbE under the PHOC pair).

A fused reader's typed queries (QbS) rank better than its example images (QbE) on George Washington, and it
reads most word images. So an example may also be searched as the word it reads: the distance of a hit is
then the QbE distance + beta x the QbS distance of the reading (beta = 0: QbE as now), each distance divided by
its median over the collection. beta is chosen on the validation images of the runs (the best QbE mAP over all
their validation queries together); test figures are reported, never used to choose. wordspot now ranks so
(`ModelConfig.example_reading`, `Rankings.example_distances`), the scale fitted on validation images with the
scores instead of the collection's medians; `gw.py --evaluate-only --refit` measures that.

    python benchmarks/qbe_reading.py --runs runs/gw-both-starter2-40min-cv1 runs/gw-both-starter2-40min-cv2
    python benchmarks/qbe_reading.py --holdout -1 --runs runs/gw-both-starter2fv-40min-cv1   # whole valid set

Results: benchmarks/results/qbe-reading.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from common import RESULTS, machine, run_folds, write_json
from gw import fold_sets

from wordspot.data import ImageCache, open_source
from wordspot.evaluation.metrics import qbe_queries
from wordspot.methods.ranking import mean_ap
from wordspot.model.embedder import Embedder

BETAS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 1e9)


def qbe_maps(emb: Embedder, samples: list) -> dict:
    """QbE mAP for each beta, how often an example is read exactly, and QbS mAP on the same queries."""
    samples = [s for s in samples if emb.norm(s.text)]
    kept, images = ImageCache(emb.config.image_height).load(samples)
    texts = [emb.norm(c.text) for c in kept]
    vecs, readings = emb.embed_and_read(images)
    qi, rel, itself = qbe_queries(texts)
    read = [emb.norm(readings[i]) for i in qi]
    qbe = emb.image_distances(vecs[qi], vecs)
    words = sorted(set(read) - {""})
    by_word = dict(zip(words, emb.string_distances(emb.embed_strings(words), vecs))) if words else {}
    # an example read as nothing is searched as an image only
    qbs = np.stack([by_word[r] if r else np.zeros(len(texts)) for r in read])
    # the two terms on one scale: each divided by its median over the collection
    qbe, qbs = qbe / np.median(qbe), qbs / max(np.median(qbs), 1e-12)
    typed = emb.string_distances(emb.embed_strings([texts[i] for i in qi]), vecs)
    return {"queries": len(qi), "read_exactly": float(np.mean([r == texts[i] for r, i in zip(read, qi)])),
            "typed_qbs_map": mean_ap(typed, rel, itself),
            "qbe_map": {str(b): mean_ap(qbe + b * qbs, rel, itself) for b in BETAS}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", required=True, help="run folders of GW folds (gw-...-cvN)")
    ap.add_argument("--data", default="../shared/data/washingtondb-v1.0")
    ap.add_argument("--holdout", type=int, default=300,
                    help="the validation images the runs held out (as gw.py's --holdout; -1: the whole valid set)")
    ap.add_argument("--out", default=str(RESULTS / "qbe-reading.json"))
    args = ap.parse_args()
    path = Path(args.out)
    out = json.loads(path.read_text()) if path.is_file() else {"runs": {}}
    for run, fold in run_folds(ap, args.runs):
        emb = Embedder.load(run / "model.pt")
        row = {"fold": fold, "views": emb.config.image_views, "fusion": list(emb.ranking.weights),
               "holdout": args.holdout, "valid": qbe_maps(emb, fold_sets(args, fold)[1]),
               "test": qbe_maps(emb, open_source(args.data, fold).subset("test")), "machine": machine()}
        for name in ("valid", "test"):
            r = row[name]
            print(f"{run.name} {name}: {r['queries']} queries, read exactly {100 * r['read_exactly']:.1f}%, typed "
                  f"{100 * r['typed_qbs_map']:.2f}; QbE by beta " +
                  ", ".join(f"{b} {100 * v:.2f}" for b, v in r["qbe_map"].items()), flush=True)
        out["runs"][run.name] = row
        write_json(path, out)
    # mAP over every validation query of the runs: a run that validates on its whole valid set (900+ queries,
    # not saturated) weighs more than one on 300 held-out images (150-180 queries, at 0.99-1.00)
    runs = list(out["runs"].values())
    n = sum(r["valid"]["queries"] for r in runs)
    mean = {str(b): sum(r["valid"]["qbe_map"][str(b)] * r["valid"]["queries"] for r in runs) / n for b in BETAS}
    best = max(BETAS, key=lambda b: (round(mean[str(b)], 6), -b))  # ties: the smaller beta
    out.update({"chosen_beta": best, "valid_pooled": mean,
                "test_mean": {str(b): float(np.mean([r["test"]["qbe_map"][str(b)] for r in runs])) for b in BETAS}})
    print(f"chosen on {n} validation queries of {len(runs)} runs: beta {best} (valid {100 * mean[str(best)]:.2f}, "
          f"beta 0 {100 * mean['0.0']:.2f}); test mean over the runs {100 * out['test_mean'][str(best)]:.2f} against "
          f"{100 * out['test_mean']['0.0']:.2f}", flush=True)
    write_json(path, out)


if __name__ == "__main__":
    main()
