"""`wordspot serve` over a line index: the same search page, each hit a text line with the keyword boxed.

Endpoints (errors are 4xx with {"detail": "..."}):
  GET /                                   the search page
  GET /api/info                           lines, model, {"lines": n} tells the page it searches lines
  GET /api/search?q=WORD&k=10&exact=0     the lines most likely to hold WORD, and where in each
  GET /api/line/R.png?box=x1,y1,x2,y2     line R of the index with that box drawn (page coordinates, as hits
                                          give them): the hit's thumbnail
  GET /api/line/R/page.png?box=...        the page line R is on, the line and the box drawn (a line image
                                          with no page: the line itself)
Only lines the index names are served; a box only draws on them.
"""

from __future__ import annotations

import threading
from importlib import resources

import cv2
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, Response

from wordspot.search.line_query import LineHit, LineSearcher, boxed_line
from wordspot.serve.webkit import LOCAL_HOSTS, MAX_K, Guard, PageCache, error_handlers


def _png(img) -> Response:
    ok, buf = cv2.imencode(".png", img)
    return Response(buf.tobytes(), media_type="image/png", headers={"Cache-Control": "max-age=3600"})


def _parse_box(box: str | None) -> tuple[int, int, int, int] | None:
    if not box:
        return None
    try:
        x1, y1, x2, y2 = (int(v) for v in box.split(","))
    except ValueError:
        raise HTTPException(400, f"box: x1,y1,x2,y2 in pixels, got {box[:40]!r}") from None
    if not (0 <= x1 < x2 and 0 <= y1 < y2):
        raise HTTPException(400, f"box: needs 0 <= x1 < x2 and 0 <= y1 < y2, got {box[:40]!r}")
    return x1, y1, x2, y2


def _hit(h: LineHit) -> dict:
    box = ",".join(map(str, h.box)) if h.box else ""
    return {**h.as_dict(), "where": h.where, "thumb": f"/api/line/{h.row}.png?box={box}",
            "page_image": f"/api/line/{h.row}/page.png?box={box}"}


def create_line_app(searcher: LineSearcher, hosts: tuple[str, ...] = LOCAL_HOSTS) -> FastAPI:
    """The FastAPI application over a line index. Only requests addressed to one of `hosts` are answered."""
    app = FastAPI(title="wordspot", docs_url=None, redoc_url=None)
    app.add_middleware(Guard, hosts=set(hosts), max_body=2**16)
    error_handlers(app)
    lock, pages = threading.Lock(), PageCache()
    page_html = resources.files("wordspot").joinpath("static/search.html").read_text(encoding="utf-8")

    def line_of(row: int):
        if not 0 <= row < len(searcher):
            raise HTTPException(404, f"no line {row} in the index")
        return searcher.index.line(row)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return page_html

    @app.get("/api/info")
    def info() -> dict:
        return {"lines": len(searcher), "crops": len(searcher), "model_id": searcher.index.model_id,
                "calibrated": False, "approximate": searcher.approximate, "path": str(searcher.index.path)}

    @app.get("/api/search")
    def search(q: str = Query(..., min_length=1, max_length=100), k: int = Query(10, ge=1, le=MAX_K),
               exact: bool = False) -> dict:
        with lock:  # the vocabulary of readings is gathered once, by the first query
            hits = searcher.search(q, k, exact=exact)
        note = searcher.shortfall(hits, k)
        return {"query": q, **({"note": note} if note else {}), "asked": k, "hits": [_hit(h) for h in hits]}

    @app.get("/api/line/{row}.png")
    def line_png(row: int, box: str | None = None) -> Response:
        line = line_of(row)
        img = boxed_line(pages.page(line.source), line, _parse_box(box))
        scale = min(1.0, 96 / max(1, img.shape[0]))
        return _png(cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else img)

    @app.get("/api/line/{row}/page.png")
    def line_page_png(row: int, box: str | None = None) -> Response:
        line, keyword = line_of(row), _parse_box(box)
        if line.box is None:  # a line image of its own: it is the page
            return _png(boxed_line(pages.page(line.source), line, keyword))
        small, scale = pages.view(line.source)
        view = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)  # a copy: the cached view is never drawn on
        for b, colour in ((line.box, (160, 160, 160)), (keyword, (0, 0, 220))):
            if b:
                x1, y1, x2, y2 = (int(round(v * scale)) for v in b)
                cv2.rectangle(view, (x1 - 2, y1 - 2), (x2 + 2, y2 + 2), colour, max(2, view.shape[1] // 400))
        return _png(view)

    return app
