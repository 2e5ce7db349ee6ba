"""Fusion weights chosen again by today's `choose_fusion` (ties go to the weights nearest the default) on a
trained fused fold's 300 held-out validation images, and the fold's test figures with the weights it was
trained with and with those, the scores fitted again on the same validation images for the new weights
(the choice is made on validation only; test is reported). Each run's
validation mAP for every weight of the grid is kept too: which weights validation prefers across folds, and
each head's alone: whether the fused ranking is below one of its heads on validation (`--valid-only` stops
there, without the test fold).

    python benchmarks/fusion_ties.py --runs runs/gw-both-starter-40min-cv3
    python benchmarks/fusion_ties.py --runs runs/gw-both-starter-40min-cv3 --save   # then gw.py --evaluate-only
    python benchmarks/fusion_ties.py --valid-only --runs runs/gw-both-starter-40min-cv1 ...
    python benchmarks/fusion_ties.py --runs runs/gw-both-starter-40min-cv3 --out results/fusion-transfer.json \
        --weights-from runs/gw-both-starterfv-40min-cv3   # weights chosen on the whole validation set

Results: benchmarks/results/fusion-ties.json, or --out (one entry per run).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import RESULTS, machine, write_json
from gw import fold_sets

from wordspot.data import open_source
from wordspot.evaluation.evaluate import evaluate_index, index_labelled
from wordspot.methods import FUSION_GRID, choose_fusion
from wordspot.model.calibration import calibrate
from wordspot.model.embedder import Embedder
from wordspot.model.modelfile import model_info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", required=True, help="run folders of fused GW folds (gw-...-cvN)")
    ap.add_argument("--data", default="../shared/data/washingtondb-v1.0")
    ap.add_argument("--holdout", type=int, default=300)
    ap.add_argument("--save", action="store_true",
                    help="write the chosen weights and their scores into each run's model.pt, as training with "
                         "today's rule leaves it (then `gw.py --evaluate-only` ranks the fold anew)")
    ap.add_argument("--out", default=str(RESULTS / "fusion-ties.json"), help="the result file (runs merge into it)")
    ap.add_argument("--valid-only", action="store_true", help="validation only: the grid and the heads alone")
    ap.add_argument("--weights-from", default=None, metavar="MODEL",
                    help="also rank the test fold with the fusion weights of this model (e.g. the same fold trained "
                         "on its train images and validated on its whole validation set, which does not saturate)")
    args = ap.parse_args()
    if args.save and args.weights_from:
        ap.error("--save writes the weights chosen here; give --weights-from in a run without it")
    path = Path(args.out)
    out = json.loads(path.read_text()) if path.is_file() else {}
    other = tuple(Embedder.load(args.weights_from).ranking.weights) if args.weights_from else None
    for run in args.runs:
        fold = Path(run).name.rsplit("-", 1)[-1]
        emb = Embedder.load(Path(run) / "model.pt")
        trained_id = emb.model_id()
        train_set, valid = fold_sets(argparse.Namespace(data=args.data, holdout=args.holdout), fold)
        index, _ = index_labelled(emb, valid)
        texts = [emb.norm(c.text) for c in index.crops]
        queries = sorted(set(texts))
        qvecs = emb.embed_strings(queries)
        chosen = choose_fusion(emb.ranking, index.vectors, texts, qvecs, queries)
        test = open_source(args.data, fold).subset("test")
        vocabulary = [s.text for s in train_set]
        row = {"fold": fold, "trained_weights": list(emb.ranking.weights), "chosen_weights": list(chosen["weights"]),
               "valid": {k: chosen[k] for k in ("qbs_map", "qbe_map", "qbs_grid", "qbe_grid", "qbs_heads", "qbe_heads")},
               "grid": [list(g) for g in FUSION_GRID], "test": {}}
        for kind, grid in zip(("qbs", "qbe"), FUSION_GRID):
            weight = emb.ranking.weights[kind == "qbe"]
            if weight not in grid or not chosen[f"{kind}_grid"]:  # trained on another grid, or no query
                continue
            fused = row["valid"][f"{kind}_trained"] = chosen[f"{kind}_grid"][grid.index(weight)]
            print(f"{run}: validation {kind} fused {100 * fused:.2f} (weight {weight:g}), "
                  + ", ".join(f"{h} alone {100 * v:.2f}" for h, v in chosen[f"{kind}_heads"].items()), flush=True)
        if args.valid_only:
            out[Path(run).name] = {**out.get(Path(run).name, {}), "valid": row["valid"], "fold": fold,
                                   "trained_weights": row["trained_weights"], "machine": machine()}
            write_json(path, out)
            continue
        trained = (tuple(emb.ranking.weights), emb.calibration)
        test_index = index_labelled(emb, test)
        candidates = [("trained", trained[0]), ("chosen", tuple(chosen["weights"]))]
        if other:
            candidates.append(("from_other", other))
            row["weights_from"] = {"model": args.weights_from, "weights": list(other)}
        for name, weights in candidates:
            emb.set_fusion(weights)
            # scores are fitted to a ranking's distances: new weights, a new fit (as training does)
            emb.calibration = (trained[1] if name == "trained"
                               else calibrate(emb, index.vectors, texts, qvecs, queries, index.readings))
            res = evaluate_index(emb, *test_index, vocabulary)
            row["test"][name] = {k: res[k] for k in ("qbs_map", "qbe_map", "qbs_ece", "qbe_ece") if k in res}
            print(f"{run}: weights {weights}: test QbS {100 * res['qbs_map']:.2f} QbE {100 * res['qbe_map']:.2f}, "
                  f"ECE {res.get('qbs_ece', float('nan')):.3f} / {res.get('qbe_ece', float('nan')):.3f}", flush=True)
        if args.save and tuple(chosen["weights"]) != trained[0]:
            # the kept checkpoint is the same under either rule (ties do not change a checkpoint's score)
            info = model_info(Path(run) / "model.pt")
            emb.save(Path(run) / "model.pt", **{**info, "fusion_qbs": chosen["weights"][0],
                                               "fusion_qbe": chosen["weights"][1], "rechosen_from": trained_id})
            print(f"{run}: model.pt now ranks with {tuple(chosen['weights'])}", flush=True)
        out[Path(run).name] = {**row, "machine": machine()}
        write_json(path, out)


if __name__ == "__main__":
    main()
