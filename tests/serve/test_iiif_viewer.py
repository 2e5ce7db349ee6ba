"""A real IIIF viewer over `wordspot serve`: Mirador 3 (the npm package's own bundle, which `make test`
fetches from the npm registry into .venv/share/mirador) opens the server's manifest in headless
Chromium, runs a content search, lists the hits and shows the page of the one clicked.

Mirador reads Content Search 1.0 only, which the server answers beside 2.0. The viewer page is given
to the browser as if the server had sent it (Playwright answers for those two addresses), so that it
reads the manifest from its own origin, as a viewer on the same site would.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from wordspot.data import load_folder
from wordspot.index.build import Crop, index_crops, open_index
from wordspot.model.embedder import Embedder
from wordspot.search.query import Searcher
from wordspot.serve.app import start

MIRADOR = Path(os.environ.get("WORDSPOT_MIRADOR", Path(__file__).resolve().parents[2] / ".venv/share/mirador/mirador.min.js"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

if not (MIRADOR.is_file() and CHROMIUM):
    pytest.skip("no Mirador or no Chromium here (`make test` fetches Mirador with npm)", allow_module_level=True)

VIEWER = """<!doctype html><html><head><meta charset="utf-8"><title>viewer</title></head>
<body style="margin:0"><div id="viewer" style="position:absolute;inset:0"></div>
<script src="mirador.min.js"></script>
<script>
Mirador.viewer({id: "viewer", osdConfig: {drawer: "canvas"}, window: {allowClose: false, sideBarOpenByDefault: true, defaultSideBarPanel: "search"},
                windows: [{manifestId: "MANIFEST", defaultSearchQuery: "QUERY"}]});
</script></body></html>"""


@pytest.fixture(scope="module")
def pages(tiny_run, tiny_data, tmp_path_factory):
    """Test words on two pages with boxes, indexed, served."""
    root = tmp_path_factory.mktemp("viewer")
    test = load_folder(tiny_data).subset("test")[:12]
    crops = []
    for p in range(2):
        page = np.full((600, 900), 240, np.uint8)
        x, y = 30, 30
        for s in test[p * 6:(p + 1) * 6]:
            im = cv2.imread(s.path, cv2.IMREAD_GRAYSCALE)
            if x + im.shape[1] > 870:
                x, y = 30, y + 120
            page[y:y + im.shape[0], x:x + im.shape[1]] = im
            crops.append(Crop(str(root / f"page{p}.png"), f"page{p}", (x, y, x + im.shape[1], y + im.shape[0]), s.text))
            x += im.shape[1] + 40
        cv2.imwrite(str(root / f"page{p}.png"), page)
    emb = Embedder.load(tiny_run)
    index_crops(emb, crops, root / "p.idx")
    searcher = Searcher(emb, [open_index(root / "p.idx")], warm=True)
    url, stop = start(searcher)
    yield {"url": url, "searcher": searcher}
    stop()


# the viewer's picture: page ink, and the hits' highlights over the page (Mirador's: the selected
# hit yellow, the others blue)
PIXELS = """() => { let ink = 0, yellow = 0, blue = 0;
    for (const c of document.querySelectorAll('canvas')) {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] === 0) continue;
            if (d[i] < 100 && d[i + 1] < 100 && d[i + 2] < 100) ink++;
            else if (d[i + 2] < d[i] - 50) yellow++;
            else if (d[i + 2] > d[i] + 50) blue++;
        }
    }
    return {ink, yellow, blue}; }"""


def test_mirador_searches_the_collection_and_highlights_the_hits(pages):
    from playwright.sync_api import expect, sync_playwright
    url = pages["url"]
    html = VIEWER.replace("MANIFEST", f"{url}iiif/manifest").replace("QUERY", "great")
    best = pages["searcher"].by_string("great", 1)[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.route(f"{url}viewer.html", lambda r: r.fulfill(body=html, content_type="text/html"))
        page.route(f"{url}mirador.min.js", lambda r: r.fulfill(path=str(MIRADOR), content_type="text/javascript"))
        asked = []
        page.on("request", lambda r: asked.append(r.url))
        page.goto(f"{url}viewer.html")
        # the search ran through Content Search 1.0 and lists every hit, each with its rank, word and score
        # the hit's heading: Mirador's live region may announce the same text once the hit is selected
        hit = page.get_by_role("heading", name=f"#1 {best.crop.text} (distance")
        expect(hit).to_be_visible(timeout=60_000)
        assert f"{url}iiif/search/1?q=great" in asked
        expect(page.get_by_text(f"1 of {len(pages['searcher'])}", exact=True)).to_be_visible()
        # the best hit opens its page; zoomed out, the page is drawn with the hits highlighted on it
        hit.click()
        expect(page.get_by_text(f"• {best.crop.page}.png")).to_be_visible()
        page.mouse.move(800, 400)
        for _ in range(6):
            page.mouse.wheel(0, 400)
            page.wait_for_timeout(200)
        page.wait_for_function(f"() => {{ const p = ({PIXELS})(); return p.ink > 0 && p.yellow > 0 && p.blue > 0; }}",
                               timeout=30_000)
        browser.close()
