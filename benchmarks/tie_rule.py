"""Which checkpoint a stage keeps when validation ties: the first with the best score (the rule before
commit f4f5907) or the latest (the rule now, training/trainer.py). For each trained GW fold this reads its
log: which checkpoint each rule keeps, and whether they differ. Where the latest rule keeps the run's final
state (last.pt: the last stage's last check tied its best, and that stage is the one kept), that model is
scored on validation as training scores it and evaluated on the test fold beside the model the run kept
(reported, not used to choose: on a tie validation cannot choose).

    python benchmarks/tie_rule.py --runs runs/gw-both-starter-40min-cv3 runs/gw-both-starter-40min-seed1-cv3

Results: benchmarks/results/tie-rule.json (one entry per run).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import RESULTS, machine, run_folds, write_json
from gw import fold_sets

from wordspot.data import open_source
from wordspot.evaluation.evaluate import evaluate_index, index_labelled
from wordspot.files import load_tree
from wordspot.methods import choose_fusion
from wordspot.model.embedder import Embedder
from wordspot.training.calibrate import fit_scores, labelled_vectors

KEYS = ("qbs_map", "qbe_map", "qbs_map_oov", "qbs_ece", "qbe_ece")


def kept_checks(log: Path) -> dict:
    """For each of the image and joint stages: its best score, the minute of its first and latest check
    with that score, the minute of its last check; and the stage each rule keeps."""
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    stages = {}
    for stage in ("image", "joint"):
        checks = [(r.get("minutes", 0.0), r["score"]) for r in rows if r["stage"] == stage and "score" in r]
        if checks:
            best = max(s for _, s in checks)
            ties = [m for m, s in checks if s == best]
            stages[stage] = {"best": best, "first": ties[0], "latest": ties[-1], "ties": len(ties), "end": checks[-1][0]}
    image, joint = stages.get("image"), stages.get("joint")
    # a later stage replaces model.pt only when it scored higher (first rule) or at least as high (latest)
    first = "joint" if joint and (not image or joint["best"] > image["best"]) else "image"
    latest = "joint" if joint and (not image or joint["best"] >= image["best"]) else "image"
    return {"stages": stages, "first_rule_keeps": first, "latest_rule_keeps": latest,
            "last_stage": "joint" if joint else "image"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", required=True, help="run folders of GW folds (gw-...-cvN)")
    ap.add_argument("--data", default="../shared/data/washingtondb-v1.0")
    ap.add_argument("--holdout", type=int, default=300)
    ap.add_argument("--out", default=str(RESULTS / "tie-rule.json"))
    args = ap.parse_args()
    path = Path(args.out)
    out = json.loads(path.read_text()) if path.is_file() else {}
    for run, fold in run_folds(ap, args.runs):
        row = {"fold": fold, **kept_checks(run / "log.jsonl")}
        st = row["stages"][row["latest_rule_keeps"]]
        same = row["first_rule_keeps"] == row["latest_rule_keeps"] and st["first"] == st["latest"]
        final = row["latest_rule_keeps"] == row["last_stage"] and st["latest"] == st["end"]
        row["rules_differ"] = not same
        if same or not final:
            row["note"] = "both rules keep the same checkpoint" if same else "the latest rule's checkpoint was not saved"
            print(f"{run.name}: {row['note']}", flush=True)
        else:
            test = open_source(args.data, fold).subset("test")
            train_set, valid = fold_sets(argparse.Namespace(data=args.data, holdout=args.holdout), fold)
            vocabulary = [s.text for s in train_set]
            latest = Embedder.from_state(load_tree(run / "last.pt")["model"])
            # weights and scores as today's training gives the model it keeps: on the held-out validation
            # images (the weights the run chose then may come from an older grid or tie rule)
            vecs = labelled_vectors(latest, valid)
            if latest.fused:  # the vectors stay: the weights only combine their two parts
                latest.set_fusion(choose_fusion(latest.ranking, *vecs[:4])["weights"])
            fit_scores(latest, vecs)
            row["latest_fusion"] = list(latest.ranking.weights) if latest.fused else None
            row["test"] = {}
            for name, emb in (("kept_by_first_rule", Embedder.load(run / "model.pt")), ("kept_by_latest_rule", latest)):
                res = evaluate_index(emb, *index_labelled(emb, test), vocabulary)
                row["test"][name] = {k: res[k] for k in KEYS if k in res}
            print(f"{run.name}: " + "; ".join(f"{k} QbS {100 * v['qbs_map']:.2f} / QbE {100 * v['qbe_map']:.2f}"
                                              for k, v in row["test"].items()), flush=True)
        out[run.name] = {**row, "machine": machine()}
        write_json(path, out)


if __name__ == "__main__":
    main()
