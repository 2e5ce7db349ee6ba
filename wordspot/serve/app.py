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
  GET  /api/vector/crop, POST /api/vector/image, POST /api/search/vector   for a front (front.py)
  GET  /iiif/manifest            a IIIF Presentation 3 manifest of the indexed pages (10,000 at most)
  GET  /iiif/search?q=WORD       IIIF Content Search 2.0: the hits as highlighting annotations on them
"""

from __future__ import annotations

import threading
import time

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from wordspot.data.imaging import cut_box, decode_grey, normalise
from wordspot.errors import WordspotError
from wordspot.index.views import PageViews
from wordspot.search.query import Hit, Searcher
from wordspot.serve.iiif import add_iiif
from wordspot.serve.webkit import (
    LOCAL_HOSTS,
    MAX_K,
    UPLOAD_PIXELS,
    Guard,
    IIIFOrigins,
    PageCache,
    allowed_hosts,
    batch_request,
    error_handlers,
    png_response,
    search_page,
    thumbnail,
    upload_of,
)

PRELOAD = 1000  # pages whose views a server reads into memory as it starts, at most


class _Service:
    """What every route of one server shares: the searcher under its lock (one query at a time, any number of
    clients waiting), the page cache, and the answers' shape."""

    def __init__(self, searcher: Searcher) -> None:
        views = [PageViews(ix.path) for ix in searcher.indexes if getattr(ix, "path", None)]
        self.searcher, self.lock, self.pages = searcher, threading.Lock(), PageCache(views=views)
        if views:  # the first searches' thumbnails then wait for no file at all
            sources = [path for ix in searcher.indexes if hasattr(ix, "sources") for _, path in ix.sources(PRELOAD)]
            threading.Thread(target=self.pages.preload, args=(sources,), daemon=True).start()
        self.height = searcher.emb.config.image_height
        self.model_id = searcher.emb.model_id()  # a hash of every weight: once, not per request

    def answer(self, query: str, hits: list[Hit], k: int, min_score: float | None = None) -> dict:
        note = self.searcher.shortfall(hits, k)
        if min_score is not None and self.searcher.emb.calibration:  # uncalibrated: no score, nothing cut
            hits = [h for h in hits if h.score is not None and h.score >= min_score]
            note = ""
        return {"query": query, **({"note": note} if note else {}), "asked": k,
                "hits": [{**h.as_dict(), "thumb": f"/api/crop/{h.shard}/{h.row}.png",
                          "page_image": f"/api/page/{h.shard}/{h.row}.png"} for h in hits]}

    def crop_of(self, shard: int, row: int):
        """An indexed crop, only as the index names it: 404 for any other."""
        indexes = self.searcher.indexes
        if not (0 <= shard < len(indexes) and 0 <= row < len(indexes[shard])):
            raise HTTPException(404, f"no crop {row} in index {shard}")
        with self.lock:
            return indexes[shard].crops_at([row])[0]

    def upload_image(self, data: bytes, name: str) -> np.ndarray:
        return normalise(decode_grey(data, name, UPLOAD_PIXELS), self.height)


def _page_routes(app: FastAPI, s: _Service) -> None:
    search_page(app)

    @app.get("/api/info")
    def info() -> dict:
        searcher = s.searcher
        return {"crops": len(searcher), "shards": [{"path": str(getattr(ix, "path", "")), "crops": len(ix)}
                                                   for ix in searcher.indexes],
                "model_id": s.model_id, "method": searcher.emb.config.method,
                "calibrated": bool(searcher.emb.calibration),
                "approximate": [sorted(a) for a in searcher.ann]}

    @app.get("/api/crop/{shard}/{row}.png")
    def crop_png(shard: int, row: int) -> Response:
        return png_response(thumbnail(s.pages.part(s.crop_of(shard, row))))

    @app.get("/api/page/{shard}/{row}.png")
    def page_png(shard: int, row: int) -> Response:
        crop = s.crop_of(shard, row)
        return png_response(s.pages.drawn(crop.source, [(crop.box, (0, 0, 220))]))


def _search_routes(app: FastAPI, s: _Service) -> None:
    searcher, lock = s.searcher, s.lock

    @app.get("/api/search")
    def by_string(q: str = Query(..., min_length=1, max_length=100), k: int = Query(10, ge=1, le=MAX_K),
                  min_score: float | None = Query(None, alias="min", ge=0, le=1)) -> dict:
        with lock:
            return s.answer(q, searcher.by_string(q, k), k, min_score)

    @app.post("/api/search/image")
    async def by_image(request: Request, k: int = Query(10, ge=1, le=MAX_K),
                       min_score: float | None = Query(None, alias="min", ge=0, le=1)) -> dict:
        data, name = await upload_of(request)

        def search() -> dict:  # decoding and the network in a worker thread: the event loop stays free
            img = s.upload_image(data, name)
            with lock:
                return s.answer(f"@{name}", searcher.by_image(img, k), k, min_score)
        return await run_in_threadpool(search)

    @app.get("/api/search/crop")
    def by_crop(shard: int = 0, row: int = Query(..., ge=0), k: int = Query(10, ge=1, le=MAX_K),
                min_score: float | None = Query(None, alias="min", ge=0, le=1)) -> dict:
        crop = s.crop_of(shard, row)
        with lock:
            name = f"@{crop.page} {list(crop.box) if crop.box else ''}".strip()
            return s.answer(name, searcher.by_crop(shard, row, k), k, min_score)

    @app.post("/api/batch")
    def batch(body: dict) -> dict:
        queries, k = batch_request(body)
        results = []
        for q in queries:
            try:
                with lock:
                    results.append(s.answer(q, searcher.by_string(q, k), k))
            except WordspotError as e:  # one bad query does not cost the others their answers
                results.append({"query": q, "error": str(e)})
        return {"results": results}


def _box_route(app: FastAPI, s: _Service) -> None:
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
        crop = s.crop_of(shard, row)
        img = normalise(cut_box(s.pages.page(crop.source), box, crop.source), s.height)
        with s.lock:
            same = s.searcher.indexes[shard].find(crop.source, box)  # an indexed box: left out of its ranking
            return s.answer(f"@{crop.page} {list(box)}",
                            s.searcher.by_image(img, k, None if same is None else (shard, same)), k)


def _vector_routes(app: FastAPI, s: _Service) -> None:
    """For a front over several servers (front.py): vectors out, and a search by vector in."""
    searcher, lock = s.searcher, s.lock

    @app.get("/api/vector/crop")
    def crop_vector(shard: int = 0, row: int = Query(..., ge=0)) -> dict:
        s.crop_of(shard, row)
        return {"vector": np.asarray(searcher.indexes[shard].vectors[row], np.float64).tolist(),
                "reading": searcher.reading_of(shard, row)}

    @app.post("/api/vector/image")
    async def image_vector(request: Request) -> dict:
        data, name = await upload_of(request)

        def embed() -> dict:
            img = s.upload_image(data, name)
            with lock:
                vectors, readings = searcher.emb.embed_and_read([img])
            return {"vector": np.asarray(vectors[0], np.float64).tolist(), "reading": readings[0] if readings else None}
        return await run_in_threadpool(embed)

    @app.post("/api/search/vector")
    def by_vector(body: dict) -> dict:
        vec, kind, k, skip = body.get("vector"), body.get("kind", "qbe"), body.get("k", 10), body.get("skip")
        reading = body.get("reading")
        ok = (isinstance(vec, list) and len(vec) == searcher.emb.dim and all(isinstance(v, (int, float)) for v in vec)
              and kind in ("qbs", "qbe") and isinstance(k, int) and 1 <= k <= MAX_K
              and (skip is None or (isinstance(skip, list) and len(skip) == 2 and all(isinstance(v, int) for v in skip)))
              and (reading is None or (isinstance(reading, str) and len(reading) <= 200)))
        if not ok or not np.isfinite(np.asarray(vec, np.float64)).all():
            raise HTTPException(400, f'give {{"vector": [{searcher.emb.dim} finite numbers], "kind": "qbs" or "qbe", '
                                     f'"k": 1 to {MAX_K}, "skip": [shard, row] or null, "reading": what the model '
                                     f'read in the example or null}}')
        with lock:
            hits = searcher.nearest(np.asarray(vec, np.float32), kind, k, tuple(skip) if skip else None, reading)
            return s.answer(str(body.get("query", "vector"))[:200], hits, k)


def create_app(searcher: Searcher, max_upload: int = 5 * 2**20, hosts: tuple[str, ...] = LOCAL_HOSTS,
               iiif_origins: list[str] | None = None):
    """The FastAPI application over `searcher`. Only requests addressed to one of `hosts` are answered;
    the IIIF resources may be read by the web pages of `iiif_origins` (a viewer hosted elsewhere)."""
    app = FastAPI(title="wordspot", docs_url=None, redoc_url=None)
    if iiif_origins:
        app.add_middleware(IIIFOrigins, origins=set(iiif_origins))
    app.add_middleware(Guard, hosts=set(hosts), max_body=max_upload)
    service = _Service(searcher)
    error_handlers(app)
    for routes in (_page_routes, _search_routes, _box_route, _vector_routes):
        routes(app, service)
    add_iiif(app, searcher, service.lock, service.pages)
    return app


def run(searcher: Searcher, host: str = "127.0.0.1", port: int = 8765, max_upload: int = 5 * 2**20,
        allow_hosts: list[str] | None = None, iiif_origins: list[str] | None = None) -> None:
    """Serve until Ctrl-C."""
    import uvicorn
    uvicorn.run(create_app(searcher, max_upload, allowed_hosts(host, allow_hosts), iiif_origins), host=host,
                port=port, log_level="warning")


def start(searcher: Searcher, host: str = "127.0.0.1", port: int = 0):
    """Serve in a background thread (tests, scripts): returns the base URL and a function that stops it."""
    return start_app(create_app(searcher, hosts=allowed_hosts(host)), host, port)


def start_app(app: FastAPI, host: str = "127.0.0.1", port: int = 0):
    """Serve `app` in a background thread: returns the base URL and a function that stops it."""
    import socket

    import uvicorn
    if port == 0:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
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
