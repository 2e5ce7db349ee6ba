"""Line-level keyword spotting, measured as the field's `kws-assessment` tool measures it (PRHLT's
KwsEvalTool, run as `kws-assessment -a -m -t -s -w KEYWORDS`): every (line, keyword) pair has a score, a pair
is relevant when the line holds the keyword as a word; gAP ranks all pairs in one list, mAP averages the AP of
each keyword with a relevant line. Pairs of one score form one threshold; precision is interpolated (the best
at any lower threshold) and integrated by the trapezoidal rule; a relevant pair never retrieved (score NaN)
still counts in the relevant total, as a miss.
"""

from __future__ import annotations

import numpy as np

from wordspot.data.text import TextNorm, decode_fki


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    """kws-assessment's AP of one ranked list: `scores` (higher first; NaN: not retrieved), `relevant` bools."""
    scores, relevant = np.asarray(scores, np.float64).ravel(), np.asarray(relevant, bool).ravel()
    total = int(relevant.sum())
    if total == 0:
        return float("nan")
    found = ~np.isnan(scores)
    if not found.any():
        return 0.0
    s, r = scores[found], relevant[found]
    order = np.argsort(-s, kind="stable")
    s, r = s[order], r[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # one threshold per distinct score
    detected = np.diff(np.r_[starts, len(s)])
    hits = np.add.reduceat(r.astype(np.int64), starts)
    precision = np.cumsum(hits) / np.cumsum(detected)
    interp = np.maximum.accumulate(precision[::-1])[::-1]
    area = interp[0] * hits[0] + np.sum((interp[:-1] + interp[1:]) * hits[1:] / 2.0)
    return float(area / total)


def relevance(line_tokens: list[list[str]], keywords: list[str], fold: bool) -> tuple[list[str], np.ndarray]:
    """The keywords (folded and merged when `fold`) and the (lines, keywords) relevance matrix.

    Exact: a line is relevant when it holds the keyword's token as the file writes it (`Orders` and `Orders.`
    differ). Folded: both decoded and normalised as the word-level protocol does (lower case, letters and
    digits), so `Orders.` holds the keyword `orders`."""
    if fold:
        norm = TextNorm()
        keys = [k for k in dict.fromkeys(norm(decode_fki(k)) for k in keywords) if k]
        lines = [{norm(decode_fki(t)) for t in tokens} for tokens in line_tokens]
    else:
        keys = list(dict.fromkeys(keywords))
        lines = [set(tokens) for tokens in line_tokens]
    return keys, np.array([[k in line for k in keys] for line in lines], bool).reshape(len(lines), len(keys))


def kws_scores(scores: np.ndarray, relevant: np.ndarray) -> dict:
    """gAP and mAP of a (lines, keywords) score matrix; NaN scores are pairs never retrieved."""
    scores, relevant = np.asarray(scores, np.float64), np.asarray(relevant, bool)
    if scores.shape != relevant.shape:
        raise ValueError(f"scores {scores.shape} and relevance {relevant.shape} differ in shape")
    per_keyword = [average_precision(scores[:, k], relevant[:, k]) for k in range(scores.shape[1])]
    with_relevant = [ap for ap in per_keyword if not np.isnan(ap)]
    return {"gap": average_precision(scores, relevant),
            "map": float(np.mean(with_relevant)) if with_relevant else float("nan"),
            "keywords": scores.shape[1], "keywords_with_relevant": len(with_relevant),
            "lines": scores.shape[0], "relevant_pairs": int(relevant.sum()), "per_keyword": per_keyword}
