"""Line indexes at scale (issue #27): indexing speed, what the fast path costs in accuracy, query time.

0. Storage: each frame keeps the classes within `within` nats of its best (index/lines.py). On the fold's
   validation lines the reader never trained on (the last --holdout of `valid`, as benchmarks/lines.py holds
   them out), every word of those lines as a query, gAP / mAP with every class kept and with each `within`;
   KEEP_WITHIN is the smallest that changes no figure by more than 0.05 points there. Test lines reported
   beside it, not used to choose. Bytes a frame of each.
1. Indexing: `build_line_index` (what `wordspot index` runs with a line reader) on all George Washington
   lines, median of 3 runs, in lines and in words (the lines' transcribed words) a second.
2. The fast path: a large line index scores only the lines whose readings come near the keyword
   (search/readings.py). On the fold's test lines, the FKI protocol (exact and folded gAP / mAP) with every
   line scored, and with the fast path forced (a line it does not score counts as never retrieved).
3. Scale: the GW line index copied to 10k .. 1M words (a copy's readings get one letter changed in 30% of
   their words, so the vocabulary grows as an archive's misreadings would), cold `wordspot query` (a new
   process, median of 3) and warm queries (p50 / p90 over keywords from GW's vocabulary).

    python benchmarks/line_scale.py --model runs/lines-40min-cv1 [--sizes 10000 100000 1000000]

Results: benchmarks/results/line-scale.json and line-scale.md. Run on otherwise idle cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import RESULTS, machine, md_table, write_json

import wordspot.index.lines as line_index
import wordspot.search.line_query as line_query
from wordspot.data import open_lines
from wordspot.data.text import decode_fki
from wordspot.evaluation.kws import kws_scores, relevance
from wordspot.model.linereader import LineReader


def indexing(reader: LineReader, lines: list, work: Path, words: int) -> dict:
    runs = []
    for _ in range(3):
        shutil.rmtree(work / "gw.idx", ignore_errors=True)
        runs.append(line_index.build_line_index(reader, lines, work / "gw.idx")["seconds"])
    s = statistics.median(runs)
    return {"lines": len(lines), "words": words, "seconds": round(s, 2), "lines_per_s": round(len(lines) / s, 1),
            "words_per_s": round(words / s, 1), "all_seconds": [round(r, 2) for r in runs]}


WITHIN = [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0]


def storage(reader: LineReader, src, holdout: int) -> dict:
    """The protocol's figures with every class kept and with each `within`, on held-out validation lines
    (every word of them a query) and on the test lines (the fold's keywords)."""
    from wordspot.evaluation.lines import score_lines
    from wordspot.search.lines import keyword_scores
    valid = src.subset("valid")
    out: dict = {}
    for part, lines, words in (("validation", valid[len(valid) - holdout:], None), ("test", src.subset("test"),
                                                                                       src.keywords)):
        kept_rows, _, logps, _ = score_lines(reader, lines)
        tokens = [src.tokens[line.key] for line in lines]
        words = words or sorted({t for ts in tokens for t in ts})
        n_classes = len(reader.alphabet.symbols) + 1
        out[part] = {"lines": len(lines), "queries": len(words)}
        for within in [None, *WITHIN]:
            stored = [lp.astype(np.float16).astype(np.float32) if within is None else
                      line_index.dense_frames(*line_index.sparse_frames(lp, within), n_classes) for lp in logps]
            sizes = [line_index.sparse_frames(lp, within) for lp in logps] if within else []
            row = {"bytes_per_frame": round(2 * n_classes if within is None else
                                            sum(sum(a.nbytes for a in s) for s in sizes) / sum(map(len, logps)), 2)}
            for name, fold in (("exact", False), ("folded", True)):
                keys, rel = relevance(tokens, words, fold)
                scores = np.full(rel.shape, np.nan)
                for k, key in enumerate(keys):
                    scores[kept_rows, k] = keyword_scores(stored, reader.alphabet.symbols,
                                                          key if fold else decode_fki(key), fold, spans=False)[0]
                r = kws_scores(scores, rel)
                row[name] = {"gap": r["gap"], "map": r["map"]}
            out[part]["all" if within is None else f"{within:g}"] = row
        print("storage:", part, json.dumps(out[part]), flush=True)
    full = out["validation"]["all"]
    chosen = next((w for w in WITHIN if all(abs(out["validation"][f"{w:g}"][p][m] - full[p][m]) <= 0.0005
                                              for p in ("exact", "folded") for m in ("gap", "map"))), None)
    out["chosen_on_validation"] = chosen
    return out


def fast_path(reader: LineReader, src, work: Path) -> dict:
    """The protocol over the test lines, every line scored and the fast path forced."""
    test = src.subset("test")
    shutil.rmtree(work / "test.idx", ignore_errors=True)
    line_index.build_line_index(reader, test, work / "test.idx")
    index = line_query.LineSearcher(line_index.LineIndex(work / "test.idx"))
    row_of = {r["source"]: i for i, r in enumerate(index.index.records)}
    line_tokens = [src.tokens[line.key] for line in test]
    out, default = {}, line_query.SCAN_ALL
    for name, fold in (("exact", False), ("folded", True)):
        keys, rel = relevance(line_tokens, src.keywords, fold)
        for mode, scan_all in (("all lines", 10**9), ("fast path", 0)):
            line_query.SCAN_ALL = scan_all
            scores, counts = np.full(rel.shape, np.nan), []
            for k, key in enumerate(keys):
                hits = index.search(key if fold else decode_fki(key), len(test), fold)
                counts.append(len(hits))
                for h in hits:
                    scores[row_of[h.line.source], k] = h.score
            r = kws_scores(scores, rel)
            r.pop("per_keyword")
            out[f"{name}, {mode}"] = {**r, "mean_lines_scored": round(float(np.mean(counts)), 1)}
    line_query.SCAN_ALL = default
    return out


def copies(work: Path, n_words: int, words_per_copy: int, seed: int = 0) -> tuple[Path, int]:
    """The GW line index copied until it holds `n_words` words; returns its folder and distinct words read."""
    base = line_index.LineIndex(work / "gw.idx")
    times = -(-n_words // words_per_copy)
    out = work / f"w{n_words}.idx"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    rng = np.random.default_rng(seed)
    letters = [s for s in base.symbols if s.isalpha()]
    records = []
    for c in range(times):
        for r in base.records:
            reading = r["reading"] if c == 0 else " ".join(_misread(w, letters, rng) for w in r["reading"].split())
            records.append({**r, "source": f"/archive/c{c:04d}/{Path(r['source']).name}", "page": f"c{c}-{r['page']}",
                            "reading": reading})
    for name in (line_index.KEPT, line_index.CLASSES, line_index.LOGP, line_index.REST):  # the frames, copied
        part = np.load(work / "gw.idx" / name)
        arr = np.lib.format.open_memmap(out / name, "w+", part.dtype, (len(part) * times,))
        for c in range(times):
            arr[c * len(part):(c + 1) * len(part)] = part
        arr.flush()
        del arr
    meta = json.loads((work / "gw.idx" / line_index.META).read_text())
    (out / line_index.META).write_text(json.dumps({**meta, "lines": records}))
    distinct = len({w for r in records for w in r["reading"].split()})
    return out, distinct


def _misread(word: str, letters: list[str], rng) -> str:
    if rng.random() >= 0.3 or not word:
        return word
    i = int(rng.integers(len(word)))
    return word[:i] + letters[int(rng.integers(len(letters)))] + word[i + 1:]


def cold(path: Path, word: str) -> dict:
    walls, rss = [], []
    for _ in range(3):
        cmd = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "wordspot.cli", "query", str(path), word, "--json"]
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        walls.append(time.time() - t0)
        if r.returncode != 0:
            raise SystemExit(f"query failed: {r.stderr}")
        rss.append(int(r.stderr.strip().splitlines()[-1]) / 1024)
    return {"wall_s": round(statistics.median(walls), 3), "rss_mb": round(max(rss), 1)}


def warm(path: Path, queries: list[str]) -> dict:
    t0 = time.perf_counter()
    index = line_query.LineSearcher(line_index.LineIndex(path))
    opened = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.search(queries[0], 10)  # the first query gathers the readings' vocabulary
    first = time.perf_counter() - t0
    times = []
    for q in queries[1:]:
        t0 = time.perf_counter()
        index.search(q, 10)
        times.append(time.perf_counter() - t0)
    return {"open_s": round(opened, 3), "first_query_s": round(first, 3),
            "p50_ms": round(1000 * float(np.median(times)), 2),
            "p90_ms": round(1000 * float(np.percentile(times, 90)), 2),
            "queries": len(times), "approximate": index.approximate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="runs/lines-40min-cv1")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/washingtondb-v1.0"))
    ap.add_argument("--fold", default="cv1")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--work", default="runs/line-scale")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--holdout", type=int, default=40, help="validation lines the reader was not trained on")
    args = ap.parse_args()
    reader, work = LineReader.load(args.model), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    src = open_lines(args.data, args.fold)
    lines = src.subset("all")
    words = sum(len(src.tokens[line.key]) for line in lines)
    result = {"machine": machine(), "model": args.model, "fold": args.fold,
              "storage": storage(reader, src, args.holdout), "kept_within": line_index.KEEP_WITHIN,
              "indexing": indexing(reader, lines, work, words)}
    print("indexing:", result["indexing"], flush=True)
    result["fast_path"] = fast_path(reader, src, work)
    print("fast path:", json.dumps(result["fast_path"]), flush=True)
    vocab = sorted({w for line in lines for w in map(decode_fki, src.tokens[line.key]) if w.isalpha()})
    rng = np.random.default_rng(1)
    queries = [vocab[i] for i in rng.choice(len(vocab), size=min(args.queries, len(vocab)), replace=False)]
    result["sizes"] = {}
    for n in args.sizes:
        path, distinct = copies(work, n, words)
        row = {"words": -(-n // words) * words, "lines": len(line_index.LineIndex(path)),
               "distinct_words_read": distinct,
               "size_mb": round(sum(f.stat().st_size for f in path.iterdir()) / 2**20, 1),
               "cold": cold(path, queries[0]), "warm": warm(path, queries)}
        result["sizes"][str(n)] = row
        print(n, json.dumps(row), flush=True)
        write_json(RESULTS / "line-scale.json", result)
        shutil.rmtree(path)
    write_json(RESULTS / "line-scale.json", result)
    write_md(result)


def write_md(r: dict) -> None:
    m, i = r["machine"], r["indexing"]
    out = [f"Line indexes, {m['cores']} cores, {m['device']}, commit {m['commit']}; line reader {r['model']}.", ""]
    st = r["storage"]
    out += [f"Storage: each frame keeps the classes within `within` nats of its best; chosen on "
            f"{st['validation']['lines']} held-out validation lines ({st['validation']['queries']} queries): "
            f"**{st['chosen_on_validation']}** (KEEP_WITHIN in use: {r['kept_within']}).", ""]
    out += md_table(["within", "bytes / frame", *(f"{p} {q} {m}" for p in ("validation", "test")
                                                  for q in ("exact", "folded") for m in ("gAP", "mAP"))],
                    [[w, st["validation"][w]["bytes_per_frame"],
                      *(f"{100 * st[p][w][q][m]:.2f}" for p in ("validation", "test") for q in ("exact", "folded")
                        for m in ("gap", "map"))] for w in st["validation"] if w not in ("lines", "queries")])
    out += ["",
           f"Indexing all {i['lines']} George Washington lines ({i['words']} words), median of 3: {i['seconds']} s, "
           f"{i['lines_per_s']} lines/s, **{i['words_per_s']} words/s**.", "",
           f"The fast path on {r['fold']}'s test lines (the FKI protocol; a line not scored is never retrieved):", ""]
    out += md_table(["protocol, lines scored", "gAP", "mAP", "lines scored a keyword (mean)"],
                    [[k, f"{100 * v['gap']:.2f}", f"{100 * v['map']:.2f}", v["mean_lines_scored"]]
                     for k, v in r["fast_path"].items()])
    out += ["", "Copies of the GW line index (a copy's readings misread in 30% of words):", ""]
    out += md_table(["words", "lines", "distinct words read", "index MB", "cold query (wall / RSS)", "open s",
                     "first query s", "warm p50 ms", "warm p90 ms"],
                    [[f"{s['words']:,}", f"{s['lines']:,}", f"{s['distinct_words_read']:,}", s["size_mb"],
                      f"{s['cold']['wall_s']} s / {s['cold']['rss_mb']:.0f} MB", s["warm"]["open_s"],
                      s["warm"]["first_query_s"], s["warm"]["p50_ms"], s["warm"]["p90_ms"]]
                     for n, s in r["sizes"].items()])
    (RESULTS / "line-scale.md").write_text("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
