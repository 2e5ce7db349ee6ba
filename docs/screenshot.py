"""The README's screenshot of the search page: `wordspot serve` on an index, in headless Chromium.

    python docs/screenshot.py INDEX WORD [--out docs/serve.png]

Made on the built-in (synthetic) data: George Washington's images may not be published here.
"""

from __future__ import annotations

import argparse
import shutil

from wordspot.index.store import open_shards
from wordspot.model.embedder import Embedder
from wordspot.search.query import Searcher
from wordspot.serve.app import start

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("index")
    ap.add_argument("word")
    ap.add_argument("--out", default="docs/serve.png")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    shards = open_shards([args.index])
    url, stop = start(Searcher(Embedder.load(shards[0].model_path), shards, warm=True))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 760})
        page.goto(url)
        page.fill("#q", args.word)
        page.press("#q", "Enter")
        page.locator("li.hit").first.click()
        page.wait_for_function("() => document.getElementById('page-img').naturalWidth > 0")
        page.screenshot(path=args.out)
        browser.close()
    stop()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
