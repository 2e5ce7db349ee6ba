"""Transcriptions: FKI IAM-HistDB label decoding, normalisation, the alphabet and one-hot encoding."""

from __future__ import annotations

import re
import unicodedata
import warnings
import zlib
from dataclasses import dataclass

import numpy as np

# FKI IAM-HistDB special tokens (George Washington, Parzival, Saint Gall). Anything not listed here
# is kept as one symbol of its own (see `special_symbol`), so a new database never crashes decoding.
SPECIAL_TOKENS: dict[str, str] = {
    "s_pt": ".", "s_cm": ",", "s_sq": ";", "s_qo": ":", "s_qt": "'", "s_mi": "-",
    "s_sl": "/", "s_bl": "(", "s_br": ")", "s_lb": "\u00a3", "s_et": "&",
    "s_s": "s",  # long s: the same letter as s for search purposes
    "s_GW": "GW",  # George Washington's monogram
    **{f"s_{d}": str(d) for d in range(10)},
    **{f"s_{d}{suf}": f"{d}{suf}" for d in range(10) for suf in ("st", "nd", "rd", "th")},
}

# Some databases of the family write tokens without the prefix (``d-e-pt``, ``v-hp115-a-l``); since
# letters are always one per token, any token of several letters is a special token. The punctuation
# ones decode as with the prefix, and ``eq`` (a hyphen at a line end) as "-".
BARE_TOKENS: dict[str, str] = {
    **{k[2:]: v for k, v in SPECIAL_TOKENS.items() if not v.isalnum() and len(k) > 3}, "eq": "-"}

_PRIVATE_USE_START, _PRIVATE_USE_SIZE = 0xE000, 6400


_SEEN: dict[str, str] = {}  # symbol -> the token it was decoded from, to show it readably


def special_symbol(token: str) -> str:
    """A stable Private Use Area character standing for an unknown special token."""
    symbol = chr(_PRIVATE_USE_START + zlib.crc32(token.encode()) % _PRIVATE_USE_SIZE)
    _SEEN.setdefault(symbol, token)
    return symbol


def readable(text: str) -> str:
    """`text` for a terminal or a page: a special token's symbol (a blank in any font) shown as the
    token in brackets, the form a query takes (`query_text`)."""
    return "".join(f"[{_SEEN.get(ch, f'U+{ord(ch):04X}')}]" if is_special(ch) else ch for ch in text)


def is_special(ch: str) -> bool:
    """Whether `ch` stands for an unknown special token (a letter of its own for search)."""
    return _PRIVATE_USE_START <= ord(ch) < _PRIVATE_USE_START + _PRIVATE_USE_SIZE


def is_token(token: str) -> bool:
    """Whether an FKI label token is a special token (several letters, with or without ``s_``)."""
    return len(token) > 1


def token_known(token: str) -> bool:
    """Whether a special token has a documented meaning (else it becomes a symbol of its own)."""
    return token in SPECIAL_TOKENS or token in BARE_TOKENS


def decode_token(token: str) -> str:
    """One FKI token -> its text: a letter as it is, a known special token by its mapping, any
    other token of several letters one symbol of its own (`special_symbol`)."""
    if not is_token(token):
        return token
    return SPECIAL_TOKENS.get(token) or BARE_TOKENS.get(token) or special_symbol(token)


def decode_fki(label: str) -> str:
    """Decode an FKI word label such as ``O-r-d-e-r-s-s_cm`` to ``Orders,``."""
    # "a--b" would come from a literal hyphen; FKI writes that as s_mi, so empty tokens are dropped
    return "".join(decode_token(t) for t in label.strip().split("-") if t)


_QUERY_TOKEN = re.compile(r"\[([^\[\]\s]+)\]")


def query_text(query: str) -> str:
    """A typed query with special tokens written as in the labels, in brackets: ``v[hp115]al``
    types the symbol of token ``hp115``, ``Orders[s_pt]`` a period."""
    return _QUERY_TOKEN.sub(lambda m: decode_token(m.group(1)), query)


@dataclass(frozen=True)
class TextNorm:
    """How transcriptions are compared. Defaults follow the George Washington protocol."""

    lowercase: bool = True
    alnum_only: bool = True

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFC", text)
        if self.lowercase:
            text = text.lower()
        if self.alnum_only:  # a special token's symbol is a letter of the manuscript, not punctuation
            text = "".join(ch for ch in text if ch.isalnum() or is_special(ch))
        return text


class Alphabet:
    """The symbols a string model knows, learned from its training transcriptions."""

    def __init__(self, symbols: str | list[str]) -> None:
        self.symbols: list[str] = sorted(set(symbols))
        if not self.symbols:
            raise ValueError("an alphabet needs at least one symbol")
        self.index = {s: i for i, s in enumerate(self.symbols)}

    @classmethod
    def from_words(cls, words: list[str]) -> "Alphabet":
        return cls("".join(words))

    def __len__(self) -> int:
        return len(self.symbols)

    def unknown(self, word: str) -> set[str]:
        return {ch for ch in word if ch not in self.index}

    def onehot(self, words: list[str], max_len: int, warn: bool = True, both_ends: bool = False) -> np.ndarray:
        """(N, len(alphabet), max_len) float32. Unknown symbols leave an all-zero column.

        An unknown symbol still takes its position, so the rest of the word stays aligned;
        it just contributes nothing. A word longer than `max_len` is squeezed, never truncated:
        its letters are spread evenly over the positions, a position shared by two letters holding
        half of each (`positions`).
        With `both_ends`, a second block of rows holds the word aligned to the right end, so that
        suffixes line up too: (N, 2 * len(alphabet), max_len).
        """
        A = len(self.symbols)
        out = np.zeros((len(words), 2 * A if both_ends else A, max_len), dtype=np.float32)
        unknown: set[str] = set()
        long = 0
        for n, word in enumerate(words):
            left, right, weight = positions(len(word), max_len)
            long += len(word) > max_len
            for pos, ch in enumerate(word):
                i = self.index.get(ch)
                if i is None:
                    unknown.add(ch)
                else:
                    out[n, i, left[pos]] += weight[pos]
                    if both_ends:
                        out[n, A + i, right[pos]] += weight[pos]
        if unknown and warn:
            warnings.warn(f"symbols not in the model's alphabet, ignored: {''.join(sorted(unknown))!r}",
                          UnknownSymbolWarning, stacklevel=2)
        if long and warn:
            warnings.warn(f"{long} word(s) longer than the {max_len} positions of the string CNN: neighbouring "
                          f"letters share a position (less precise; train with a larger --max-len)",
                          LongWordWarning, stacklevel=2)
        return out


def positions(n: int, max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the n symbols of a word go among `max_len` positions, aligned left and right, and the
    weight of each: one each when the word fits; else spread evenly, a position's weights adding to 1."""
    if n <= max_len:
        idx = np.arange(n)
        return idx, idx + (max_len - n), np.ones(n, np.float32)
    idx = np.arange(n) * max_len // n
    return idx, idx, (1.0 / np.bincount(idx, minlength=max_len)[idx]).astype(np.float32)


class LongWordWarning(UserWarning):
    """A word longer than the string CNN's positions: embedded squeezed, less precisely."""


class UnknownSymbolWarning(UserWarning):
    """A query uses a symbol the string model never saw."""
