"""`wordspot serve`: a search page and a JSON API over an index, with model and index kept loaded.

Endpoints (all answers JSON but the page and the images; errors are 4xx with {"detail": "..."}):
  GET  /                         the search page
  GET  /api/info                 crops, shards, model, approximate search
  GET  /api/search?q=WORD&k=10   query by string
  POST /api/search/image?k=10    query by example: an uploaded word image (multipart field "file")
  POST /api/search/box           query by example: {"shard", "row", "box": [x1, y1, x2, y2], "k"}, a box
                                 on the page of an indexed crop
  GET  /api/search/crop?shard=S&row=R&k=10   an indexed crop as the example (a hit as the next query)
  POST /api/batch                {"queries": ["word", ...], "k"}: several QbS queries
  GET  /api/crop/S/R.png         the crop's image;  GET /api/page/S/R.png  its page with the box drawn
"""

from __future__ import annotations

import threading
import time
from importlib import resources

import cv2
import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .errors import WordspotError
from .imaging import ImageError, cut_box, decode_grey, normalise, read_grey
from .query import Hit, Searcher

MAX_K = 500
MAX_BATCH = 100
PAGE_WIDTH = 1600  # pages are sent scaled down to this width at most


def create_app(searcher: Searcher, max_upload: int = 5 * 2**20):
    """The FastAPI application; `searcher` is used under a lock (one query at a time, any number
    of clients waiting)."""
    app = FastAPI(title="wordspot", docs_url=None, redoc_url=None)
    lock = threading.Lock()
    page_html = resources.files("wordspot").joinpath("static/search.html").read_text(encoding="utf-8")
    height = searcher.emb.config.image_height
    model_id = searcher.emb.model_id()  # a hash of every weight: once, not per request

    @app.exception_handler(WordspotError)
    async def bad_input(request: Request, exc: WordspotError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):  # never a traceback to the client
        return JSONResponse({"detail": f"internal error ({type(exc).__name__})"}, status_code=500)

    def answer(query: str, hits: list[Hit]) -> dict:
        return {"query": query, "hits": [{**h.as_dict(), "thumb": f"/api/crop/{h.shard}/{h.row}.png",
                                          "page_image": f"/api/page/{h.shard}/{h.row}.png"} for h in hits]}

    def crop_of(shard: int, row: int):
        if not (0 <= shard < len(searcher.indexes) and 0 <= row < len(searcher.indexes[shard])):
            raise HTTPException(404, f"no crop {row} in index {shard}")
        with lock:
            return searcher.indexes[shard].crops_at([row])[0]

    def png(img: np.ndarray) -> Response:
        ok, buf = cv2.imencode(".png", img)
        return Response(buf.tobytes(), media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    def page_image(source: str) -> np.ndarray:
        try:
            return read_grey(source)
        except ImageError as e:
            raise HTTPException(404, f"the image is not readable on the server: {e}") from None

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return page_html

    @app.get("/api/info")
    def info() -> dict:
        return {"crops": len(searcher), "shards": [{"path": str(getattr(ix, "path", "")), "crops": len(ix)}
                                                   for ix in searcher.indexes],
                "model_id": model_id, "method": searcher.emb.config.method,
                "approximate": [sorted(a) for a in searcher.ann]}

    @app.get("/api/search")
    def by_string(q: str = Query(..., min_length=1, max_length=100), k: int = Query(10, ge=1, le=MAX_K)) -> dict:
        with lock:
            return answer(q, searcher.by_string(q, k))

    @app.post("/api/search/image")
    async def by_image(request: Request, k: int = Query(10, ge=1, le=MAX_K)) -> dict:
        size = request.headers.get("content-length")
        if size is None or not size.isdigit():
            raise HTTPException(411, "the upload needs a Content-Length")
        if int(size) > max_upload:
            raise HTTPException(413, f"upload of {int(size):,} bytes; at most {max_upload:,}")
        form = await request.form(max_files=1, max_fields=2)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(400, "send the image as a multipart form field named 'file'")
        data = await upload.read()
        img = normalise(decode_grey(data, upload.filename or "upload"), height)
        with lock:
            return answer(f"@{upload.filename or 'upload'}", searcher.by_image(img, k))

    @app.post("/api/search/box")
    def by_box(body: dict) -> dict:
        try:
            shard, row, k = int(body.get("shard", 0)), int(body["row"]), int(body.get("k", 10))
            box = tuple(int(v) for v in body["box"])
        except (KeyError, TypeError, ValueError):
            raise HTTPException(400, 'give {"shard": S, "row": R, "box": [x1, y1, x2, y2], "k": K} '
                                     "(R: a crop on the page)") from None
        if len(box) != 4 or not 1 <= k <= MAX_K:
            raise HTTPException(400, f"box: four numbers x1, y1, x2, y2; k: 1 to {MAX_K}")
        crop = crop_of(shard, row)
        img = normalise(cut_box(page_image(crop.source), box, crop.source), height)
        with lock:
            same = searcher.indexes[shard].find(crop.source, box)  # an indexed box: left out of its ranking
            return answer(f"@{crop.page} {list(box)}",
                          searcher.by_image(img, k, None if same is None else (shard, same)))

    @app.get("/api/search/crop")
    def by_crop(shard: int = 0, row: int = Query(..., ge=0), k: int = Query(10, ge=1, le=MAX_K)) -> dict:
        crop = crop_of(shard, row)
        with lock:
            return answer(f"@{crop.page} {list(crop.box) if crop.box else ''}".strip(), searcher.by_crop(shard, row, k))

    @app.post("/api/batch")
    def batch(body: dict) -> dict:
        queries, k = body.get("queries"), body.get("k", 10)
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries) or not queries:
            raise HTTPException(400, 'give {"queries": ["word", ...], "k": K}')
        if len(queries) > MAX_BATCH or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise HTTPException(400, f"at most {MAX_BATCH} queries, and k from 1 to {MAX_K}")
        results = []
        for q in queries:
            try:
                with lock:
                    results.append(answer(q, searcher.by_string(q, k)))
            except WordspotError as e:  # one bad query does not cost the others their answers
                results.append({"query": q, "error": str(e)})
        return {"results": results}

    @app.get("/api/crop/{shard}/{row}.png")
    def crop_png(shard: int, row: int) -> Response:
        crop = crop_of(shard, row)
        page = page_image(crop.source)
        part = page if crop.box is None else cut_box(page, crop.box, crop.source)
        scale = min(1.0, 96 / max(1, part.shape[0]))
        return png(cv2.resize(part, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else part)

    @app.get("/api/page/{shard}/{row}.png")
    def page_png(shard: int, row: int) -> Response:
        crop = crop_of(shard, row)
        page = cv2.cvtColor(page_image(crop.source), cv2.COLOR_GRAY2BGR)
        if crop.box:
            x1, y1, x2, y2 = crop.box
            cv2.rectangle(page, (x1 - 3, y1 - 3), (x2 + 3, y2 + 3), (0, 0, 220), max(2, page.shape[1] // 400))
        scale = min(1.0, PAGE_WIDTH / page.shape[1])
        return png(cv2.resize(page, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else page)

    return app


def run(searcher: Searcher, host: str = "127.0.0.1", port: int = 8765, max_upload: int = 5 * 2**20) -> None:
    """Serve until Ctrl-C."""
    import uvicorn
    uvicorn.run(create_app(searcher, max_upload), host=host, port=port, log_level="warning")


def start(searcher: Searcher, host: str = "127.0.0.1", port: int = 0):
    """Serve in a background thread (tests, scripts): returns the base URL and a function that stops it."""
    import socket

    import uvicorn
    if port == 0:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(searcher), host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
    return f"http://{host}:{port}/", stop
