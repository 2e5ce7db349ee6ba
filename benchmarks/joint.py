"""Joint-stage settings, tried on the image stage of a fold that `gw.py` trained, and judged on its
validation images only (the test set is not read).

Each setting reruns the joint stage from the run's image.pt for the minutes gw.py
gave it, with the run's configuration and the settings given; the validation curve (QbS, QbE and
their mean, the score that chooses checkpoints) goes to benchmarks/results/joint-<run>.json, one
entry per setting beside those already there, and a table is printed.

    python benchmarks/joint.py --run runs/gw-both-branch-40min-cv2 --fold cv2 --holdout 300 \\
        --try joint_lr=1e-4 --try joint_lr=3e-5
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import time
from pathlib import Path

from common import RESULTS, machine, md_table, write_json
from gw import fold_sets  # the same training and validation images as the run

from wordspot.config import TrainConfig, parse_settings
from wordspot.progress import PlainReporter
from wordspot.training.run import train


def curve(log: Path, stage: str) -> list[dict]:
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return [{k: r[k] for k in ("step", "minutes", "val_qbs", "val_qbe", "score")} for r in rows if r["stage"] == stage]


def summary(points: list[dict]) -> list[str]:
    """The best validation score of a stage, and its mean over the stage's checks."""
    return [f"{max(r['score'] for r in points):.4f}", f"{sum(r['score'] for r in points) / len(points):.4f}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a run folder of gw.py (string.pt, image.pt, config.json, log.jsonl)")
    ap.add_argument("--data", default="../shared/data/washingtondb-v1.0")
    ap.add_argument("--fold", required=True)
    ap.add_argument("--holdout", type=int, default=300, help="as given to gw.py for that run")
    ap.add_argument("--try", dest="tries", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                    help="settings to try, one joint stage each (repeat)")
    ap.add_argument("--scratch", default="runs/joint-trials")
    args = ap.parse_args()
    run = Path(args.run)
    base = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    train_set, valid_set = fold_sets(args, args.fold)
    path = RESULTS / f"joint-{run.name}.json"
    results = json.loads(path.read_text()) if path.exists() else {
        "run": run.name, "image_stage": curve(run / "log.jsonl", "image"), "joint_stage": curve(run / "log.jsonl", "joint"),
        "joint_settings": {k: getattr(base, k) for k in ("joint_lr", "joint_weights", "joint_string_pairs")}, "trials": {}}
    for spec in args.tries:
        # a comma before the next KEY= separates settings; others belong to a value such as [0,0,0]
        settings = parse_settings(re.split(r",(?=[a-z_.]+=)", spec))
        cfg = base.with_settings(settings)
        out = Path(args.scratch) / f"{run.name}-{re.sub(r'[^a-z0-9.]+', '-', spec.lower())}"
        out.mkdir(parents=True, exist_ok=True)
        # image.pt holds both networks, all the joint stage starts from; train(overwrite=True) starts a new log
        shutil.copyfile(run / "image.pt", out / "image.pt")
        t0 = time.time()
        train(cfg, out, train_set=train_set, valid_set=valid_set, stages=("joint",), overwrite=True,
              reporter=PlainReporter(120))
        results["trials"][spec] = {"settings": settings, "joint_minutes": cfg.joint_minutes,
                                   "seconds": round(time.time() - t0), "curve": curve(out / "log.jsonl", "joint"),
                                   "machine": machine()}
        write_json(path, results)
    best_image = max(r["score"] for r in results["image_stage"])
    rows = [["image stage (the run)", "-", f"{best_image:.4f}", "-"],
            [f"joint stage (the run: {results['joint_settings']})", base.joint_minutes, *summary(results["joint_stage"])]]
    rows += [[spec, t["joint_minutes"], *summary(t["curve"])] for spec, t in results["trials"].items()]
    # one check of 300 images moves by about half a point: the mean over the stage says more than its best
    print("\n".join(md_table(["joint setting", "minutes", "best validation score", "mean over the stage"], rows)))


if __name__ == "__main__":
    main()
