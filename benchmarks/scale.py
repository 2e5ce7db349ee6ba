"""Index and search at scale: file size, cold and warm query time, approximate recall, indexing speed.

Search is measured on synthetic collections: the model's vectors of real word images (the built-in
test set, or --words-from) repeated with noise to 10k, 100k and 1M crops, 250 crops a page, with
those images' transcriptions as records. Queries are the model's string vectors of the vocabulary.
Indexing speed is measured on real word images (George Washington when --gw exists, else the
built-in set) through `index_crops`, as `wordspot index` runs it.

    python benchmarks/scale.py --model runs/demo [--sizes 10000 100000 1000000]

Results: benchmarks/results/scale.json and scale.md. Run on otherwise idle cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import RESULTS, machine, md_table, write_json

from wordspot.config import ModelConfig
from wordspot.data import open_source
from wordspot.index.build import Crop, dataset_crops, index_crops, open_index
from wordspot.index.writer import IndexWriter
from wordspot.model.embedder import Embedder
from wordspot.search.backend import build_approximate
from wordspot.search.query import Searcher


def synthetic(emb: Embedder, base_vecs: np.ndarray, base_texts: list[str], n: int, out: Path, dtype: str,
              seed: int = 0) -> float:
    """Write an index of `n` crops (noisy copies of `base_vecs`) to `out`; returns seconds."""
    shutil.rmtree(out, ignore_errors=True)
    rng = np.random.default_rng(seed)
    scale = 0.15 * base_vecs.std(0, keepdims=True)
    t0 = time.time()
    with IndexWriter(out, model_id=emb.model_id(), model_path=str(Path(args.model).resolve()), method=emb.config.method,
                     dim=emb.dim, dtype=dtype, fingerprint=f"synthetic-{n}") as w:
        for start in range(0, n, 65536):
            rows = np.arange(start, min(n, start + 65536))
            pick = rows % len(base_vecs)
            vecs = base_vecs[pick] + rng.normal(size=(len(rows), emb.dim)).astype(np.float32) * scale
            crops = [Crop(f"/archive/pages/p{i // 250:05d}.png", f"p{i // 250:05d}",
                          (10 + 40 * (i % 25), 20 + 60 * (i % 250 // 25), 50 + 40 * (i % 25), 70 + 60 * (i % 250 // 25)),
                          base_texts[p]) for i, p in zip(rows, pick)]
            w.add(vecs, crops, int(rows[-1]) + 1)
        w.commit()
    return time.time() - t0


def add_ann(emb: Embedder, path: Path) -> tuple[float, dict]:
    t0 = time.time()
    meta = json.loads((path / "index.json").read_text())
    ann = build_approximate(emb, path, meta["generation"], open_index(path).vectors)
    (path / "index.json").write_text(json.dumps({**meta, "ann": ann}))
    return time.time() - t0, ann


def cold_query(path: Path, word: str, exact: bool, repeats: int = 3) -> dict:
    """`wordspot query` as a new process: median wall seconds and the largest resident size.

    The size comes from GNU time: a child of this (large) process would start its peak resident
    size count from this process's size."""
    walls, rss = [], []
    for _ in range(repeats):
        cmd = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "wordspot.cli", "query", str(path), word,
               "-k", "10", "--json"] + (["--exact"] if exact else [])
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        walls.append(time.time() - t0)
        if r.returncode != 0:
            raise SystemExit(f"query failed: {r.stderr}")
        rss.append(int(r.stderr.strip().splitlines()[-1]) / 1024)  # kB -> MB
        assert json.loads(r.stdout)["hits"], r.stdout
    return {"wall_s": round(float(np.median(walls)), 3), "rss_mb": round(max(rss), 1)}


def indexing_speed(emb: Embedder, crops: list, folder: Path, repeats: int = 3) -> dict:
    """`index_crops` (what `wordspot index` runs) on word images: the median of `repeats` runs."""
    runs = []
    for _ in range(repeats):
        shutil.rmtree(folder, ignore_errors=True)
        runs.append(index_crops(emb, crops, folder, model_path=str(Path(args.model).resolve()), dtype="float16"))
    mid = sorted(runs, key=lambda s: s["per_second"])[len(runs) // 2]
    return {"crops": mid["crops"], "seconds": round(mid["seconds"], 1), "crops_per_s": round(mid["per_second"], 1),
            "all_crops_per_s": [round(s["per_second"], 1) for s in runs]}


def warm(emb: Embedder, path: Path, words: list[str], exact: bool) -> dict:
    searcher = Searcher(emb, [open_index(path)], exact=exact, warm=True)
    qv = emb.embed_strings(words)
    times, hits = [], []
    for v in qv:
        t0 = time.perf_counter()
        hits.append({h.row for h in searcher.nearest(v, "qbs", 10)})
        times.append(time.perf_counter() - t0)
    return {"p50_ms": round(1000 * float(np.median(times)), 2), "p90_ms": round(1000 * float(np.percentile(times, 90)), 2),
            "hits": hits}


def folder_mb(path: Path, pattern: str = "*") -> float:
    return sum(f.stat().st_size for f in path.glob(pattern) if f.is_file()) / 2**20


def main() -> None:
    global args
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="runs/demo")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--gw", default="../shared/data/washingtondb-v1.0")
    ap.add_argument("--work", default="runs/scale")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    emb = Embedder.load(args.model)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), "model": args.model, "sizes": {}}

    # indexing speed on real word images, as `wordspot index` runs
    gw = Path(args.gw).exists()
    src = open_source(args.gw, "cv1") if gw else open_source("builtin")
    crops = dataset_crops([s for part in ("train", "valid", "test") for s in src.subset(part)])
    # speed does not depend on the weights: the default image CNN (regression, ImageCNN) is timed
    # untrained, beside the model given (the reader of `model.image_side=read`, when it is one)
    default = Embedder(ModelConfig(), emb.alphabet)
    result["indexing"] = {"data": "George Washington" if gw else "built-in",
                          "default": indexing_speed(default, crops, work / "speed-default.idx"),
                          "model": indexing_speed(emb, crops, work / "speed.idx"),
                          "model_image_side": "read" if emb.config.reads else "regress"}
    print("indexing:", result["indexing"], flush=True)
    base = open_index(work / "speed.idx")
    base_vecs = np.asarray(base.vectors, np.float32)
    base_texts = [c.text for c in base.crops]
    vocab = sorted({emb.norm(t) for t in base_texts if emb.norm(t)})
    rng = np.random.default_rng(1)
    words = [vocab[i] for i in rng.choice(len(vocab), size=min(args.queries, len(vocab)), replace=False)]
    small = cold_query(work / "speed.idx", words[0], exact=True)
    result["small_cold_query"] = {"crops": len(base), **small}
    print("small index, cold query:", small, flush=True)

    for n in args.sizes:
        path = work / f"s{n}.idx"
        row: dict = {}
        for dtype in ("float32", "float16"):
            secs = synthetic(emb, base_vecs, base_texts, n, path, dtype)
            row[dtype] = {"write_s": round(secs, 1), "size_mb": round(folder_mb(path), 1),
                          "vectors_mb": round(folder_mb(path, "vectors-*"), 1),
                          "records_mb": round(folder_mb(path, "crops-*"), 1)}
        row["cold_exact"] = cold_query(path, words[0], exact=True)
        ex = warm(emb, path, words, exact=True)
        row["warm_exact"] = {k: v for k, v in ex.items() if k != "hits"}
        secs, ann = add_ann(emb, path)
        row["ann_build_s"] = round(secs, 1)
        row["ann"] = ann
        row["size_with_ann_mb"] = round(folder_mb(path), 1)
        row["cold_ann"] = cold_query(path, words[0], exact=False)
        ap_ = warm(emb, path, words, exact=False)
        row["warm_ann"] = {k: v for k, v in ap_.items() if k != "hits"}
        row["warm_ann"]["recall_at_10"] = round(float(np.mean([len(a & e) / max(1, len(e))
                                                              for a, e in zip(ap_["hits"], ex["hits"])])), 4)
        result["sizes"][str(n)] = row
        print(n, json.dumps(row), flush=True)
        write_json(RESULTS / "scale.json", result)
    write_md(result)


def write_md(r: dict) -> None:
    m = r["machine"]
    lines = [f"Index and search at scale, {m['cores']} cores, {m['device']}, commit {m['commit']}; model {r['model']}. "
             "Search on synthetic collections (real vectors repeated with noise, 250 crops a page); "
             "queries: the model's string vectors of real words.", ""]
    rows = []
    for n, s in r["sizes"].items():
        rows.append([f"{int(n):,}", s["float32"]["size_mb"], s["float16"]["size_mb"], s["size_with_ann_mb"],
                     s["float16"]["write_s"], f"{s['cold_exact']['wall_s']} s / {s['cold_exact']['rss_mb']:.0f} MB",
                     f"{s['cold_ann']['wall_s']} s / {s['cold_ann']['rss_mb']:.0f} MB",
                     s["warm_exact"]["p50_ms"], s["warm_ann"]["p50_ms"], s["warm_ann"]["recall_at_10"],
                     s["ann_build_s"]])
    lines += md_table(["crops", "index MB (float32)", "index MB (float16)", "float16 + ANN MB", "write s",
                       "cold query, exact (wall / RSS)", "cold query, ANN", "warm p50 ms, exact", "warm p50 ms, ANN",
                       "ANN recall@10", "ANN build s"], rows)
    i, sm = r["indexing"], r["small_cold_query"]
    lines += ["", f"`wordspot index` of {i['model']['crops']} {i['data']} word images (median of 3 runs): "
                  f"{i['default']['crops_per_s']} crops/s with the default image CNN, {i['model']['crops_per_s']} "
                  f"crops/s with the model above (image side: {i['model_image_side']}). Cold query by string on "
                  f"that {sm['crops']}-crop index: {sm['wall_s']} s, {sm['rss_mb']:.0f} MB resident."]
    (RESULTS / "scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
