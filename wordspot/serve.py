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

import os
import threading
import time
from collections import OrderedDict
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from .errors import WordspotError
from .imaging import ImageError, cut_box, declared_size, decode_grey, normalise, read_grey
from .query import Hit, Searcher

MAX_K = 500
MAX_BATCH = 100
PAGE_WIDTH = 1600  # pages are sent scaled down to this width at most
UPLOAD_PIXELS = 25_000_000
MAX_CANVASES = 10_000  # pages one IIIF manifest lists at most  # an example word image; a line or a page crop stays far below
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class _TooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit:,} bytes; at most {limit:,}")


def batch_request(body: dict) -> tuple[list[str], int]:
    """The queries and k of a POST /api/batch body, checked (HTTPException 400 says what is wrong)."""
    queries, k = body.get("queries"), body.get("k", 10)
    if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries) or not queries:
        raise HTTPException(400, 'give {"queries": ["word", ...], "k": K}')
    if len(queries) > MAX_BATCH or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise HTTPException(400, f"at most {MAX_BATCH} queries, and k from 1 to {MAX_K}")
    return queries, k


async def upload_of(request: Request) -> tuple[bytes, str]:
    """The bytes and file name of an image uploaded as the multipart form field "file"."""
    form = await request.form(max_files=1, max_fields=2)  # Guard caps the bytes read
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise HTTPException(400, "send the image as a multipart form field named 'file'")
    return await upload.read(), upload.filename or "upload"


def _host_name(header: str) -> str:
    """The name in a Host header, without its port: 'example.org:80' -> 'example.org', '[::1]:8' -> '::1'."""
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """ASGI middleware in front of everything: a request whose Host is not one of `hosts` is refused
    (a web page on another site, through DNS rebinding, could otherwise read the collection), and no
    request body may pass `max_body` bytes, whatever Content-Length or Transfer-Encoding say."""

    def __init__(self, app, hosts: set[str], max_body: int) -> None:
        self.app, self.hosts, self.max_body = app, {h.lower() for h in hosts}, max_body

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"])
        host = _host_name(headers.get("host", "")).lower()
        if host not in self.hosts:
            return await self._refuse(send, 421, f"this server answers requests for {', '.join(sorted(self.hosts))} "
                                                 f"only, not {host or 'no Host'} (serve --allow-host adds one)")
        size = headers.get("content-length", "")
        if size.isdigit() and int(size) > self.max_body:
            return await self._refuse(send, 413, f"upload of {int(size):,} bytes; at most {self.max_body:,}")
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise _TooLarge(self.max_body)
            return message
        await self.app(scope, limited, send)

    @staticmethod
    async def _refuse(send, status: int, detail: str) -> None:
        body = JSONResponse({"detail": detail}).body
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class PageCache:
    """Page images decoded once and kept (least recently used out past `budget` bytes), each also
    scaled down once for the page view: forty requests for thumbnails of one large scan decode it
    once, not forty times."""

    def __init__(self, budget: int = 512 * 2**20) -> None:
        self.budget, self.pages, self.views = budget, OrderedDict(), {}
        self.lock, self.loading = threading.Lock(), {}

    def page(self, source: str) -> np.ndarray:
        try:  # a file replaced or removed since it was cached is read again, or a 404
            st = os.stat(source)
            key = (source, st.st_mtime_ns, st.st_size)
        except OSError:
            key = (source, 0, 0)
        with self.lock:
            if key in self.pages:
                self.pages.move_to_end(key)
                return self.pages[key]
            gate = self.loading.setdefault(key, threading.Lock())
        with gate:  # one thread decodes a page; the others wait for it
            with self.lock:
                if key in self.pages:
                    return self.pages[key]
            try:
                img = read_grey(source)
            except ImageError as e:
                raise HTTPException(404, f"the image is not readable on the server: {e}") from None
            finally:
                with self.lock:
                    self.loading.pop(key, None)
            with self.lock:
                self.pages[key] = img
                while sum(p.nbytes for p in self.pages.values()) > self.budget and len(self.pages) > 1:
                    old, _ = self.pages.popitem(last=False)
                    self.views.pop(old, None)
            return img

    def view(self, source: str) -> tuple[np.ndarray, float]:
        """The page scaled to PAGE_WIDTH at most, and the scale."""
        page = self.page(source)
        with self.lock:
            key = next((k for k, v in self.pages.items() if v is page), None)
            if key in self.views:
                return self.views[key]
        scale = min(1.0, PAGE_WIDTH / page.shape[1])
        small = cv2.resize(page, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else page
        with self.lock:
            if key in self.pages:
                self.views[key] = (small, scale)
        return small, scale


def create_app(searcher: Searcher, max_upload: int = 5 * 2**20, hosts: tuple[str, ...] = LOCAL_HOSTS):
    """The FastAPI application; `searcher` is used under a lock (one query at a time, any number
    of clients waiting). Only requests addressed to one of `hosts` are answered."""
    app = FastAPI(title="wordspot", docs_url=None, redoc_url=None)
    app.add_middleware(Guard, hosts=set(hosts), max_body=max_upload)
    lock = threading.Lock()
    pages = PageCache()
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

    def answer(query: str, hits: list[Hit], k: int, min_score: float | None = None) -> dict:
        note = searcher.shortfall(hits, k)
        if min_score is not None and searcher.emb.calibration:  # uncalibrated: no score, nothing cut
            hits = [h for h in hits if h.score is not None and h.score >= min_score]
            note = ""
        return {"query": query, **({"note": note} if note else {}), "asked": k,
                "hits": [{**h.as_dict(), "thumb": f"/api/crop/{h.shard}/{h.row}.png",
                          "page_image": f"/api/page/{h.shard}/{h.row}.png"} for h in hits]}

    def crop_of(shard: int, row: int):
        if not (0 <= shard < len(searcher.indexes) and 0 <= row < len(searcher.indexes[shard])):
            raise HTTPException(404, f"no crop {row} in index {shard}")
        with lock:
            return searcher.indexes[shard].crops_at([row])[0]

    def png(img: np.ndarray) -> Response:
        ok, buf = cv2.imencode(".png", img)
        return Response(buf.tobytes(), media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return page_html

    @app.get("/api/info")
    def info() -> dict:
        return {"crops": len(searcher), "shards": [{"path": str(getattr(ix, "path", "")), "crops": len(ix)}
                                                   for ix in searcher.indexes],
                "model_id": model_id, "method": searcher.emb.config.method,
                "calibrated": bool(searcher.emb.calibration),
                "approximate": [sorted(a) for a in searcher.ann]}

    @app.get("/api/search")
    def by_string(q: str = Query(..., min_length=1, max_length=100), k: int = Query(10, ge=1, le=MAX_K),
                  min_score: float | None = Query(None, alias="min", ge=0, le=1)) -> dict:
        with lock:
            return answer(q, searcher.by_string(q, k), k, min_score)

    @app.post("/api/search/image")
    async def by_image(request: Request, k: int = Query(10, ge=1, le=MAX_K),
                       min_score: float | None = Query(None, alias="min", ge=0, le=1)) -> dict:
        data, name = await upload_of(request)

        def search() -> dict:  # decoding and the network in a worker thread: the event loop stays free
            img = normalise(decode_grey(data, name, UPLOAD_PIXELS), height)
            with lock:
                return answer(f"@{name}", searcher.by_image(img, k), k, min_score)
        return await run_in_threadpool(search)

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
        img = normalise(cut_box(pages.page(crop.source), box, crop.source), height)
        with lock:
            same = searcher.indexes[shard].find(crop.source, box)  # an indexed box: left out of its ranking
            return answer(f"@{crop.page} {list(box)}",
                          searcher.by_image(img, k, None if same is None else (shard, same)), k)

    @app.get("/api/search/crop")
    def by_crop(shard: int = 0, row: int = Query(..., ge=0), k: int = Query(10, ge=1, le=MAX_K),
                min_score: float | None = Query(None, alias="min", ge=0, le=1)) -> dict:
        crop = crop_of(shard, row)
        with lock:
            name = f"@{crop.page} {list(crop.box) if crop.box else ''}".strip()
            return answer(name, searcher.by_crop(shard, row, k), k, min_score)

    @app.post("/api/batch")
    def batch(body: dict) -> dict:
        queries, k = batch_request(body)
        results = []
        for q in queries:
            try:
                with lock:
                    results.append(answer(q, searcher.by_string(q, k), k))
            except WordspotError as e:  # one bad query does not cost the others their answers
                results.append({"query": q, "error": str(e)})
        return {"results": results}

    # ---- for a front over several servers (front.py): vectors out, and a search by vector in ----
    @app.get("/api/vector/crop")
    def crop_vector(shard: int = 0, row: int = Query(..., ge=0)) -> dict:
        crop_of(shard, row)
        return {"vector": np.asarray(searcher.indexes[shard].vectors[row], np.float64).tolist()}

    @app.post("/api/vector/image")
    async def image_vector(request: Request) -> dict:
        data, name = await upload_of(request)

        def embed() -> dict:
            img = normalise(decode_grey(data, name, UPLOAD_PIXELS), height)
            with lock:
                return {"vector": np.asarray(searcher.emb.embed_images([img])[0], np.float64).tolist()}
        return await run_in_threadpool(embed)

    @app.post("/api/search/vector")
    def by_vector(body: dict) -> dict:
        vec, kind, k, skip = body.get("vector"), body.get("kind", "qbe"), body.get("k", 10), body.get("skip")
        ok = (isinstance(vec, list) and len(vec) == searcher.emb.dim and all(isinstance(v, (int, float)) for v in vec)
              and kind in ("qbs", "qbe") and isinstance(k, int) and 1 <= k <= MAX_K
              and (skip is None or (isinstance(skip, list) and len(skip) == 2 and all(isinstance(v, int) for v in skip))))
        if not ok or not np.isfinite(np.asarray(vec, np.float64)).all():
            raise HTTPException(400, f'give {{"vector": [{searcher.emb.dim} finite numbers], "kind": "qbs" or "qbe", '
                                     f'"k": 1 to {MAX_K}, "skip": [shard, row] or null}}')
        with lock:
            hits = searcher.nearest(np.asarray(vec, np.float32), kind, k, tuple(skip) if skip else None)
            return answer(str(body.get("query", "vector"))[:200], hits, k)

    # ---- IIIF: a manifest of the indexed pages and Content Search 2.0 over them, so that a IIIF
    # viewer (Mirador, Universal Viewer) shows the collection and highlights the hits ----
    def canvas(base: str, shard: int, source_id: int) -> str:
        return f"{base}iiif/canvas/{shard}/{source_id}"

    def size_of(path: str) -> tuple[int, int]:
        try:
            size = declared_size(np.fromfile(path, np.uint8))
        except OSError:
            size = None
        if size is None:
            raise HTTPException(404, f"page image {Path(path).name} is not readable on the server")
        return size

    @app.get("/iiif/manifest")
    def iiif_manifest(request: Request) -> dict:
        base = str(request.base_url)
        total = sum(len(ix.sources(MAX_CANVASES + 1)) for ix in searcher.indexes)
        if total > MAX_CANVASES:
            raise HTTPException(413, f"more than {MAX_CANVASES:,} pages: too many for one manifest")
        canvases = []
        for s, ix in enumerate(searcher.indexes):
            for sid, path in ix.sources(MAX_CANVASES):
                w, h = size_of(path)
                cid = canvas(base, s, sid)
                scale = min(1.0, PAGE_WIDTH / w)  # the image is the page view, scaled as PageCache.view scales it
                image = {"id": f"{base}iiif/image/{s}/{sid}.png", "type": "Image", "format": "image/png",
                         "width": max(1, round(w * scale)), "height": max(1, round(h * scale))}
                canvases.append({"id": cid, "type": "Canvas", "width": w, "height": h,
                                 "label": {"none": [Path(path).name]},
                                 "items": [{"id": f"{cid}/page", "type": "AnnotationPage",
                                            "items": [{"id": f"{cid}/image", "type": "Annotation",
                                                       "motivation": "painting", "body": image, "target": cid}]}]})
        return {"@context": "http://iiif.io/api/presentation/3/context.json", "id": f"{base}iiif/manifest",
                "type": "Manifest", "label": {"none": ["wordspot collection"]},
                "service": [{"id": f"{base}iiif/search", "type": "SearchService2"}], "items": canvases}

    @app.get("/iiif/image/{shard}/{source_id}.png")
    def iiif_image(shard: int, source_id: int) -> Response:
        if not 0 <= shard < len(searcher.indexes):
            raise HTTPException(404, f"no index {shard}")
        path = searcher.indexes[shard].source(source_id)  # only pages the index names
        if path is None:
            raise HTTPException(404, f"no page {source_id} in index {shard}")
        return png(pages.view(path)[0])

    @app.get("/iiif/search")
    def iiif_search(request: Request, q: str = Query(..., min_length=1, max_length=100),
                    k: int = Query(100, ge=1, le=MAX_K)) -> dict:
        base = str(request.base_url)
        with lock:
            hits = searcher.by_string(q, k)
        ids = {}  # shard -> row -> page id
        for s in {h.shard for h in hits}:
            rows = [h.row for h in hits if h.shard == s]
            ids[s] = dict(zip(rows, searcher.indexes[s].source_ids(rows)))
        items = []
        for h in hits:
            target = canvas(base, h.shard, ids[h.shard][h.row])
            if h.crop.box:
                x1, y1, x2, y2 = h.crop.box
                target += f"#xywh={x1},{y1},{x2 - x1},{y2 - y1}"
            items.append({"id": f"{base}iiif/annotation/{h.shard}/{h.row}", "type": "Annotation",
                          "motivation": "highlighting", "target": target,
                          "body": {"type": "TextualBody", "value": h.crop.text or q, "format": "text/plain"},
                          "label": {"none": [f"#{h.rank} {h.crop.text or ''} (distance {h.distance:.4g}"
                                             + (f", score {h.score:.2f})" if h.score is not None else ")")]}})
        return {"@context": "http://iiif.io/api/search/2/context.json",
                "id": str(request.url), "type": "AnnotationPage", "items": items}

    @app.get("/api/crop/{shard}/{row}.png")
    def crop_png(shard: int, row: int) -> Response:
        crop = crop_of(shard, row)
        page = pages.page(crop.source)
        part = page if crop.box is None else cut_box(page, crop.box, crop.source)
        scale = min(1.0, 96 / max(1, part.shape[0]))
        return png(cv2.resize(part, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else part)

    @app.get("/api/page/{shard}/{row}.png")
    def page_png(shard: int, row: int) -> Response:
        crop = crop_of(shard, row)
        small, scale = pages.view(crop.source)
        page = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)  # a copy: the cached view is never drawn on
        if crop.box:
            x1, y1, x2, y2 = (int(round(v * scale)) for v in crop.box)
            cv2.rectangle(page, (x1 - 2, y1 - 2), (x2 + 2, y2 + 2), (0, 0, 220), max(2, page.shape[1] // 400))
        return png(page)

    return app


def allowed_hosts(host: str, extra: list[str] | None = None) -> tuple[str, ...]:
    """The Host names a server bound to `host` answers: this machine's, the bound address, `extra`."""
    bound = () if host in ("0.0.0.0", "::", "") else (host,)
    return tuple(dict.fromkeys([*LOCAL_HOSTS, *bound, *(extra or [])]))


def run(searcher: Searcher, host: str = "127.0.0.1", port: int = 8765, max_upload: int = 5 * 2**20,
        allow_hosts: list[str] | None = None) -> None:
    """Serve until Ctrl-C."""
    import uvicorn
    uvicorn.run(create_app(searcher, max_upload, allowed_hosts(host, allow_hosts)), host=host, port=port,
                log_level="warning")


def start(searcher: Searcher, host: str = "127.0.0.1", port: int = 0):
    """Serve in a background thread (tests, scripts): returns the base URL and a function that stops it."""
    import socket

    import uvicorn
    if port == 0:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(searcher, hosts=allowed_hosts(host)), host=host, port=port,
                                           log_level="warning"))
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
