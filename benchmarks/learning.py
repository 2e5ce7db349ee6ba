"""How many transcribed words a collection needs (issue #29): the default model trained on 100, 300, 1,000
... of a George Washington fold's training words, from scratch or fine-tuned from a starter model
(`--init`, which must never have seen the fold's test pages), each within its own time budget on the 2 cores.

The training words are a seeded random sample of the fold's training images (train + valid but the last
--holdout, as benchmarks/gw.py splits them); the held-out validation images choose the checkpoint and fit
the scores; the test set is the fold's, by the standard protocol (QbS and QbE mAP). Every run's figures go
to results/learning-<fold>[-init-<name>][-seed<seed>].json as they come.

    python benchmarks/learning.py --folds cv1 --sizes 100 300 1000 --minutes 5 10 20
    python benchmarks/learning.py --folds cv1 --sizes 100 300 1000 --minutes 5 10 20 --init runs/starter
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import RESULTS, machine, md_table, write_json
from gw import fold_sets

from wordspot.config import TrainConfig, parse_settings
from wordspot.data import open_source
from wordspot.evaluation.evaluate import evaluate_spotting
from wordspot.progress import PlainReporter
from wordspot.training import train


def result_path(args, fold: str) -> Path:
    starter = Path(args.init or "")
    init = f"-init-{starter.parent.name if starter.name == 'model.pt' else starter.stem}" if args.init else ""
    return RESULTS / f"learning-{fold}{init}{f'-seed{args.seed}' if args.seed else ''}.json"


def run_size(args, fold: str, size: int, minutes: float) -> dict:
    train_all, valid = fold_sets(args, fold)
    rng = np.random.default_rng(args.seed)
    sample = [train_all[i] for i in sorted(rng.choice(len(train_all), min(size, len(train_all)), replace=False))]
    cfg = TrainConfig().with_settings({"seed": args.seed, "minutes": minutes, "image_epochs": 100_000,
                                       "joint_epochs": 100_000, **parse_settings(args.set)})
    run = Path(args.runs) / f"{result_path(args, fold).stem}-{size}"
    started = time.time()
    emb = train(cfg, run, train_set=sample, valid_set=valid, init=args.init, overwrite=True,
                reporter=PlainReporter(120))
    took = (time.time() - started) / 60
    test = open_source(args.data, fold).subset("test")
    res = evaluate_spotting(emb, test, vocabulary=[s.text for s in sample])
    return {"words": len(sample), "distinct_words": len({emb.norm(s.text) for s in sample}), "budget_minutes": minutes,
            "train_minutes": round(took, 1), "qbs_map": res["qbs_map"], "qbe_map": res["qbe_map"],
            "qbs_map_oov": res.get("qbs_map_oov"), "qbs_queries_oov": res.get("qbs_queries_oov")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/washingtondb-v1.0")
    ap.add_argument("--folds", nargs="+", default=["cv1"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[100, 300, 1000])
    ap.add_argument("--minutes", nargs="+", type=float, default=[5, 10, 20], help="a budget for each size")
    ap.add_argument("--init", default=None, help="a starter model to fine-tune (it must not have seen the test pages)")
    ap.add_argument("--holdout", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--runs", default="runs")
    args = ap.parse_args()
    if len(args.minutes) != len(args.sizes):
        ap.error("give one --minutes for each of --sizes")
    for fold in args.folds:
        path = result_path(args, fold)
        out = json.loads(path.read_text()) if path.is_file() else {"fold": fold, "init": args.init, "runs": []}
        for size, minutes in zip(args.sizes, args.minutes):
            row = run_size(args, fold, size, minutes)
            print(fold, row, flush=True)
            out["runs"] = [r for r in out["runs"] if r["words"] != row["words"]] + [row]
            out["runs"].sort(key=lambda r: r["words"])
            write_json(path, {**out, "settings": args.set, "seed": args.seed, "machine": machine()})
        print("\n".join(md_table(["words", "minutes", "QbS", "QbE", "QbS OOV"], [
            [r["words"], r["train_minutes"], f"{100 * r['qbs_map']:.2f}", f"{100 * r['qbe_map']:.2f}",
             f"{100 * r['qbs_map_oov']:.2f}" if r.get("qbs_map_oov") is not None else "-"] for r in out["runs"]])))


if __name__ == "__main__":
    main()
