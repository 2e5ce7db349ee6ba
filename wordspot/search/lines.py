"""A keyword's score in a text line, and where it is, from a line reader's CTC log-probabilities. NumPy only.

The line must read as `... keyword ...`: the best path through (anything) (a boundary) k-e-y-w-o-r-d
(a boundary) (anything), CTC blanks allowed between symbols, where "anything" is the best symbol of each frame
and a boundary is a space or the line's start or end (with `fold`, also punctuation, and letters of either
case match). The score is that path's log-probability less the best path's: about 0 when the reader's own
reading holds the keyword (a little above when a symbol may be read several ways, their probabilities summed),
lower the more the reading must be bent to hold it. The keyword's first and last frames give its place in
the line.
"""

from __future__ import annotations

import numpy as np

from wordspot.data.text import TextNorm

NEG = -1e30
STEP = np.array([1, 0, 2], np.int8)  # states moved by each option: from the one before, stay, skip one


def _symbol_sets(symbols: list[str], keyword: str, fold: bool) -> tuple[list[list[int]], list[int]] | None:
    """The classes each keyword symbol may be read as, and the boundary classes; None if one has none."""
    norm = TextNorm(True, True)
    folded = [norm(s) for s in symbols] if fold else symbols
    sets = []
    for ch in keyword:
        # folded, a letter matches its folded classes; punctuation (folded to nothing) only itself
        table, want = (folded, norm(ch)) if fold and norm(ch) else (symbols, ch)
        ids = [i for i, s in enumerate(table) if s == want]
        if not ids:
            return None
        sets.append(ids)
    boundary = [i for i, s in enumerate(symbols) if s == " " or (fold and not folded[i])]
    return sets, boundary


def writable(symbols: list[str], keyword: str, fold: bool) -> bool:
    """Whether the alphabet can write `keyword` (folded: in either case)."""
    return bool(keyword) and _symbol_sets(symbols, keyword, fold) is not None


def _emissions(logp: np.ndarray, sets: list[list[int]], boundary: list[int]) -> np.ndarray:
    """(lines, T, states) log-probabilities of each state's classes: pre, B, blank, k1, blank, ..., kn, blank,
    B, post (pre and post: the best class of the frame)."""
    blank = logp.shape[2] - 1
    best = logp.max(2)

    def any_of(ids: list[int]) -> np.ndarray:  # log of the summed probabilities
        if len(ids) == 1:
            return logp[:, :, ids[0]]
        part = logp[:, :, ids]
        top = part.max(2)
        return top + np.log(np.exp(part - top[:, :, None]).sum(2))
    cols = [best, any_of(boundary), logp[:, :, blank]]
    for ids in sets:
        cols += [any_of(ids), logp[:, :, blank]]
    # each state's emission less the frame's best: a path that is the best reading sums exact zeros, so the
    # lines whose reading holds the keyword tie at 0 rather than differ by rounding
    return np.stack(cols + [any_of(boundary), best], axis=2) - best[:, :, None]


def _skips(sets: list[list[int]]) -> np.ndarray:
    """Which states a path may also reach from two states back (skipping a blank or a boundary): every
    state may stay or come from the one before. States: pre, B, blank, k1, blank, ..., kn, blank, B, post."""
    n = len(sets)
    first, last = 3, 3 + 2 * (n - 1)  # k1 and kn
    skip = np.zeros(last + 4, bool)
    skip[first] = True  # k1 straight after the boundary
    for j in range(1, n):  # k_j+1 straight after k_j, unless it is the same symbol (CTC needs a blank)
        skip[first + 2 * j] = sets[j] != sets[j - 1]
    skip[last + 2] = True  # the boundary straight after kn
    return skip


def keyword_scores(logps: list[np.ndarray], symbols: list[str], keyword: str, fold: bool = False,
                   spans: bool = True) -> tuple[np.ndarray, list[tuple[int, int] | None]]:
    """Each line's score for `keyword` (NaN when the alphabet cannot write it) and its (first, last) frame
    (None for all when not `spans`: a quicker pass)."""
    sets_boundary = _symbol_sets(symbols, keyword, fold) if keyword else None
    if sets_boundary is None or not logps:
        return np.full(len(logps), np.nan), [None] * len(logps)
    sets, boundary = sets_boundary
    if not boundary:
        boundary = [len(symbols)]  # no space in the alphabet: only the line's ends bound a word (blank here)
    lengths = np.array([len(lp) for lp in logps])
    T, C = int(lengths.max()), logps[0].shape[1]
    padded = np.zeros((len(logps), T, C), np.float64)
    for i, lp in enumerate(logps):
        padded[i, : len(lp)] = lp
    emit = _emissions(padded, sets, boundary)
    skip = _skips(sets)
    S = len(skip)
    ends = [S - 1, S - 2, S - 4, S - 3]  # the line's end is a boundary: after kn or its blank
    score = np.full((len(logps), S), NEG)
    score[:, :4] = emit[:, 0, :4]  # likewise the start: k1 (or its blank) may take the first frame
    back = np.zeros((len(logps), T, S), np.int8) if spans else None  # states back each best path came from
    options = np.full((3, len(logps), S), NEG)
    for t in range(1, T):
        options[0, :, 1:] = score[:, :-1]  # on a tie the path prefers the state before, then staying
        options[1] = score
        options[2, :, 2:] = np.where(skip[2:], score[:, :-2], NEG)
        if spans:
            arg = options.argmax(0)
            back[:, t] = STEP[arg]
            new = np.take_along_axis(options, arg[None], 0)[0] + emit[:, t]
        else:
            new = options.max(0) + emit[:, t]
        live = (t < lengths)[:, None]
        score = np.where(live, new, score)
    final = score[:, ends]
    best_end = np.asarray(ends)[final.argmax(1)]
    total = final.max(1)
    if not spans:
        return total, [None] * len(logps)
    return total, [_span(back[i], int(lengths[i]), int(best_end[i]), len(sets)) for i in range(len(logps))]


def _span(back: np.ndarray, length: int, end: int, n: int) -> tuple[int, int] | None:
    """The first and last frames the keyword's own symbols (k1 .. kn and the blanks between) take."""
    first_k, last_k = 3, 3 + 2 * (n - 1)
    s, frames = end, []
    for t in range(length - 1, -1, -1):
        if first_k <= s <= last_k:
            frames.append(t)
        s = s - int(back[t, s]) if t else s
    return (min(frames), max(frames)) if frames else None
