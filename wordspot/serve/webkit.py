"""What every wordspot web server shares (`serve` over an index, `front` over several servers):
the guard in front of every request, the checks of request bodies, and the cache of page images."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from importlib import resources

import cv2
import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from wordspot.data.imaging import ImageError, crop_part, read_grey, scaled_crop
from wordspot.errors import WordspotError
from wordspot.index.views import PageViews, scaled_down

MAX_K = 500
MAX_BATCH = 100
THUMB_FROM = 32  # a word at least this high on the page's view is cut from the view (shown at 56 px at most)
UPLOAD_PIXELS = 25_000_000  # an example word image; a line or a page crop stays far below
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


class IIIFOrigins:
    """ASGI middleware: responses under /iiif/ may be read by the web pages of `origins` (a IIIF viewer
    hosted elsewhere); '*' for any. Nothing else is shared across origins, and nothing by default: any web
    site a user visits could otherwise read a collection served on their machine."""

    def __init__(self, app, origins: set[str]) -> None:
        self.app, self.origins = app, origins

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/iiif/"):
            return await self.app(scope, receive, send)
        origin = dict(scope["headers"]).get(b"origin", b"").decode("latin-1")
        allowed = "*" if "*" in self.origins else origin if origin in self.origins else ""

        async def send_shared(message):
            if message["type"] == "http.response.start" and allowed:
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"access-control-allow-origin", allowed.encode("latin-1")),
                                                  (b"vary", b"Origin")]}
            await send(message)
        await self.app(scope, receive, send_shared)


class PageCache:
    """Page images decoded once and kept (least recently used out past `budget` bytes), and each page's
    view (scaled down to VIEW_WIDTH): forty requests for thumbnails of one large scan decode it once, not
    forty times. With the `views` of index folders (kept there when indexing), a page's view is read
    from that small file, and the scan itself is decoded only when a thumbnail needs its full detail."""

    def __init__(self, budget: int = 512 * 2**20, views: list[PageViews] | None = None) -> None:
        self.budget, self.kept, self.disk = budget, OrderedDict(), list(views or [])
        self.lock, self.loading = threading.Lock(), {}

    def _cached(self, key: tuple, make):
        """The value kept under `key`, or `make()`'s, made by one thread while the others wait."""
        with self.lock:
            if key in self.kept:
                self.kept.move_to_end(key)
                return self.kept[key]
            gate = self.loading.setdefault(key, threading.Lock())
        with gate:
            with self.lock:
                if key in self.kept:
                    return self.kept[key]
            try:
                value = make()
            finally:
                with self.lock:
                    self.loading.pop(key, None)
            with self.lock:
                self.kept[key] = value
                while self._used() > self.budget and len(self.kept) > 1:
                    self.kept.popitem(last=False)
            return value

    def _used(self) -> int:
        """Bytes kept (called under the lock)."""
        return sum(v.nbytes if isinstance(v, np.ndarray) else v[0].nbytes for v in self.kept.values())

    @staticmethod
    def _stat_key(source: str) -> tuple:
        try:  # a file replaced or removed since it was cached is read again, or a 404
            st = os.stat(source)
            return source, st.st_mtime_ns, st.st_size
        except OSError:
            return source, 0, 0

    def page(self, source: str) -> np.ndarray:
        def read() -> np.ndarray:
            try:
                return read_grey(source)
            except ImageError as e:
                raise HTTPException(404, f"the image is not readable on the server: {e}") from None
        return self._cached(("page", *self._stat_key(source)), read)

    def view(self, source: str) -> tuple[np.ndarray, float]:
        """The page scaled to VIEW_WIDTH at most, and the scale."""
        def make() -> tuple[np.ndarray, float]:
            for views in self.disk:
                kept = views.load(source)
                if kept is not None:
                    return kept
            page = self.page(source)
            if self.disk:  # an index built before views were kept: the next start finds it
                self.disk[0].save(source, page)
            return scaled_down(page)
        return self._cached(("view", *self._stat_key(source)), make)

    def preload(self, sources: list[str]) -> int:
        """Read the kept views of `sources` into memory while they fit in half the budget (never decoding a
        scan): run in the background when a server starts, so that its first searches find them there.
        Returns how many were read."""
        done = 0
        for source in sources:
            with self.lock:
                used = self._used()
            if used > self.budget // 2:
                break
            if any(views.has(source) for views in self.disk):
                self.view(source)
                done += 1
        return done

    def part(self, crop) -> np.ndarray:
        """A crop's pixels for a thumbnail: cut from the page's view when it keeps the word at least
        THUMB_FROM pixels high, else from the page itself."""
        if crop.box is not None:
            small, scale = self.view(crop.source)
            if scale == 1.0 or (crop.box[3] - crop.box[1]) * scale >= THUMB_FROM:
                return crop_part(small, scaled_crop(crop, scale))
        return crop_part(self.page(crop.source), crop)

    def drawn(self, source: str, boxes: list) -> np.ndarray:
        """The page's view in colour with each (box in page pixels, or None; BGR colour) of `boxes` drawn."""
        small, scale = self.view(source)
        view = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)  # a copy: the cached view is never drawn on
        for box, colour in boxes:
            if box:
                x1, y1, x2, y2 = (int(round(v * scale)) for v in box)
                cv2.rectangle(view, (x1 - 2, y1 - 2), (x2 + 2, y2 + 2), colour, max(2, view.shape[1] // 400))
        return view


def thumbnail(img: np.ndarray, height: int = 96) -> np.ndarray:
    """`img` scaled down to `height` pixels high (never up): a hit's picture in the list."""
    scale = min(1.0, height / max(1, img.shape[0]))
    return cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else img


def allowed_hosts(host: str, extra: list[str] | None = None) -> tuple[str, ...]:
    """The Host names a server bound to `host` answers: this machine's, the bound address, `extra`."""
    bound = () if host in ("0.0.0.0", "::", "") else (host,)
    return tuple(dict.fromkeys([*LOCAL_HOSTS, *bound, *(extra or [])]))


def search_page(app: FastAPI) -> None:
    """GET /: the search page (one page for word indexes, line indexes and the front over servers)."""
    html = resources.files("wordspot").joinpath("static/search.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return html


def png_response(img: np.ndarray) -> Response:
    """An image as a PNG response browsers may keep an hour (a picture of an indexed crop or line)."""
    ok, buf = cv2.imencode(".png", img)
    return Response(buf.tobytes(), media_type="image/png", headers={"Cache-Control": "max-age=3600"})


def error_handlers(app: FastAPI) -> None:
    """Bad input a 4xx saying what is wrong; anything else a 500 that names no more than its kind."""
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
