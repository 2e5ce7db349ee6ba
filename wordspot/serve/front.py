"""`wordspot serve --remote URL ...`: one search page and API over several `wordspot serve`
processes, each holding some shards of one collection (one model). A query goes to every server at
once; their hits are merged by distance. A server that does not answer is named in the response
("unavailable"), and the others still answer.

Hits are numbered by a global shard: the shards of the first server first, then the second's, so
"more like this", crop and page images find the server that holds the crop.
"""

from __future__ import annotations

import asyncio
import math

import httpx
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from wordspot.errors import WordspotError
from wordspot.serve.webkit import LOCAL_HOSTS, MAX_K, Guard, batch_request, search_page, upload_of


class Remote:
    """One `wordspot serve` process: its address, and its shards' place in the global numbering."""

    def __init__(self, url: str, info: dict, first: int) -> None:
        self.url, self.info, self.first = url.rstrip("/"), info, first
        self.shards = len(info["shards"])


def connect(urls: list[str], timeout: float = 10.0) -> list[Remote]:
    """Ask each server what it holds; refuse servers made by different models (distances would
    not compare) or that do not answer now."""
    remotes, first = [], 0
    for url in urls:
        try:
            r = httpx.get(url.rstrip("/") + "/api/info", timeout=timeout)
            r.raise_for_status()
            info = r.json()
            assert isinstance(info.get("shards"), list) and isinstance(info.get("model_id"), str)
        except (httpx.HTTPError, ValueError, AssertionError) as e:
            raise WordspotError(f"--remote {url}: not a wordspot server that answers ({type(e).__name__})") from None
        if remotes and info["model_id"] != remotes[0].info["model_id"]:
            raise WordspotError(f"--remote {url}: its index was made by another model ({info['model_id']}) than "
                                f"{remotes[0].url}'s ({remotes[0].info['model_id']})")
        remotes.append(Remote(url, info, first))
        first += len(info["shards"])
    if not remotes:
        raise WordspotError("give at least one --remote")
    return remotes


class _Front:
    """The remotes, and how the front asks them: one question to the server holding a shard, or to all."""

    def __init__(self, remotes: list[Remote], timeout: float) -> None:
        self.remotes, self.timeout = remotes, timeout

    def owner(self, shard: int) -> tuple[Remote, int]:
        for r in self.remotes:
            if r.first <= shard < r.first + r.shards:
                return r, shard - r.first
        raise HTTPException(404, f"no index {shard}")

    async def ask(self, r: Remote, method: str, path: str, **kw) -> httpx.Response:
        # a client a call: one shared client would be bound to the event loop it was made in
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            return await client.request(method, r.url + path, **kw)

    async def fan_out(self, query: str, k: int, method: str, path: str, body: dict | None = None,
                      params: dict | None = None, leave_out: tuple[int, int] | None = None) -> dict:
        """Ask every remote; their hits merged by distance, the remotes that did not answer named."""
        answers = await asyncio.gather(*(self.ask(r, method, path, json=body, params=params) for r in self.remotes),
                                       return_exceptions=True)
        hits, down, refused = [], [], []
        for r, a in zip(self.remotes, answers):
            if isinstance(a, Exception) or a.status_code >= 500:
                why = type(a).__name__ if isinstance(a, Exception) else f"HTTP {a.status_code}"
                down.append({"server": r.url, "error": why})
            elif a.status_code >= 400:
                refused.append(a)
            else:
                for h in a.json()["hits"]:
                    g = r.first + h["shard"]
                    if (g, h["row"]) != leave_out:
                        hits.append({**h, "shard": g, "server": r.url, "thumb": f"/api/crop/{g}/{h['row']}.png",
                                     "page_image": f"/api/page/{g}/{h['row']}.png"})
        if refused and not hits and len(refused) + len(down) == len(self.remotes):  # the query itself is bad
            raise HTTPException(refused[0].status_code, refused[0].json().get("detail", "bad request"))
        hits.sort(key=lambda h: (math.inf if h["distance"] is None else h["distance"], h["shard"], h["row"]))
        hits = [{**h, "rank": i + 1} for i, h in enumerate(hits[:k])]
        return {"query": query, "hits": hits, **({"unavailable": down} if down else {})}

    async def owner_vector(self, shard: int, row: int) -> dict:
        """A crop's vector and reading ({"vector", "reading"}), from the server that holds it."""
        r, s = self.owner(shard)
        try:
            a = await self.ask(r, "GET", "/api/vector/crop", params={"shard": s, "row": row})
        except httpx.HTTPError as e:
            raise HTTPException(503, f"{r.url}, which holds index {shard}, does not answer ({type(e).__name__})")
        if a.status_code != 200:
            raise HTTPException(a.status_code if a.status_code < 500 else 502, a.json().get("detail", "no crop"))
        return a.json()

    async def image(self, kind: str, shard: int, row: int) -> Response:
        r, s = self.owner(shard)
        try:
            a = await self.ask(r, "GET", f"/api/{kind}/{s}/{row}.png")
        except httpx.HTTPError as e:
            raise HTTPException(503, f"{r.url} does not answer ({type(e).__name__})")
        if a.status_code != 200:
            raise HTTPException(a.status_code if a.status_code < 500 else 502, a.json().get("detail", "no image"))
        return Response(a.content, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    async def embed(self, data: bytes, name: str) -> dict:
        """An uploaded image's vector and reading ({"vector", "reading"}), from any remote (one model): the first
        that answers."""
        for r in self.remotes:
            try:
                a = await self.ask(r, "POST", "/api/vector/image", files={"file": (name, data)})
            except httpx.HTTPError:
                continue
            if a.status_code >= 500:
                continue
            if a.status_code != 200:
                raise HTTPException(a.status_code, a.json().get("detail", "bad image"))
            return a.json()
        raise HTTPException(503, "no server answers to embed the image")


def _page_routes(app: FastAPI, f: _Front) -> None:
    search_page(app)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):  # never a traceback to the client
        return JSONResponse({"detail": f"internal error ({type(exc).__name__})"}, status_code=500)

    @app.get("/api/info")
    def info() -> dict:
        remotes, first = f.remotes, f.remotes[0].info
        return {"crops": sum(r.info.get("crops", 0) for r in remotes), "model_id": first["model_id"],
                "calibrated": all(r.info.get("calibrated") for r in remotes),
                "method": first.get("method", ""), "servers": [r.url for r in remotes],
                "shards": [{**s, "server": r.url} for r in remotes for s in r.info["shards"]]}

    @app.get("/api/crop/{shard}/{row}.png")
    async def crop_png(shard: int, row: int) -> Response:
        return await f.image("crop", shard, row)

    @app.get("/api/page/{shard}/{row}.png")
    async def page_png(shard: int, row: int) -> Response:
        return await f.image("page", shard, row)


def _search_routes(app: FastAPI, f: _Front) -> None:
    @app.get("/api/search")
    async def by_string(q: str = Query(..., min_length=1, max_length=100), k: int = Query(10, ge=1, le=MAX_K),
                        min_score: float | None = Query(None, alias="min", ge=0, le=1)):
        extra = {} if min_score is None else {"min": min_score}
        return await f.fan_out(q, k, "GET", "/api/search", params={"q": q, "k": k, **extra})

    @app.get("/api/search/crop")
    async def by_crop(shard: int = 0, row: int = Query(..., ge=0), k: int = Query(10, ge=1, le=MAX_K)):
        v = await f.owner_vector(shard, row)
        body = {"vector": v["vector"], "reading": v.get("reading"), "kind": "qbe", "k": min(k + 1, MAX_K),
                "query": f"@crop {shard}/{row}"}
        return await f.fan_out(f"@crop {shard}/{row}", k, "POST", "/api/search/vector", body, leave_out=(shard, row))

    @app.post("/api/search/image")
    async def by_image(request: Request, k: int = Query(10, ge=1, le=MAX_K)):
        data, name = await upload_of(request)
        v = await f.embed(data, name)
        body = {"vector": v["vector"], "reading": v.get("reading"), "kind": "qbe", "k": k, "query": f"@{name}"}
        return await f.fan_out(f"@{name}", k, "POST", "/api/search/vector", body)

    @app.post("/api/batch")
    async def batch(body: dict):
        queries, k = batch_request(body)
        results = []
        for q in queries:
            try:
                results.append(await f.fan_out(q, k, "GET", "/api/search", params={"q": q, "k": k}))
            except HTTPException as e:  # one bad query does not cost the others their answers
                results.append({"query": q, "error": e.detail})
        return {"results": results}


def create_front(remotes: list[Remote], hosts: tuple[str, ...] = LOCAL_HOSTS, timeout: float = 10.0,
                 max_upload: int = 5 * 2**20) -> FastAPI:
    """The FastAPI application of a front over `remotes`."""
    app = FastAPI(title="wordspot front", docs_url=None, redoc_url=None)
    app.add_middleware(Guard, hosts=set(hosts), max_body=max_upload)
    front = _Front(remotes, timeout)
    _page_routes(app, front)
    _search_routes(app, front)
    return app
