"""Indexing on a Dask cluster: crops per second with 1 and 2 local worker processes, beside one
`wordspot index` process, and what a million crops costs.

Crops are George Washington's word images (all 4,894, repeated --repeat times) as `wordspot
index` reads them. The model is --model, or a default-configuration model with untrained weights
(speed does not depend on the weights; the default model's networks and image height are what an
archive would use).

    python benchmarks/cluster.py [--model runs/x] [--repeat 3] [--shard-size 2000]

Results: benchmarks/results/cluster.json and cluster.md. Run on otherwise idle cores.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch
from common import RESULTS, machine, md_table, write_json

from wordspot.config import ModelConfig
from wordspot.data import open_source
from wordspot.index.build import dataset_crops, index_crops
from wordspot.index.distributed import index_on_cluster
from wordspot.index.store import open_shards
from wordspot.model.embedder import Embedder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="")
    p.add_argument("--gw", default=str(Path(__file__).resolve().parents[2] / "shared/data/washingtondb-v1.0"))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--shard-size", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0, help="the untrained model's weights")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="wordspot-cluster-"))
    if args.model:
        model = Path(args.model)
        model = model / "model.pt" if model.is_dir() else model
    else:
        torch.manual_seed(args.seed)
        src = open_source(args.gw, "cv1")
        words = [s.text for s in src.subset("all")]
        from wordspot.data.text import Alphabet
        emb = Embedder(ModelConfig(), Alphabet.from_words([w.lower() for w in words]))
        model = work / "model.pt"
        emb.save(model, stage="untrained")
    crops = dataset_crops(open_source(args.gw, "cv1").subset("all")) * args.repeat
    print(f"{len(crops)} crops, model {model}")

    rows = []
    emb = Embedder.load(model)
    torch.set_num_threads(2)
    t0 = time.time()
    index_crops(emb, crops, work / "one.idx", model_path=str(model))
    one = time.time() - t0
    rows.append({"how": "wordspot index (one process, 2 threads)", "workers": 1, "seconds": one,
                 "per_second": len(crops) / one})
    print(rows[-1])
    for workers in (1, 2):
        out = work / f"archive-{workers}"
        t0 = time.time()
        stats = index_on_cluster(model, crops, out, workers=workers, shard_size=args.shard_size)
        sec = time.time() - t0
        assert sum(len(s) for s in open_shards([out])) == len(crops)
        rows.append({"how": f"--cluster local:{workers} ({2 // workers} thread(s) a worker)", "workers": workers,
                     "seconds": sec, "per_second": len(crops) / sec, "shards": stats["shards"]})
        print(rows[-1])

    best = max(r["per_second"] for r in rows)
    core_hours = 1_000_000 / best * 2 / 3600  # two cores busy for the whole run
    size = sum(f.stat().st_size for f in (work / "archive-2").rglob("*") if f.is_file())
    result = {"machine": machine(), "crops": len(crops), "shard_size": args.shard_size, "model": str(args.model or
              "default configuration, untrained"), "image_height": emb.config.image_height, "rows": rows,
              "core_hours_per_million": core_hours, "bytes_per_million": size / len(crops) * 1_000_000}
    write_json(RESULTS / "cluster.json", result)
    lines = [f"# Indexing on a Dask cluster ({len(crops):,} GW word crops, shards of {args.shard_size:,})", "",
             f"Machine: {result['machine']['cores']} cores, torch {result['machine']['torch']}, commit "
             f"{result['machine']['commit']}; model: {result['model']} ({emb.config.image_height} px).", ""]
    lines += md_table(["how", "seconds", "crops/s"],
                      [[r["how"], f"{r['seconds']:.1f}", f"{r['per_second']:.0f}"] for r in rows])
    lines += ["", f"One million crops at the best rate: {core_hours:.1f} core-hours on this machine's cores; "
              f"{result['bytes_per_million'] / 2**20:.0f} MB of index (float32 vectors and records) a million crops."]
    (RESULTS / "cluster.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":  # Dask's worker processes import this file again
    main()
