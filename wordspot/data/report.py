"""`wordspot data check`: what a data set holds and what is wrong with it."""

from __future__ import annotations

from collections import Counter

from wordspot.data.formats import FORMATS
from wordspot.data.imaging import ImageCache
from wordspot.data.sample import Source
from wordspot.data.text import decode_token, is_token, token_known


def check(src: Source, norm, read_images: bool = True, height: int = 32) -> dict:
    """What a data set holds: subsets with word counts, distinct words, alphabet, longest word,
    unreadable images, special tokens, and the problems found while loading."""
    words = [s for part in src.subsets.values() for s in part]
    texts = [norm(s.text) for s in words]
    report: dict = {
        "name": src.name, "format": src.format, "format_description": FORMATS[src.format].description if src.format in FORMATS else src.format,
        "subsets": {k: {"words": len(v), "distinct": len({norm(s.text) for s in v})} for k, v in src.subsets.items()},
        "words": len(words), "distinct_words": len(set(texts)) - ("" in texts),
        "empty_after_normalising": sum(not t for t in texts),
        "alphabet": "".join(sorted(set("".join(s.text for s in words)))),
        "longest_word": max(texts, key=len) if texts else "",
    }
    if src.raw_labels:  # FKI labels (of words or of lines' words); other formats write plain text
        tokens = Counter(t for label in src.raw_labels for t in label.split("-") if is_token(t))
        report["special_tokens"] = {t: {"count": c, "decoded": token_known(t), "symbol": decode_token(t)}
                                    for t, c in tokens.most_common()}
    unreadable: list[str] = []
    if read_images:
        cache = ImageCache(height, keep=False)  # a large set must not fill the memory
        for s in words:
            cache.get(s.path, s.box)
        unreadable = list(cache.bad.values())
    report["unreadable_images"] = len(unreadable)
    problems = list(src.problems)
    if unreadable:
        problems.append(f"{len(unreadable)} image(s) cannot be read; first: {unreadable[0]}")
    for k, v in src.subsets.items():
        if not v:
            problems.append(f"subset {k!r} is empty")
    report["problems"] = problems
    return report


def check_lines(src: Source, norm, read_images: bool = True) -> dict:
    """check() for text lines: the same report, counted in lines, beside the words in them and the
    split's keywords (how many occur in its test lines)."""
    report = check(src, norm, read_images)
    words = {k: [w for line in v for w in line.text.split()] for k, v in src.subsets.items()}
    report["unit"] = "lines"
    report["words_in_lines"] = {k: {"words": len(v), "distinct": len({norm(w) for w in v} - {""})}
                                for k, v in words.items()}
    longest = max((w for v in words.values() for w in v), key=len, default="")
    report["longest_word"], report["longest_line"] = longest, report["longest_word"]
    if src.keywords:
        test = {t for line in src.subsets.get("test", []) for t in src.tokens.get(line.key, [])}
        report["keywords"] = {"count": len(src.keywords), "in_test_lines": sum(k in test for k in src.keywords)}
    return report


