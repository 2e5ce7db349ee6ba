"""A line reader measured by the line-level keyword spotting protocol (kws.py): exact tokens and folded,
where in the line it puts a keyword, and its reading speed."""

from __future__ import annotations

import time

import numpy as np

from wordspot.data import Crop
from wordspot.data.text import TextNorm, decode_fki
from wordspot.evaluation.kws import kws_scores, relevance
from wordspot.model.linereader import load_lines
from wordspot.search.lines import keyword_scores


def _iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / max(1e-9, (a[1] - a[0]) + (b[1] - b[0]) - inter)


def score_lines(reader, lines: list[Crop]) -> tuple[list[int], list, list[np.ndarray], float]:
    """The readable lines' positions, their images and log-probabilities, and the seconds a line took."""
    started = time.perf_counter()
    kept, images, _ = load_lines(lines, reader.config.image_height)
    logps = reader.logprobs([im.image for im in images])
    return kept, images, logps, (time.perf_counter() - started) / max(1, len(lines))


def evaluate_lines(reader, lines: list[Crop], tokens: dict[str, list[str]], keywords: list[str],
                   positions: dict[str, list[tuple[str, int, int]]] | None = None) -> dict:
    """gAP and mAP of the exact-token and the folded protocol over `lines` (test lines), and localisation:
    the share of relevant (line, keyword) pairs whose keyword the reader places on the true word (IoU >= 0.5,
    words' positions from `positions`)."""
    kept, images, logps, per_line = score_lines(reader, lines)  # an unreadable line: never retrieved (NaN)
    line_tokens = [tokens[line.key] for line in lines]
    out: dict = {"lines": len(lines), "seconds_per_line": per_line}
    norm = TextNorm()
    for name, fold in (("exact", False), ("folded", True)):
        keys, rel = relevance(line_tokens, keywords, fold)
        scores = np.full(rel.shape, np.nan)
        hits, placed = 0, 0
        for k, key in enumerate(keys):
            scores[kept, k], found = keyword_scores(logps, reader.alphabet.symbols, key if fold else decode_fki(key),
                                                    fold)
            spans = dict(zip(kept, zip(found, images, logps)))
            for i in np.flatnonzero(rel[:, k]):
                truth = [(x1, x2) for token, x1, x2 in (positions or {}).get(lines[i].key, [])
                         if (norm(decode_fki(token)) == key if fold else token == key)]
                if not truth:
                    continue
                placed += 1
                span, image, logp = spans.get(i, (None, None, None))
                if span is not None:
                    hits += any(_iou(image.columns(span, len(logp)), t) >= 0.5 for t in truth)
        result = kws_scores(scores, rel)
        result.pop("per_keyword")
        if placed:
            result["localisation"], result["localised_pairs"] = hits / placed, placed
        out[name] = result
    return out
