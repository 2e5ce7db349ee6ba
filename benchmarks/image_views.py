"""Which views of a word image the image side should embed (`ModelConfig.image_views`), chosen on validation.

Trained George Washington word models (`benchmarks/gw.py` run folders) embed their validation and test images
under each candidate set of views (each view: the width scaled, blank margins added; the vectors of a set's
views averaged) and rank them with the fusion weights they were trained with. The choice: the set with the
best mean validation score ((QbS + QbE) / 2) over the runs; among the sets within `--within` of it, the one
with the fewest views (each view costs one pass of the image CNN at indexing). Test figures are reported,
never used to choose.

Then, for one view as before and for the chosen set, each model is left as training would leave it with
those views (fusion weights chosen and scores fitted on its validation images) and its test fold evaluated:
mAP, out-of-vocabulary QbS, calibration error.

    python benchmarks/image_views.py --runs runs/gw-both-default-40min-cv1                      # 300 held out
    python benchmarks/image_views.py --holdout -1 --runs runs/gw-both-starter2fv-40min-cv1 ...  # whole valid

Results: benchmarks/results/image-views.json (runs merge into it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from common import RESULTS, machine, run_folds, write_json
from gw import fold_sets

from wordspot.config import ONE_VIEW, ModelConfig
from wordspot.data import ImageCache, open_source
from wordspot.data.imaging import image_view
from wordspot.evaluation.evaluate import evaluate_spotting
from wordspot.evaluation.metrics import spotting_scores
from wordspot.methods import choose_fusion
from wordspot.model.embedder import Embedder
from wordspot.training.calibrate import fit_scores, labelled_vectors

CANDIDATES = {
    "as is": [[1.0, 0.0]],
    "margin 0.05": [[1.0, 0.05]],
    "margin 0.1": [[1.0, 0.1]],
    "margin 0.15": [[1.0, 0.15]],
    "margin 0.2": [[1.0, 0.2]],
    "stretch 1.2": [[1.2, 0.0]],
    "1, 1.2": [[1.0, 0.0], [1.2, 0.0]],
    "1, 1.1, 1.25": [[1.0, 0.0], [1.1, 0.0], [1.25, 0.0]],
    "margin 0.1: 1, 1.1": [[1.0, 0.1], [1.1, 0.1]],
    "margin 0.1: 1, 1.2": [[1.0, 0.1], [1.2, 0.1]],
    "margin 0.1: 0.9, 1, 1.2": [[0.9, 0.1], [1.0, 0.1], [1.2, 0.1]],
    "margin 0.1: 1, 1.1, 1.2": [[1.0, 0.1], [1.1, 0.1], [1.2, 0.1]],
}


def candidate_maps(emb: Embedder, samples: list) -> dict:
    """{candidate: (QbS, QbE)} on labelled images, each distinct view embedded once."""
    samples = [s for s in samples if emb.norm(s.text)]
    kept, images = ImageCache(emb.config.image_height).load(samples)
    texts = [emb.norm(c.text) for c in kept]
    queries = sorted(set(texts))
    qvecs = emb.embed_strings(queries)
    emb.config.image_views = ONE_VIEW  # each view by itself: the images are transformed here
    vecs = {tuple(v): emb.embed_images([image_view(im, *v) for im in images])
            for views in CANDIDATES.values() for v in views}
    out = {}
    for name, views in CANDIDATES.items():
        s = spotting_scores(np.mean([vecs[tuple(v)] for v in views], 0), texts, qvecs, queries,
                            emb.string_distances, emb.image_distances)
        out[name] = [s["qbs_map"], s["qbe_map"]]
    return out


def as_trained(emb: Embedder, views: list, valid: list, test: list, vocabulary: list[str]) -> dict:
    """The test figures of the model with `views`, its fusion weights and scores fitted on validation."""
    emb.config.image_views = views
    data = labelled_vectors(emb, valid, limit=len(valid))
    if emb.fused:
        emb.set_fusion(choose_fusion(emb.ranking, *data[:4])["weights"])
    fit_scores(emb, data)
    res = evaluate_spotting(emb, test, vocabulary=vocabulary)
    keys = ("qbs_map", "qbe_map", "qbs_map_oov", "qbs_ece", "qbe_ece")
    return {**{k: res[k] for k in keys if k in res}, "fusion": list(emb.ranking.weights) if emb.fused else None}


def choose(rows: dict, within: float) -> tuple[str, dict]:
    """The chosen candidate, and each candidate's mean validation score over the runs."""
    mean = {name: float(np.mean([np.mean(r["valid"][name]) for r in rows.values()])) for name in CANDIDATES}
    best = max(mean.values())
    close = [n for n in CANDIDATES if mean[n] >= best - within]
    return min(close, key=lambda n: (len(CANDIDATES[n]), -mean[n])), mean


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", required=True, help="run folders of GW folds (gw-...-cvN)")
    ap.add_argument("--data", default="../shared/data/washingtondb-v1.0")
    ap.add_argument("--holdout", type=int, default=300,
                    help="the validation images the runs held out (as gw.py's --holdout; -1: the whole valid set)")
    ap.add_argument("--within", type=float, default=0.001, help="validation scores this close count as tied")
    ap.add_argument("--out", default=str(RESULTS / "image-views.json"))
    args = ap.parse_args()
    path = Path(args.out)
    out = json.loads(path.read_text()) if path.is_file() else {"runs": {}}
    runs = run_folds(ap, args.runs)
    sets = {run: (*fold_sets(argparse.Namespace(data=args.data, holdout=args.holdout), fold),
                  open_source(args.data, fold).subset("test")) for run, fold in runs}
    for run, fold in runs:
        train_set, valid, test = sets[run]
        emb = Embedder.load(run / "model.pt")
        row = {"fold": fold, "holdout": args.holdout, "valid_images": len(valid),
               "valid": candidate_maps(emb, valid), "test": candidate_maps(emb, test)}
        for name in ("valid", "test"):
            print(f"{run.name} {name}: " + ", ".join(f"{n} {100 * a:.2f}/{100 * b:.2f}" for n, (a, b) in row[name].items()),
                  flush=True)
        out["runs"][run.name] = {**row, "machine": machine()}
        write_json(path, out)
    chosen, mean = choose(out["runs"], args.within)
    out.update({"chosen": chosen, "chosen_views": CANDIDATES[chosen], "valid_mean": mean, "within": args.within,
                "default": ModelConfig().image_views})
    print(f"chosen on validation over {len(out['runs'])} runs: {chosen} {CANDIDATES[chosen]} (mean "
          f"{100 * mean[chosen]:.2f}; as is {100 * mean['as is']:.2f})", flush=True)
    write_json(path, out)
    for run, _ in runs:
        train_set, valid, test = sets[run]
        vocabulary = [s.text for s in train_set]
        row = out["runs"][run.name]
        for name, views in (("as is", ONE_VIEW), ("default", ModelConfig().image_views)):
            row.setdefault("as_trained", {})[name] = res = as_trained(Embedder.load(run / "model.pt"), views, valid,
                                                                      test, vocabulary)
            print(f"{run.name} {name} {views}: test QbS {100 * res['qbs_map']:.2f} QbE {100 * res['qbe_map']:.2f} "
                  f"(OOV {100 * res.get('qbs_map_oov', float('nan')):.2f}), ECE {res.get('qbs_ece', float('nan')):.3f}"
                  f" / {res.get('qbe_ece', float('nan')):.3f}, weights {res['fusion']}", flush=True)
        write_json(path, out)


if __name__ == "__main__":
    main()
