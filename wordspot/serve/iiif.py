"""IIIF for `wordspot serve`: a Presentation 3 manifest of the indexed pages and Content Search over
them (2.0, and 1.0 for the viewers that read only that), so that a IIIF viewer (Mirador, Universal
Viewer) shows the collection and highlights the hits. Only pages the index names are served."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import Response

from wordspot.data.imaging import declared_size
from wordspot.index.views import view_scale
from wordspot.search.query import Searcher
from wordspot.serve.webkit import MAX_K, PageCache, png_response

MAX_CANVASES = 10_000  # pages one IIIF manifest lists at most


def _canvas(base: str, shard: int, source_id: int) -> str:
    return f"{base}iiif/canvas/{shard}/{source_id}"


def _size_of(path: str) -> tuple[int, int]:
    try:
        size = declared_size(np.fromfile(path, np.uint8))
    except OSError:
        size = None
    if size is None:
        raise HTTPException(404, f"page image {Path(path).name} is not readable on the server")
    return size


def manifest(base: str, searcher: Searcher) -> dict:
    """A Presentation 3 manifest of the pages the index names (their page views as images), with its search."""
    total = sum(len(ix.sources(MAX_CANVASES + 1)) for ix in searcher.indexes)
    if total > MAX_CANVASES:
        raise HTTPException(413, f"more than {MAX_CANVASES:,} pages: too many for one manifest")
    canvases = []
    for s, ix in enumerate(searcher.indexes):
        for sid, path in ix.sources(MAX_CANVASES):
            w, h = _size_of(path)
            cid = _canvas(base, s, sid)
            scale = view_scale(w)  # the image is the page's view
            image = {"id": f"{base}iiif/image/{s}/{sid}.png", "type": "Image", "format": "image/png",
                     "width": max(1, round(w * scale)), "height": max(1, round(h * scale))}
            canvases.append({"id": cid, "type": "Canvas", "width": w, "height": h,
                             "label": {"none": [Path(path).name]},
                             "items": [{"id": f"{cid}/page", "type": "AnnotationPage",
                                        "items": [{"id": f"{cid}/image", "type": "Annotation",
                                                   "motivation": "painting", "body": image, "target": cid}]}]})
    return {"@context": "http://iiif.io/api/presentation/3/context.json", "id": f"{base}iiif/manifest",
            "type": "Manifest", "label": {"none": ["wordspot collection"]},
            "service": [{"id": f"{base}iiif/search", "type": "SearchService2"},
                        {"@context": "http://iiif.io/api/search/1/context.json", "@id": f"{base}iiif/search/1",
                         "id": f"{base}iiif/search/1", "type": "SearchService1",
                         "profile": "http://iiif.io/api/search/1/search"}],
            "items": canvases}


def _targets(base: str, searcher: Searcher, hits: list, q: str) -> list[tuple[str, str, str, str]]:
    """(annotation id, canvas target with the hit's box, text, label) of each hit."""
    ids = {}  # shard -> row -> page id
    for s in {h.shard for h in hits}:
        rows = [h.row for h in hits if h.shard == s]
        ids[s] = dict(zip(rows, searcher.indexes[s].source_ids(rows)))
    out = []
    for h in hits:
        target = _canvas(base, h.shard, ids[h.shard][h.row])
        if h.crop.box:
            x1, y1, x2, y2 = h.crop.box
            target += f"#xywh={x1},{y1},{x2 - x1},{y2 - y1}"
        label = (f"#{h.rank} {h.crop.text or ''} (distance {h.distance:.4g}"
                 + (f", score {h.score:.2f})" if h.score is not None else ")"))
        out.append((f"{base}iiif/annotation/{h.shard}/{h.row}", target, h.crop.text or q, label))
    return out


def annotations(base: str, searcher: Searcher, hits: list, q: str) -> list[dict]:
    """Content Search 2.0 highlighting annotations of hits, on their pages' canvases."""
    return [{"id": aid, "type": "Annotation", "motivation": "highlighting", "target": target,
             "body": {"type": "TextualBody", "value": text, "format": "text/plain"}, "label": {"none": [label]}}
            for aid, target, text, label in _targets(base, searcher, hits, q)]


def annotation_list(url: str, base: str, searcher: Searcher, hits: list, q: str) -> dict:
    """The same hits as a Content Search 1.0 annotation list, for the viewers that read only that
    version (Mirador 3, the Universal Viewer)."""
    found = _targets(base, searcher, hits, q)
    return {"@context": ["http://iiif.io/api/presentation/2/context.json", "http://iiif.io/api/search/1/context.json"],
            "@id": url, "@type": "sc:AnnotationList", "within": {"@type": "sc:Layer", "total": len(found)},
            "resources": [{"@id": aid, "@type": "oa:Annotation", "motivation": "sc:painting", "label": label,
                           "resource": {"@type": "cnt:ContentAsText", "chars": text}, "on": target}
                          for aid, target, text, label in found],
            "hits": [{"@type": "search:Hit", "annotations": [aid], "match": text} for aid, _, text, _ in found]}


def add_iiif(app: FastAPI, searcher: Searcher, lock: threading.Lock, pages: PageCache) -> None:
    """Add /iiif/manifest, /iiif/image/S/P.png and /iiif/search to a server's app."""
    @app.get("/iiif/manifest")
    def iiif_manifest(request: Request) -> dict:
        return manifest(str(request.base_url), searcher)

    @app.get("/iiif/image/{shard}/{source_id}.png")
    def iiif_image(shard: int, source_id: int) -> Response:
        if not 0 <= shard < len(searcher.indexes):
            raise HTTPException(404, f"no index {shard}")
        path = searcher.indexes[shard].source(source_id)  # only pages the index names
        if path is None:
            raise HTTPException(404, f"no page {source_id} in index {shard}")
        return png_response(pages.view(path)[0])

    @app.get("/iiif/search")
    def iiif_search(request: Request, q: str = Query(..., min_length=1, max_length=100),
                    k: int = Query(100, ge=1, le=MAX_K)) -> dict:
        with lock:
            hits = searcher.by_string(q, k)
        return {"@context": "http://iiif.io/api/search/2/context.json", "id": str(request.url),
                "type": "AnnotationPage", "items": annotations(str(request.base_url), searcher, hits, q)}

    @app.get("/iiif/search/1")
    def iiif_search_v1(request: Request, q: str = Query(..., min_length=1, max_length=100),
                       k: int = Query(100, ge=1, le=MAX_K)) -> dict:
        with lock:
            hits = searcher.by_string(q, k)
        return annotation_list(str(request.url), str(request.base_url), searcher, hits, q)
