"""`wordspot serve` over a line index: the same search page, each hit a text line with the keyword boxed.

Endpoints (errors are 4xx with {"detail": "..."}):
  GET /                                   the search page
  GET /api/info                           lines, model, {"lines": n} tells the page it searches lines
  GET /api/search?q=WORD&k=10&exact=0     the lines most likely to hold WORD, and where in each
  POST /api/search/image?k=10             query by example: an uploaded word image (multipart field "file"),
                                          read by the index's line reader and searched as what it reads
  GET /api/line/R.png?box=x1,y1,x2,y2     line R of the index with that box drawn (page coordinates, as hits
                                          give them): the hit's thumbnail
  GET /api/line/R/page.png?box=...        the page line R is on, the line and the box drawn (a line image
                                          with no page: the line itself)
Only lines the index names are served; a box only draws on them.
"""

from __future__ import annotations

import threading

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from wordspot.data.imaging import decode_grey, parse_box
from wordspot.model.modelfile import is_line_reader
from wordspot.search.line_query import LineHit, LineSearcher, boxed_line, index_reader, read_example
from wordspot.serve.webkit import (
    LOCAL_HOSTS,
    MAX_K,
    UPLOAD_PIXELS,
    Guard,
    PageCache,
    error_handlers,
    png_response,
    search_page,
    thumbnail,
    upload_of,
)


def _hit(h: LineHit) -> dict:
    box = ",".join(map(str, h.box)) if h.box else ""
    return {**h.as_dict(), "where": h.where, "thumb": f"/api/line/{h.row}.png?box={box}",
            "page_image": f"/api/line/{h.row}/page.png?box={box}"}


def create_line_app(searcher: LineSearcher, hosts: tuple[str, ...] = LOCAL_HOSTS,
                    max_upload: int = 5 * 2**20) -> FastAPI:
    """The FastAPI application over a line index. Only requests addressed to one of `hosts` are answered."""
    app = FastAPI(title="wordspot", docs_url=None, redoc_url=None)
    app.add_middleware(Guard, hosts=set(hosts), max_body=max_upload)
    error_handlers(app)
    lock = threading.Lock()
    examples = bool(searcher.index.model_path) and is_line_reader(searcher.index.model_path)
    readers: list = []  # the line reader, loaded by the first example (PyTorch is imported only then)
    search_page(app)

    @app.get("/api/info")
    def info() -> dict:
        return {"lines": len(searcher), "crops": len(searcher), "model_id": searcher.index.model_id,
                "calibrated": False, "approximate": searcher.approximate, "path": str(searcher.index.path),
                "examples": examples}

    @app.get("/api/search")
    def search(q: str = Query(..., min_length=1, max_length=100), k: int = Query(10, ge=1, le=MAX_K),
               exact: bool = False) -> dict:
        with lock:  # the vocabulary of readings is gathered once, by the first query
            hits = searcher.search(q, k, exact=exact)
        note = searcher.shortfall(hits, k)
        return {"query": q, **({"note": note} if note else {}), "asked": k, "hits": [_hit(h) for h in hits]}

    @app.post("/api/search/image")
    async def by_image(request: Request, k: int = Query(10, ge=1, le=MAX_K)) -> dict:
        data, name = await upload_of(request)

        def search() -> dict:  # decoding and the reader in a worker thread: the event loop stays free
            grey = decode_grey(data, name, UPLOAD_PIXELS)
            with lock:
                if not readers:
                    readers.append(index_reader(searcher.index))
                reading = read_example(readers[0], grey)
                hits = searcher.search(reading, k)
            return {"query": f"@{name} (read as “{reading}”)", "read_as": reading, "asked": k,
                    "hits": [_hit(h) for h in hits]}
        return await run_in_threadpool(search)

    _picture_routes(app, searcher)
    return app


def _picture_routes(app: FastAPI, searcher: LineSearcher) -> None:
    """A hit's line with the keyword boxed, and the line on its page: only lines the index names."""
    pages = PageCache()

    def line_of(row: int):
        if not 0 <= row < len(searcher):
            raise HTTPException(404, f"no line {row} in the index")
        return searcher.index.line(row)

    @app.get("/api/line/{row}.png")
    def line_png(row: int, box: str | None = None) -> Response:
        line = line_of(row)
        return png_response(thumbnail(boxed_line(pages.page(line.source), line, parse_box(box, "box"))))

    @app.get("/api/line/{row}/page.png")
    def line_page_png(row: int, box: str | None = None) -> Response:
        line, keyword = line_of(row), parse_box(box, "box")
        if line.box is None:  # a line image of its own: it is the page
            return png_response(boxed_line(pages.page(line.source), line, keyword))
        return png_response(pages.drawn(line.source, [(line.box, (160, 160, 160)), (keyword, (0, 0, 220))]))
