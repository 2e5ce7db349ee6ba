"""The search page in a real browser: headless Chromium (Debian's, installed by .ci/run) driven by
Playwright against `wordspot serve` on localhost. Types a query, sees the expected first hit, opens
it on its page, and asks for more like it.

Skipped where Chromium is not installed, except in CI (CI=true), where that is a failure.
(`docs/screenshot.py` makes the README's screenshot the same way.)
"""

from __future__ import annotations

import os
import re
import shutil

import pytest

from wordspot.data import load_folder
from wordspot.index.build import dataset_crops, index_crops, open_index
from wordspot.model.embedder import Embedder
from wordspot.search.query import Searcher
from wordspot.serve.app import start

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# the closed network refuses Chromium's own background connections; these flags keep it from trying
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

if not CHROMIUM and os.environ.get("CI") != "true":
    pytest.skip("no Chromium here (CI installs Debian's: apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tiny_run, tiny_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    emb = Embedder.load(tiny_run)
    test = load_folder(tiny_data).subset("test")
    index_crops(emb, dataset_crops(test), root / "a.idx")
    searcher = Searcher(emb, [open_index(root / "a.idx")], warm=True)
    url, stop = start(searcher)
    # the word the tiny model finds first for its own query: what the page must show first
    first = searcher.by_string("great", 1)[0].crop.text
    yield {"url": url, "first": first, "crops": len(test)}
    stop()


def test_search_page_in_chromium(server, tmp_path):
    assert CHROMIUM, "CI must have Chromium: .ci/run installs it"
    from playwright.sync_api import expect, sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(server["url"])
        expect(page.locator("#status")).to_contain_text("word crops indexed")
        page.fill("#q", "great")
        page.press("#q", "Enter")
        hits = page.locator("li.hit")
        expect(hits.first).to_be_visible()
        expect(page.locator("#status")).to_contain_text("hits for great")
        assert hits.count() == min(20, server["crops"])  # the page asks for 20
        expect(hits.first.locator(".text")).to_have_text(server["first"])
        # the thumbnail loads (waited for: on a first run its page is cut and cached while the list shows)
        page.wait_for_function("() => { const i = document.querySelector('li.hit img.thumb');"
                               " return i && i.complete && i.naturalWidth > 0; }", timeout=30_000)
        # open the first hit on its page
        hits.first.click()
        expect(page.locator("#page-view")).to_be_visible()
        page.wait_for_function("() => document.getElementById('page-img').naturalWidth > 0")
        expect(page.locator("#page-caption")).to_contain_text(server["first"])
        # use it as the next query (QbE): it is left out of its own ranking
        row = hits.first.get_attribute("data-row")
        hits.first.locator("button.similar").click()
        expect(page.locator("#status")).to_contain_text("hits for @")
        assert row not in [h.get_attribute("data-row") for h in page.locator("li.hit").all()]
        # a bad request shows the server's message, not a blank page
        page.fill("#q", "!!!")
        page.press("#q", "Enter")
        expect(page.locator("#status")).to_contain_text("empty once normalised")
        browser.close()


def _browser(p):
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)


def test_search_is_in_the_address_and_the_keyboard_reaches_everything(server):
    from playwright.sync_api import expect, sync_playwright
    with sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1200, "height": 800}, accept_downloads=True)
        # a shared link runs its search
        page.goto(server["url"] + "?q=great&k=10")
        hits = page.locator("li.hit")
        expect(page.locator("#status")).to_contain_text("hits for great")
        assert hits.count() == min(10, server["crops"]) and page.input_value("#q") == "great"
        # another search goes into the address; Back returns to the first, k included
        page.select_option("#k", "20")  # changing k reruns the search
        expect(page).to_have_url(server["url"] + "?q=great&k=20")
        expect(hits).to_have_count(min(20, server["crops"]))
        page.fill("#q", "camp")
        page.press("#q", "Enter")
        expect(page).to_have_url(server["url"] + "?q=camp&k=20")
        expect(page.locator("#status")).to_contain_text("hits for camp")
        page.go_back()
        expect(page.locator("#status")).to_contain_text("hits for great")
        assert page.input_value("#q") == "great"
        # an empty query says so and clears the old hits
        page.fill("#q", "  ")
        page.press("#q", "Enter")
        expect(page.locator("#status")).to_contain_text("the box is empty")
        expect(hits).to_have_count(0)
        page.fill("#q", "great")
        page.press("#q", "Enter")
        expect(page.locator("#status")).to_contain_text("hits for great")
        # keyboard: Tab reaches a hit, Enter opens it, Escape closes it and gives the focus back
        page.focus("#get-json")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.classList.contains('hit')")
        page.keyboard.press("Enter")
        expect(page.locator("#page-view")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("#page-view")).to_be_hidden()
        assert page.evaluate("document.activeElement.classList.contains('hit')")
        # screen readers: the count is announced, and every button has a name of its own
        assert page.get_attribute("#status", "aria-live") == "polite"
        names = [b.get_attribute("aria-label") for b in page.locator("button.similar").all()]
        assert len(set(names)) == len(names) == hits.count()
        # the hits download as CSV, as shown
        with page.expect_download() as d:
            page.click("#get-csv")
        lines = open(d.value.path()).read().splitlines()
        assert lines[0] == "query,rank,score,distance,file,where,page,box,text,source" and len(lines) == hits.count() + 1
        # a calibrated model: every hit shows its score, and a threshold cuts the list (in the address too)
        expect(page.locator("#min-label")).to_be_visible()
        expect(hits.first.locator(".meta")).to_contain_text("score 0.")
        page.locator("#min").fill("0.5")
        expect(page).to_have_url(server["url"] + "?q=great&k=20&min=0.5")
        expect(page.locator("#status")).to_contain_text("have a score of 0.5 or more")
        browser.close()


def test_search_page_on_a_phone(server):
    from playwright.sync_api import expect, sync_playwright
    with sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
        page.goto(server["url"] + "?q=great")
        hits = page.locator("li.hit")
        expect(hits.first).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing sticks out sideways
        hits.first.tap()
        view = page.locator("#page-view")
        expect(view).to_be_visible()
        box = view.bounding_box()
        assert box["width"] >= 360 and box["x"] >= 0 and box["x"] + box["width"] <= 376
        page.wait_for_function("() => document.getElementById('page-img').naturalWidth > 0")
        assert page.locator("#page-img").bounding_box()["width"] > 300
        page.locator("#close-page").tap()
        expect(view).to_be_hidden()
        browser.close()


def test_a_line_index_in_chromium(tmp_path):
    """Over a line index the page says it searches lines, shows each hit as its line, and an uploaded example
    is searched as what the index's line reader reads in it."""
    from conftest import make_fki_lines
    from playwright.sync_api import expect, sync_playwright

    from wordspot.config import ModelConfig
    from wordspot.data import open_lines
    from wordspot.data.text import Alphabet
    from wordspot.index.lines import LineIndex, build_line_index
    from wordspot.model.linereader import LineReader
    from wordspot.search.line_query import LineSearcher
    from wordspot.serve.app import start_app
    from wordspot.serve.lines import create_line_app

    db = make_fki_lines(tmp_path / "db")
    reader = LineReader(ModelConfig(image_height=32), Alphabet(" .abcehrstz"))
    reader.save(tmp_path / "reader.pt")
    build_line_index(reader, open_lines(str(db), "cv1").subset("all"), tmp_path / "l.idx", str(tmp_path / "reader.pt"))
    url, stop = start_app(create_line_app(LineSearcher(LineIndex(tmp_path / "l.idx"))))
    try:
        with sync_playwright() as p:
            browser = _browser(p)
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(url)
            expect(page.locator("#status")).to_contain_text("5 text lines indexed")
            assert page.locator("#upload").is_visible()  # the index names its reader: examples are read
            page.fill("#q", "cat")
            page.press("#q", "Enter")
            expect(page.locator("#status")).to_contain_text("5 hits for cat")
            hit = page.locator("li.hit").first
            page.wait_for_function("() => { const i = document.querySelector('li.hit img.thumb');"
                                   " return i && i.complete && i.naturalWidth > 0; }")
            assert hit.locator("button.similar").count() == 0
            hit.click()
            page.wait_for_function("() => document.getElementById('page-img').naturalWidth > 0")
            page.set_input_files("#upload", str(db / "data" / "word_images_normalized" / "100-01-01.png"))
            # an untrained reader reads something or nothing; the page says which
            expect(page.locator("#status")).to_contain_text(re.compile("read as|reads nothing in the example"))
            browser.close()
    finally:
        stop()
