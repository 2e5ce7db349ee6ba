"""George Washington benchmark: train and evaluate one or more folds within a wall-clock budget.

Each fold trains its own model on its train+valid words and train images (validation on valid;
with --holdout N, on the last N valid images only, the rest joining the training images), and is
evaluated on its test set by the standard protocol (see the README). Results go to
benchmarks/results/gw-<method>-<minutes>min[-x<members>][-seed<seed>]-<fold>.json as they come
(one file per setting and fold, so runs of other settings stand beside them); --merge builds the
table of every fold run so far, with a mean per setting.

    python benchmarks/gw.py --method phoc --folds cv1 cv2 cv3 cv4 --minutes 27 --holdout 300
    python benchmarks/gw.py --method phoc --folds cv1 --minutes 27 --evaluate-only   # ranked anew
    python benchmarks/gw.py --folds cv1 --minutes 40 --holdout 300 --tag default --evaluate-only --refit  # fitted anew
    python benchmarks/gw.py --merge

--method both trains the fused model (LSDE with a PHOC head, ranked by both). `--fuse` ranks an
LSDE fold already trained with a PHOC head (model.aux_phoc) by both heads instead: the same
networks, the fusion weights chosen on the fold's validation images as training "both" chooses
them; it writes the results of `--method both` with the same tag:

    python benchmarks/gw.py --method lsde --folds cv1 --minutes 40 --holdout 300 --tag read --fuse

--init MODEL fine-tunes a starter model (one that never saw George Washington, e.g. `make starter`'s)
instead of training from scratch: no string stage, so its minutes go to the image and joint stages.

    python benchmarks/gw.py --folds cv1 --minutes 40 --holdout 300 --init runs/starter-fonts/model.pt --tag starter
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import time
from pathlib import Path

import numpy as np
from common import RESULTS, machine, md_table, write_json

from wordspot.config import TrainConfig, parse_settings
from wordspot.data import open_source
from wordspot.evaluation.evaluate import evaluate_index, index_labelled
from wordspot.evaluation.metrics import cosine_distances, spotting_scores
from wordspot.index.build import Index
from wordspot.methods import LSDERanking, PHOCRanking, choose_fusion
from wordspot.model.embedder import Embedder
from wordspot.model.modelfile import model_info
from wordspot.progress import PlainReporter
from wordspot.training import calibrate_model, train, train_ensemble
from wordspot.training.calibrate import set_views

TRAINING_KEYS = ("fold", "method", "budget_minutes", "members", "seed", "train_minutes", "config", "curve", "machine",
                 "model_id")


NAME = re.compile(r"gw-(?P<method>[a-z]+)(?:-(?P<tag>[a-z][a-z0-9]*))?-(?P<budget>[0-9.]+)min(?:-x(?P<members>\d+))?(?:-seed(?P<seed>\d+))?"
                  r"-(?P<fold>\w+)")


def run_name(args, fold: str) -> str:
    """The result file and the run folder: `gw-phoc-60min-cv1`, `gw-phoc-60min-x2-seed1-cv1`
    (an ensemble of two, seeds 1 and 2), `gw-lsde-read-40min-cv1` (settings tagged `read`)."""
    return (f"gw-{args.method}{f'-{args.tag}' if args.tag else ''}-{args.minutes:g}min{f'-x{args.members}' if args.members > 1 else ''}"
            f"{f'-seed{args.seed}' if args.seed else ''}-{fold}")


def fold_sets(args, fold: str) -> tuple[list, list]:
    """The training and validation images of a fold (with --holdout N, valid joins training but
    for its last N images, which stay for the curve and the choice of checkpoint)."""
    src = open_source(args.data, fold)
    train_set, valid_set = src.subset("train"), src.subset("valid")
    if args.holdout >= 0:
        cut = len(valid_set) - min(args.holdout, len(valid_set))
        train_set, valid_set = train_set + valid_set[:cut], valid_set[cut:]
    return train_set, valid_set


def run_fold(args, fold: str) -> dict:
    """Train one fold, then evaluate it."""
    run = Path(args.runs) / run_name(args, fold)
    t0 = time.time()
    # the same path as `wordspot train --set KEY=VALUE`: the budget in minutes, the rest as given
    cfg = TrainConfig().with_settings({
        "model.dim": args.dim, "model.image_height": args.height, "model.method": args.method, "seed": args.seed,
        "string_steps": args.string_steps, "image_epochs": 1000, "joint_epochs": 1000,
        "image_minutes": args.image_minutes, "joint_minutes": args.joint_minutes, "val_every": args.val_every,
        "minutes": args.minutes if args.init else 0.0, **parse_settings(args.set)})
    train_set, valid_set = fold_sets(args, fold)
    if args.members > 1:
        train_ensemble(cfg, run, args.members, train_set=train_set, valid_set=valid_set, overwrite=True,
                       init=args.init, reporter=PlainReporter(120))
        logs = [run / f"member{i}" / "log.jsonl" for i in range(args.members)]
    else:
        train(cfg, run, train_set=train_set, valid_set=valid_set, overwrite=True, reporter=PlainReporter(120),
              init=args.init)
        logs = [run / "log.jsonl"]
    minutes = (time.time() - t0) / 60
    # the split that ran, as the run folder records it (training may derive it, as for --init)
    ran = json.loads((run / "config.json").read_text()) if (run / "config.json").is_file() else vars(cfg)
    # the curve: validation mAP against training minutes, stage by stage (and member by member)
    curve, offset, last_stage, last_min = [], 0.0, None, 0.0
    for i, log in enumerate(logs):
        for line in log.read_text().splitlines():
            row = json.loads(line)
            if (i, row["stage"]) != last_stage:
                offset, last_stage = offset + last_min, (i, row["stage"])
            last_min = row.get("minutes", 0.0)
            if "val_qbs" in row:
                curve.append({"stage": row["stage"], "member": i, "minutes": round(offset + last_min, 2),
                              "val_qbs": row["val_qbs"], "val_qbe": row["val_qbe"]})
    out = {"fold": fold, "method": args.method.upper() + (f"-{args.tag}" if args.tag else ""), "budget_minutes": args.minutes, "members": args.members,
           "seed": args.seed, "train_minutes": round(minutes, 1),
           # what ran: --set may override the budget's split between the stages
           "config": {"settings": args.set, "init": args.init, "string_steps": cfg.string_steps, "image_minutes": ran["image_minutes"],
                      "joint_minutes": ran["joint_minutes"], "height": args.height, "dim": args.dim,
                      "train_images": len(train_set), "valid_images": len(valid_set)},
           "curve": curve, "machine": args.machine}
    return evaluate_fold(args, fold, out)


def evaluate_fold(args, fold: str, out: dict) -> dict:
    """Test-set figures of a trained fold, written beside what `out` says of its training."""
    name = run_name(args, fold)
    emb = Embedder.load(Path(args.runs) / name / "model.pt")
    # fusion_ties.py --save gives a model new fusion weights, hence a new id, and names the one it had
    rechosen = model_info(Path(args.runs) / name / "model.pt").get("rechosen_from")
    if out.get("model_id", emb.model_id()) not in (emb.model_id(), rechosen):
        raise SystemExit(f"{fold}: the model in {args.runs} is not the one its result file was made with")
    test = open_source(args.data, fold).subset("test")
    vocabulary = [s.text for s in fold_sets(args, fold)[0]]  # out-of-vocabulary: never in a training image
    index, stats = index_labelled(emb, test)  # embedded once for both rankings
    res = evaluate_index(emb, index, stats, vocabulary)
    if emb.phoc is not None:
        res["phocnet_qbs_map"], res["phocnet_qbe_map"] = phocnet_ranking(emb, index)
    if emb.fused:
        res["heads"] = head_scores(emb, index)
    # each stage's own best checkpoint on the test set: does the joint stage earn its place?
    res["stages"] = {}
    for stage in ("image", "joint"):
        path = Path(args.runs) / name / f"{stage}.pt"
        if path.exists() and emb.phoc is None:
            r = evaluate_index(m := Embedder.load(path), *index_labelled(m, test), vocabulary)
            res["stages"][stage] = {k: r[k] for k in ("qbs_map", "qbe_map", "qbs_map_oov")}
    out = {**out, **{k: v for k, v in res.items() if k != "per_query"}, "model_id": emb.model_id(),
           "evaluated_at": machine()["commit"]}
    write_json(RESULTS / f"{name}.json", out)
    print(f"{fold} {args.method}: QbS mAP {100 * res['qbs_map']:.2f} (OOV {100 * res['qbs_map_oov']:.2f})  "
          f"QbE mAP {100 * res['qbe_map']:.2f}  ({out['train_minutes']:.1f} min)", flush=True)
    return out


def fuse_fold(args, fold: str) -> dict:
    """The fused model of an LSDE fold trained with a PHOC head: its networks, ranked by both heads,
    the weights chosen on the fold's validation images; evaluated as a `--method both` fold."""
    src = Path(args.runs) / run_name(args, fold)
    emb = Embedder.load(src / "model.pt")
    if emb.aux_phoc is None:
        raise SystemExit(f"{src}: --fuse needs an LSDE model with a PHOC head (trained with --set model.aux_phoc=W)")
    blob = emb.state()
    blob["config"]["method"] = "both"
    fused = Embedder.from_state(blob)
    index, _ = index_labelled(fused, fold_sets(args, fold)[1])
    texts = [fused.norm(c.text) for c in index.crops]
    queries = sorted(set(texts))
    chosen = choose_fusion(fused.ranking, index.vectors, texts, fused.embed_strings(queries), queries)
    fused.set_fusion(chosen["weights"])
    both = argparse.Namespace(**{**vars(args), "method": "both"})
    fused.save(Path(args.runs) / run_name(both, fold) / "model.pt", stage="fused", fused_from=str(src),
               val_qbs=chosen["qbs_map"], val_qbe=chosen["qbe_map"])
    old = json.loads((RESULTS / f"{run_name(args, fold)}.json").read_text())
    print(f"{fold}: fusion weights {chosen['weights']} (validation QbS {100 * chosen['qbs_map']:.2f}, "
          f"QbE {100 * chosen['qbe_map']:.2f})", flush=True)
    out = {**{k: old[k] for k in TRAINING_KEYS if k in old and k != "model_id"}, "method": f"BOTH-{args.tag}",
           "fused_from": run_name(args, fold), "fusion_weights": list(chosen["weights"]),
           "fusion_valid": {"qbs_map": chosen["qbs_map"], "qbe_map": chosen["qbe_map"]}}
    return evaluate_fold(both, fold, out)


def head_scores(emb: Embedder, index: Index) -> dict:
    """QbS and QbE mAP of a fused model's two heads alone, from the same vectors: LSDE (Euclidean)
    and PHOC (wordspot's PHOC rankings)."""
    texts = [emb.norm(c.text) for c in index.crops]
    queries = sorted(set(texts))
    (wl, wp), (il, ip) = emb.ranking.split(emb.embed_strings(queries)), emb.ranking.split(index.vectors)
    by_lsde, by_phoc = LSDERanking(), PHOCRanking()
    lsde = spotting_scores(il, texts, wl, queries, by_lsde.string_distances, by_lsde.image_distances)
    phoc = spotting_scores(ip, texts, wp, queries, by_phoc.string_distances, by_phoc.image_distances)
    return {name: {"qbs_map": s["qbs_map"], "qbe_map": s["qbe_map"]} for name, s in (("lsde", lsde), ("phoc", phoc))}


def phocnet_ranking(emb: Embedder, index: Index) -> tuple[float, float]:
    """QbS and QbE mAP of a PHOC model ranked as PHOCNet does (by the angle of attribute
    probabilities), to set beside wordspot's ranking (likelihood of the PHOC, angle of the logits)."""
    texts = [emb.norm(c.text) for c in index.crops]
    queries = sorted(set(texts))
    probs = 1.0 / (1.0 + np.exp(-index.vectors.astype(np.float64)))
    s = spotting_scores(probs, texts, emb.embed_strings(queries), queries, cosine_distances, cosine_distances)
    return s["qbs_map"], s["qbe_map"]


def plot_curves(rows: list[dict]) -> None:
    """Validation mAP against training minutes, one line per run; QbS left, QbE right."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # One colour per setting (folds and seeds share it), so that forty-odd runs stay readable.
    colours = plt.get_cmap("tab20").colors
    settings = sorted({(r["method"], r["budget"], r["members"]) for r in rows})
    colour = {k: colours[i % len(colours)] for i, k in enumerate(settings)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, key in zip(axes, ("val_qbs", "val_qbe")):
        labelled = set()
        for r in rows:
            t, y, member = [], [], 0
            for c in r["curve"]:
                if c.get("member", 0) != member:  # each member starts afresh: break the line, no jump
                    member = c["member"]
                    t.append(float("nan"))
                    y.append(float("nan"))
                t.append(c["minutes"])
                y.append(100 * c[key])
            k = (r["method"], r["budget"], r["members"])
            ax.plot(t, y, "--" if r["method"].startswith("LSDE") else "-", color=colour[k], lw=1, alpha=0.8,
                    label=None if k in labelled else f"{k[0]} {k[1]:g} min x{k[2]}")
            labelled.add(k)
        ax.set_title(f"validation {key[4:].upper()} (each line one fold and seed)")
        ax.set_xlabel("training minutes (all stages)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation mAP (%)")
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(RESULTS / "gw-curves.png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def load_results() -> list[dict]:
    """Every fold result, with the budget, members and seed its file name gives (see `run_name`)."""
    rows = []
    for p in RESULTS.glob("gw-*.json"):
        m = NAME.fullmatch(p.stem)
        if m:
            r = json.loads(p.read_text())
            r["budget"], r["members"] = float(m["budget"]), int(m["members"] or 1)
            r["seed"] = int(m["seed"] or 0)
            rows.append(r)
    return sorted(rows, key=lambda r: (r["method"], r["budget"], r["members"], r["seed"], r["fold"]))


def _pair(r: dict, a: str, b: str) -> str:
    """Two percentages of a result, `a / b`, or '-' for results made before they were measured."""
    return f"{100 * r[a]:.2f} / {100 * r[b]:.2f}" if a in r and b in r else "-"


def merge() -> str:
    rows = load_results()
    if not rows:
        raise SystemExit("no fold results yet in benchmarks/results/")
    body = []
    for key, group in itertools.groupby(rows, key=lambda r: (r["method"], r["budget"], r["members"], r["seed"])):
        method, budget, members, seed = key
        run = [method, f"{budget:g}", members, seed]
        group = list(group)
        for r in group:
            stages = r.get("stages", {})
            body.append([r["fold"], *run, f"{100 * r['qbs_map']:.2f}", f"{100 * r['qbe_map']:.2f}",
                         _pair(r, "qbs_map_oov", "qbs_map_inv"), f"{100 * r['qbs_p_at_1']:.2f}",
                         f"{r['qbs_lev_top5']:.2f} / {r['qbs_lev_top10']:.2f}",
                         f"{r['qbs_spearman']:.3f}" if "qbs_spearman" in r else "-",
                         " / ".join(_pair(stages[s], "qbs_map", "qbe_map") for s in ("image", "joint"))
                         if len(stages) == 2 else "-",
                         _pair(r, "phocnet_qbs_map", "phocnet_qbe_map"),
                         " / ".join(f"{100 * r['heads'][h]['qbs_map']:.2f}" for h in ("lsde", "phoc")) if "heads" in r else "-",
                         r["config"].get("train_images", "train"), r["train_minutes"],
                         f"{r['machine']['cores']} cores, {r['machine']['device']}", r["machine"]["commit"]])
        if len(group) > 1:
            q, e = [100 * r["qbs_map"] for r in group], [100 * r["qbe_map"] for r in group]
            oov = [100 * r["qbs_map_oov"] for r in group if "qbs_map_oov" in r]
            folds = " ".join(r["fold"] for r in group)
            body.append([f"**mean ({folds})**", *run, f"**{np.mean(q):.2f}** ± {np.std(q):.2f}",
                         f"**{np.mean(e):.2f}** ± {np.std(e):.2f}",
                         f"{np.mean(oov):.2f} (OOV)" if len(oov) == len(group) else "", *[""] * 9])
    lines = md_table(["fold", "method", "budget (min)", "models", "seed", "QbS mAP", "QbE mAP",
                      "QbS OOV / in-vocab", "QbS P@1", "lev top 5 / 10", "Spearman",
                      "image stage / joint stage (QbS / QbE)", "PHOCNet ranking: QbS / QbE",
                      "heads alone: LSDE / PHOC QbS", "training images",
                      "train minutes", "machine", "commit"], body)
    plot_curves(rows)
    table = "\n".join(lines) + "\n"
    (RESULTS / "gw.md").write_text(table)
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/washingtondb-v1.0")
    ap.add_argument("--folds", nargs="+", default=["cv1"])
    ap.add_argument("--method", choices=["lsde", "phoc", "both"], default="both",
                    help="LSDE, the PHOC baseline (same image trunk, PHOC head, binary cross-entropy), or both "
                         "(LSDE with a PHOC head on its image CNN, ranked by both)")
    ap.add_argument("--minutes", type=float, default=60.0, help="wall-clock budget per fold")
    ap.add_argument("--string-steps", type=int, default=4000)
    ap.add_argument("--height", type=int, default=48)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--val-every", type=int, default=0)
    ap.add_argument("--holdout", type=int, default=-1,
                    help="train on the valid images as well, all but the last N (kept for validation); -1: do not")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--members", type=int, default=1,
                    help="an ensemble of this many image CNNs (seeds seed, seed+1, ...) sharing the budget "
                         "(LSDE members share one string CNN; no joint stage)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="any training setting, as `wordspot train --set` (e.g. model.image_side=read); "
                         "needs --tag")
    ap.add_argument("--tag", default="", help="a name for the --set settings, kept in the result file's name "
                                              "(gw-lsde-TAG-40min-cv1) so that its results stand apart")
    ap.add_argument("--init", default=None, metavar="MODEL",
                    help="fine-tune this starter model (never trained on George Washington) instead of starting "
                         "from scratch; needs --tag")
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--merge", action="store_true", help="only rebuild the table from saved fold results")
    ap.add_argument("--evaluate-only", action="store_true",
                    help="evaluate the trained folds in --runs again (after a change in ranking), "
                         "keeping what their result files say of training")
    ap.add_argument("--refit", action="store_true",
                    help="with --evaluate-only: fit each model's scores (and a reader's reading scale) on its validation "
                         "images again first, as training's end now does (give the --holdout it was trained with)")
    ap.add_argument("--views", help="with --refit: give each model these image views first, as `wordspot model "
                                     "views` does (JSON, e.g. '[[1, 0.1], [1.2, 0.1]]'); its new id names the old")
    ap.add_argument("--fuse", action="store_true",
                    help="rank trained LSDE folds with a PHOC head by both heads (results as --method both)")
    args = ap.parse_args()
    if (args.set or args.init) and not args.tag:
        raise SystemExit("--set and --init need --tag NAME, so that their results do not overwrite those of the defaults")
    if args.tag and not re.fullmatch(r"[a-z][a-z0-9]*", args.tag):
        raise SystemExit("--tag: lower-case letters and digits, starting with a letter")
    if args.fuse:
        if args.method != "lsde":
            raise SystemExit("--fuse ranks trained LSDE folds by both heads: give --method lsde")
        for fold in args.folds:
            fuse_fold(args, fold)
    elif args.evaluate_only:
        for fold in args.folds:
            path = RESULTS / f"{run_name(args, fold)}.json"
            if not path.exists():
                raise SystemExit(f"no result file {path}: --evaluate-only needs the --minutes, --members and "
                                 f"--seed the fold was run with")
            old = json.loads(path.read_text())
            if args.refit:
                model, valid = Path(args.runs) / run_name(args, fold) / "model.pt", fold_sets(args, fold)[1]
                if args.views:  # what `wordspot model views` does (weights and scores fitted too), on these images
                    set_views(model, json.loads(args.views), valid, model.with_suffix(".views.pt"),
                              TrainConfig().val_limit)
                    model.with_suffix(".views.pt").replace(model)
                else:
                    calibrate_model(model, valid, TrainConfig().val_limit)
            evaluate_fold(args, fold, {k: old[k] for k in TRAINING_KEYS if k in old})
    elif not args.merge:
        # taken once, before any fold: the code this process runs is the code checked out now
        args.machine = machine()
        # the string stage is counted in steps; roughly 6 minutes of the budget on two cores
        rest = max(1.0, args.minutes - 6.0)
        args.image_minutes, args.joint_minutes = 0.7 * rest, 0.3 * rest
        if args.method == "phoc":  # no string or joint stage: the whole budget to the image CNN
            args.image_minutes, args.joint_minutes = max(1.0, args.minutes - 1.0), 0.0
        elif args.init:  # no string stage: training splits --minutes between the others (training/run.py)
            args.image_minutes = args.joint_minutes = 0.0
        for fold in args.folds:
            run_fold(args, fold)
    print(merge())


if __name__ == "__main__":
    main()
