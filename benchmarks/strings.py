"""How well string spaces track Levenshtein distance on George Washington words (issue 2's table).

Trains the LSDE string CNN on the cv1 train+valid words (plus the sampler's synthetic edits and
random strings), then compares it with PHOC and a bag of n-grams on the distinct cv1 test words.

    python benchmarks/strings.py --data ../shared/data/washingtondb-v1.0 [--steps 6000]
    python benchmarks/strings.py --evaluate-only      # the model of an earlier run in --run, again

The last row, the ceiling, is the Levenshtein distance with its ties broken: no distance without
exact ties can have a higher Spearman correlation (see wordspot.evaluation.evaluate.evaluate_strings).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import RESULTS, machine, md_table, write_json

from wordspot.data import load_fki
from wordspot.evaluation.evaluate import evaluate_strings
from wordspot.evaluation.plots import plot_strings
from wordspot.model.embedder import Embedder, ModelConfig
from wordspot.progress import PlainReporter
from wordspot.training.run import TrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/washingtondb-v1.0")
    ap.add_argument("--split", default="cv1")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run", default="runs/bench-strings")
    ap.add_argument("--evaluate-only", action="store_true",
                    help="evaluate the string model already in --run (steps and minutes from its log)")
    args = ap.parse_args()

    src = load_fki(args.data, args.split)
    if args.evaluate_only:
        emb = Embedder.load(Path(args.run) / "string.pt")
        last = json.loads((Path(args.run) / "log.jsonl").read_text().splitlines()[-1])
        args.steps, minutes = last["step"], last["minutes"]
    else:
        cfg = TrainConfig(model=ModelConfig(), seed=args.seed, string_steps=args.steps)
        t0 = time.time()
        emb = train(cfg, args.run, train_set=src.subset("train"), valid_set=src.subset("valid"),
                    stages=("string",), reporter=PlainReporter(60))
        minutes = (time.time() - t0) / 60
    res = evaluate_strings(emb, [s.text for s in src.subset("test")])
    plot_strings(res, RESULTS / "strings.png")
    methods = {m: {k: v for k, v in r.items() if not k.startswith("_")} for m, r in res["methods"].items()}
    out = {"split": args.split, "steps": args.steps, "train_minutes": round(minutes, 1), "words": res["words"],
           "pairs": res["pairs"], "close_pairs": res["close_pairs"], "methods": methods, "machine": machine(),
           "evaluate_only": args.evaluate_only}
    write_json(RESULTS / "strings.json", out)
    lines = [f"George Washington {args.split}: {res['words']} distinct test words, {res['pairs']} pairs, "
             f"{res['close_pairs']} close (Levenshtein <= 3). LSDE trained {args.steps} steps "
             f"({minutes:.1f} min, {out['machine']['cores']} cores, {out['machine']['device']})"
             f"{' in an earlier run, evaluated again' if args.evaluate_only else ''}.", ""]
    lines += md_table(["method", "Pearson all", "Spearman all", "Pearson close", "Spearman close"],
                      [[m] + [f"{r[k]:.3f}" for k in ("all_pearson", "all_spearman", "close_pearson", "close_spearman")]
                       for m, r in methods.items()])
    (RESULTS / "strings.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
