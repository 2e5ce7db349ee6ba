"""Edit-radius search (`great~2`, issue #28) on George Washington: how to rank the crops within r edits.

For each trained word model (a `benchmarks/gw.py` run folder), its fold's held-out validation images (the
last --holdout of valid, never trained on) are indexed and every distinct transcription is a query; an
image is relevant when its transcription is within r = 1, 2 edits of the query. Rankings compared by QbS
mAP (the choice is made here, on validation images, never on a test fold; reading+kept was chosen):

- space: the model's Levenshtein-shaped space alone (the LSDE distance, what `word~r` did before);
- reading: the edits between the query and what the reader read in the image, ties by the space;
- reading+indel: the same, ties first by insertions and deletions alone (a letter kept before one changed);
- reading+kept: ties first by how many of the query's letters the reading keeps, in order (their longest
  common subsequence: `greatly` keeps all of `great`, `get` three).

With --show, also the hits of one query over every word of the database (`--subset all`), as
`wordspot query IDX 'great~2' -k 10` lists them.

    python benchmarks/radius.py --runs runs/gw-both-branchv2-40min-cv1 runs/gw-both-branchv2-40min-cv2 \\
        runs/gw-both-branchv2-40min-cv3 --show great~2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import RESULTS, held_out, machine, md_table, run_folds, write_json
from rapidfuzz.distance import Indel, Levenshtein
from rapidfuzz.process import cdist

from wordspot.data import open_source
from wordspot.evaluation.evaluate import index_labelled
from wordspot.evaluation.metrics import average_precisions, distances
from wordspot.index.build import build_index, dataset_crops
from wordspot.model.embedder import Embedder
from wordspot.search.query import Searcher
from wordspot.search.radius import radius_ranks

RULES = ("space", "reading", "reading+indel", "reading+kept")


def rule_keys(rule: str, queries: list[str], readings: list[str], space: np.ndarray) -> np.ndarray:
    """(Q, N) a key to sort by, ascending, for each rule."""
    if rule == "space":
        return space
    edits = cdist(queries, readings, scorer=Levenshtein.distance, dtype=np.int32).astype(np.float64)
    span = space.max() + 1.0  # the space only breaks ties
    if rule == "reading":
        return edits * span + space
    if rule == "reading+kept":  # what `word~r` and `wordspot eval` do (search/radius.py)
        return radius_ranks(queries, readings, space)
    indel = cdist(queries, readings, scorer=Indel.distance, dtype=np.int32).astype(np.float64)
    return (edits * (indel.max() + 1) + indel) * span + space


def validation_fold(data: str, run: Path, holdout: int, fold: str) -> dict:
    emb = Embedder.load(run)
    index, _ = index_labelled(emb, held_out(data, fold, holdout))
    texts = [emb.norm(c.text) for c in index.crops]
    queries = sorted(set(texts))
    space = distances(emb.ranking.space(emb.embed_strings(queries), images=False),
                      emb.ranking.space(index.vectors, images=True))
    lev = cdist(queries, texts, scorer=Levenshtein.distance, dtype=np.int32)
    out = {"run": run.name, "fold": fold, "images": len(texts), "queries": len(queries),
           "read_exactly": float(np.mean([r == t for r, t in zip(index.readings, texts)]))}
    for rule in RULES:
        keys = rule_keys(rule, queries, index.readings, space)
        for r in (1, 2):
            out[f"{rule} r{r}"] = 100 * float(np.nanmean(average_precisions(keys, lev <= r)))
    return out


def show(data: str, run: Path, query: str, k: int) -> dict:
    """The hits of `query` over every word image of the database, as `wordspot query` gives them."""
    emb = Embedder.load(run)
    index, _ = build_index(emb, dataset_crops(open_source(data).subset("all")))
    hits = Searcher(emb, [index], exact=True).by_string(query, k)
    return {"run": run.name, "query": query, "images": len(index),
            "hits": [{"rank": h.rank, "edits": h.distance, "reading": h.reading, "text": h.crop.text,
                      "file": h.file} for h in hits]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/washingtondb-v1.0")
    ap.add_argument("--runs", nargs="+", required=True, help="gw.py run folders (their names end in the fold)")
    ap.add_argument("--holdout", type=int, default=300, help="the validation images the runs held out")
    ap.add_argument("--show", default="", help="a query to list over all words with the first run")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--out", default=str(RESULTS / "radius.json"))
    args = ap.parse_args()
    t0 = time.time()
    folds = []
    for run, fold in run_folds(ap, args.runs):
        folds.append(validation_fold(args.data, run, args.holdout, fold))
        print(folds[-1], flush=True)
    result = {"validation": folds, "machine": machine(), "seconds": round(time.time() - t0, 1),
              "mean": {key: float(np.mean([f[key] for f in folds])) for key in folds[0]
                       if key.endswith(("r1", "r2")) or key == "read_exactly"}}
    if args.show:
        result["show"] = show(args.data, Path(args.runs[0]), args.show, args.k)
        for h in result["show"]["hits"]:
            print(h)
    write_json(Path(args.out), result)
    rows = [[f["fold"], f["images"], f"{100 * f['read_exactly']:.1f}%",
             *(f"{f[f'{rule} r{r}']:.2f}" for rule in RULES for r in (1, 2))] for f in folds]
    print("\n".join(md_table(["fold", "images", "read exactly", *(f"{rule} r{r}" for rule in RULES for r in (1, 2))],
                             rows)))


if __name__ == "__main__":
    main()
