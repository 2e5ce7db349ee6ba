"""Line-level keyword spotting on George Washington (issue #27): the FKI protocol of `kws-assessment`.

A line reader is trained per fold from line images and transcriptions only (train lines and the fold's
validation lines but the last --holdout, which choose the checkpoint), then scored on the test lines with the
fold's keywords.txt: gAP and mAP with exact tokens and folded (case and punctuation), where it puts the keyword
(IoU >= 0.5 with the word's position, found from the word images), seconds a line. With --oracle MODEL, a word
model ranks each test line by its best true word crop instead: what perfect segmentation would reach.

    python benchmarks/lines.py --folds cv1 --minutes 40
    python benchmarks/lines.py --folds cv1 --oracle runs/gw-both-branchv2-40min-cv1
    python benchmarks/lines.py --folds cv1 cv2 --evaluate-only   # the trained runs, scored by this code
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import RESULTS, machine, md_table, write_json

from wordspot.config import TrainConfig, parse_settings
from wordspot.data import open_lines, open_source
from wordspot.data.formats.fki_lines import word_positions
from wordspot.data.splits import parent
from wordspot.data.text import TextNorm, decode_fki
from wordspot.evaluation.kws import average_precision, kws_scores, relevance
from wordspot.evaluation.lines import evaluate_lines
from wordspot.progress import PlainReporter
from wordspot.training.line_stage import train_lines


def run_name(args, fold: str, kind: str = "") -> str:
    """A run's name (its folder under --runs, its result file): lines[-kind][-tag]-40min[-seed1]-cv1."""
    return (f"lines{f'-{kind}' if kind else ''}{f'-{args.tag}' if args.tag else ''}-{args.minutes:g}min"
            f"{f'-seed{args.seed}' if args.seed else ''}-{fold}")


def run_fold(args, fold: str) -> dict:
    src = open_lines(args.data, fold)
    valid = src.subset("valid")
    cut = len(valid) - min(args.holdout, len(valid))
    cfg = TrainConfig.from_dict({"seed": args.seed, "image_minutes": args.minutes, "image_epochs": 10_000,
                                 "val_every": 200})
    cfg = cfg.with_settings(parse_settings(args.set))
    out = Path(args.runs) / run_name(args, fold)
    started, minutes = time.time(), None
    if args.evaluate_only:  # the run trained before: scored again by this code, its training time kept
        from wordspot.model.linereader import LineReader
        reader = LineReader.load(out)
        previous = RESULTS / f"{out.name}.json"
        minutes = json.loads(previous.read_text()).get("minutes") if previous.is_file() else None
    else:
        reader = train_lines(cfg, out, src.subset("train") + valid[:cut], valid[cut:], PlainReporter())
        minutes = (time.time() - started) / 60
    test = src.subset("test")
    res = evaluate_lines(reader, test, src.tokens, src.keywords, word_positions(args.data, test))
    return {"fold": fold, "kind": "line reader", "minutes": minutes, "seed": args.seed, "settings": args.set,
            "train_lines": len(src.subset("train")) + cut, **res, "machine": machine(), "model": str(out),
            **({"evaluated_only": True} if args.evaluate_only else {})}


def words_of(data: str, lines: list) -> list[tuple[object, int]]:
    """The database's word images that lie in `lines`, each with its line's position there (an FKI word ID is
    its line's ID and a number)."""
    row = {Path(line.source).stem: i for i, line in enumerate(lines)}
    return [(w, row[parent(Path(w.source).stem)]) for w in open_source(data, "none").subset("all")
            if parent(Path(w.source).stem) in row]


def oracle_fold(args, fold: str) -> dict:
    """A word model given the true word crops of each test line: a line's score is its best word's."""
    from wordspot.model.embedder import Embedder
    lines = open_lines(args.data, fold)
    emb = Embedder.load(args.oracle)
    test_lines = lines.subset("test")
    crops, line_of = zip(*words_of(args.data, test_lines))
    vectors = emb.embed_images(_images(emb, crops))
    out = {"fold": fold, "kind": "oracle (word model, true word crops)", "model": args.oracle}
    line_tokens = [lines.tokens[line.key] for line in test_lines]
    for name, fold_case in (("exact", False), ("folded", True)):
        keys, rel = relevance(line_tokens, lines.keywords, fold_case)
        queries = [k if fold_case else decode_fki(k) for k in keys]
        d = emb.string_distances(emb.embed_strings(queries), vectors)  # (keywords, crops)
        scores = np.full(rel.shape, np.nan)
        for j, i in enumerate(line_of):
            scores[i] = np.fmax(scores[i], -d[:, j])
        r = kws_scores(scores, rel)
        r.pop("per_keyword")
        out[name] = r
    return out


def qbe_fold(args, fold: str) -> dict:
    """Query by example over lines: each test word image of a keyword, read by the run's reader and searched
    (folded) in the test lines; relevant, the other test lines that hold the word (its own line left out)."""
    from wordspot.data.imaging import read_grey
    from wordspot.evaluation.lines import score_lines
    from wordspot.model.linereader import LineReader
    from wordspot.search.line_query import read_example
    from wordspot.search.lines import keyword_scores
    lines = open_lines(args.data, fold)
    run = Path(args.runs) / run_name(args, fold)
    reader = LineReader.load(run)
    test = lines.subset("test")
    kept, _, logps, _ = score_lines(reader, test)
    norm = TextNorm()
    keys = {norm(decode_fki(k)) for k in lines.keywords}
    holds = [{norm(decode_fki(t)) for t in lines.tokens[line.key]} for line in test]
    aps, typed, right = [], [], 0
    for w, own in words_of(args.data, test):
        word = norm(w.text)
        if word not in keys:
            continue
        rel = np.array([word in h for h in holds])
        rel[own] = False
        if not rel.any():
            continue
        reading = read_example(reader, read_grey(w.source))
        right += norm(reading) == word
        for query, into in ((reading, aps), (word, typed)):
            scores = np.full(len(test), np.nan)
            scores[kept] = keyword_scores(logps, reader.alphabet.symbols, query, True, spans=False)[0]
            scores[own] = np.nan  # the query's own line: never counted
            into.append(average_precision(scores, rel))
    return {"fold": fold, "kind": "query by example (word image read, then searched)", "model": str(run),
            "queries": len(aps), "map": float(np.mean(aps)), "read_right": right / max(1, len(aps)),
            "typed_map": float(np.mean(typed)), "seed": args.seed, "machine": machine()}


def _images(emb, crops):
    from wordspot.data.imaging import load_image
    return [load_image(c.source, emb.config.image_height) for c in crops]


def table(results: list[dict]) -> str:
    rows = []
    for r in results:
        e, f = r["exact"], r["folded"]
        rows.append([r["fold"], r["kind"], f"{100 * e['gap']:.2f}", f"{100 * e['map']:.2f}", f"{100 * f['gap']:.2f}",
                     f"{100 * f['map']:.2f}", f"{100 * f['localisation']:.1f}" if "localisation" in f else "-",
                     f"{r['seconds_per_line']:.3f}" if "seconds_per_line" in r else "-",
                     f"{r['minutes']:.1f}" if r.get("minutes") is not None else "-"])
    return "\n".join(md_table(["fold", "kind", "exact gAP", "exact mAP", "folded gAP", "folded mAP",
                               "localised (folded, %)", "s / line", "train min"], rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/washingtondb-v1.0"))
    ap.add_argument("--folds", nargs="+", default=["cv1"])
    ap.add_argument("--minutes", type=float, default=40.0)
    ap.add_argument("--holdout", type=int, default=40, help="validation lines kept to choose the checkpoint")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--tag", default="")
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--evaluate-only", action="store_true", help="score the runs trained before again")
    ap.add_argument("--oracle", help="a word model: score lines by their true word crops instead of training")
    ap.add_argument("--qbe", action="store_true", help="query by example with the runs trained before: word "
                                                       "images read by the line reader")
    args = ap.parse_args()
    results = []
    for fold in args.folds:
        if args.qbe:
            r = qbe_fold(args, fold)
            write_json(RESULTS / f"{run_name(args, fold, 'qbe')}.json", r)
            print(json.dumps({k: v for k, v in r.items() if k != "machine"}), flush=True)
            continue
        r = oracle_fold(args, fold) if args.oracle else run_fold(args, fold)
        name = f"lines-oracle-{Path(args.oracle).name}-{fold}" if args.oracle else run_name(args, fold)
        write_json(RESULTS / f"{name}.json", r)
        results.append(r)
        print(table([r]), flush=True)
    if results:
        print(table(results))


if __name__ == "__main__":
    main()
