"""Thumbnails of page crops on the search page (issue #28): how long until the hits' pictures show.

Word images of George Washington pasted onto large pages (scan-sized PNGs), indexed as page + box crops
with a word model, served by `wordspot serve`'s application, and searched in headless Chromium (Debian's):
the time from pressing Enter to the 20 hits' thumbnails all drawn. Cold: the first search after the server
starts, its thumbnails cut from the page views the index keeps (index/views.py); cold without views: the
same with the views folder removed first (an index of an older wordspot: every page decoded once; the
server keeps the views then); warm: a later search of another word. Idle, and with two busy processes on
the two cores ("loaded").

    python benchmarks/thumbs.py --model runs/gw-both-branchv2-40min-cv1

Results: benchmarks/results/thumbs.json and thumbs.md. Run on otherwise idle cores.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from common import RESULTS, machine, md_table, write_json

from wordspot.data import Crop, open_source
from wordspot.data.imaging import read_grey
from wordspot.index.build import index_crops, open_index
from wordspot.index.views import FOLDER
from wordspot.model.embedder import Embedder
from wordspot.search.query import Searcher
from wordspot.serve.app import start

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
WORDS = ["great", "Letters", "Orders", "soldiers", "Fort", "company", "Captain", "money"]


def make_pages(words: list, out: Path, n_pages: int, size: tuple[int, int], seed: int = 0) -> list[Crop]:
    """Word images pasted in rows onto `n_pages` pages of `size` (width, height), grey paper with grain as a
    scan has (so a page file is as large and as slow to decode as a scan's); their crops."""
    out.mkdir(parents=True, exist_ok=True)
    crops, w_max, h_max = [], size[0] - 100, size[1] - 100
    it, rng = iter(words), np.random.default_rng(seed)
    for p in range(n_pages):
        paper = rng.normal(225, 12, (size[1], size[0])).clip(0, 255).astype(np.uint8)
        page, x, y, row_h = paper, 100, 100, 0
        placed = []
        for w in it:
            img = read_grey(w.source)
            h, wd = img.shape
            if x + wd > w_max:
                x, y, row_h = 100, y + row_h + 30, 0
            if y + h > h_max:
                break
            page[y:y + h, x:x + wd] = np.minimum(page[y:y + h, x:x + wd], img)  # ink on the paper
            placed.append(((x, y, x + wd, y + h), w.text))
            x, row_h = x + wd + 40, max(row_h, h)
        path = out / f"page{p:02d}.png"
        cv2.imwrite(str(path), page)
        crops += [Crop(str(path), path.stem, box, text) for box, text in placed]
    return crops


def timed_search(url: str, word: str, chromium: str) -> float:
    """Seconds from Enter to every thumbnail of the hits drawn, in a fresh browser (no image cache)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 6000})  # every hit in view: none lazy
        page.goto(url)
        page.wait_for_function("() => document.getElementById('status').textContent.includes('indexed')")
        page.fill("#q", word)
        t0 = time.perf_counter()
        page.press("#q", "Enter")
        page.wait_for_function("() => { const t = [...document.querySelectorAll('li.hit img.thumb')];"
                               " return t.length === 20 && t.every((i) => i.complete && i.naturalWidth > 0); }",
                               timeout=120_000)
        seconds = time.perf_counter() - t0
        browser.close()
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="runs/gw-both-branchv2-40min-cv1")
    ap.add_argument("--gw", default=str(Path(__file__).resolve().parents[2] / "shared/data/washingtondb-v1.0"))
    ap.add_argument("--pages", type=int, default=6)
    ap.add_argument("--size", type=int, nargs=2, default=[3000, 4200], metavar=("WIDTH", "HEIGHT"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", default="runs/thumbs")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("no Chromium: apt-get install chromium")
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    crops = make_pages(open_source(args.gw, "none").subset("all"), work / "pages", args.pages, tuple(args.size))
    emb = Embedder.load(args.model)
    index_crops(emb, crops, work / "pages.idx")
    result = {"machine": machine(), "model": args.model, "pages": args.pages, "page_size": args.size,
              "crops": len(crops), "page_png_mb": round(sum(f.stat().st_size for f in (work / "pages").iterdir())
                                                        / args.pages / 2**20, 2), "runs": {}}
    for load in ("idle", "loaded"):
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 if load == "loaded"
                                                                                         else 0)]
        try:
            cold, warm, bare = [], [], []
            for r in range(args.repeat):
                shutil.rmtree(work / "pages.idx" / FOLDER, ignore_errors=True)
                url, stop = start(Searcher(emb, [open_index(work / "pages.idx")], warm=True))
                try:
                    bare.append(timed_search(url, WORDS[(2 * r) % len(WORDS)], chromium))
                finally:
                    stop()
                url, stop = start(Searcher(emb, [open_index(work / "pages.idx")], warm=True))
                try:
                    cold.append(timed_search(url, WORDS[(2 * r) % len(WORDS)], chromium))
                    warm.append(timed_search(url, WORDS[(2 * r + 1) % len(WORDS)], chromium))
                finally:
                    stop()
        finally:
            for h in hogs:
                h.kill()
        result["runs"][load] = {"cold_s": [round(v, 3) for v in cold], "warm_s": [round(v, 3) for v in warm],
                                "cold_without_views_s": [round(v, 3) for v in bare],
                                "cold_without_views_median_s": round(statistics.median(bare), 3),
                                "cold_median_s": round(statistics.median(cold), 3),
                                "warm_median_s": round(statistics.median(warm), 3)}
        print(load, result["runs"][load], flush=True)
    write_json(RESULTS / "thumbs.json", result)
    out = [f"Thumbnails of page crops, {result['machine']['cores']} cores, commit {result['machine']['commit']}: "
           f"{result['crops']} GW word images on {args.pages} pages of {args.size[0]}x{args.size[1]} pixels "
           f"(PNG, {result['page_png_mb']} MB a page); seconds from Enter to the 20 hits' thumbnails drawn in "
           f"headless Chromium (median of {args.repeat}).", ""]
    out += md_table(["machine", "cold (first search, the index's page views)", "cold without views (pages decoded)",
                     "warm (another word)"],
                    [[k, v["cold_median_s"], v["cold_without_views_median_s"], v["warm_median_s"]]
                     for k, v in result["runs"].items()])
    (RESULTS / "thumbs.md").write_text("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
