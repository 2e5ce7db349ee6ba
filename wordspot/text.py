"""Transcriptions: FKI IAM-HistDB label decoding, normalisation, the alphabet and one-hot encoding."""

from __future__ import annotations

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

_PRIVATE_USE_START, _PRIVATE_USE_SIZE = 0xE000, 6400


def special_symbol(token: str) -> str:
    """A stable Private Use Area character standing for an unknown special token."""
    return chr(_PRIVATE_USE_START + zlib.crc32(token.encode()) % _PRIVATE_USE_SIZE)


def decode_fki(label: str) -> str:
    """Decode an FKI word label such as ``O-r-d-e-r-s-s_cm`` to ``Orders,``."""
    out = []
    for token in label.strip().split("-"):
        if not token:
            continue  # "a--b" would come from a literal hyphen; FKI writes that as s_mi
        if token.startswith("s_") and len(token) > 2:
            out.append(SPECIAL_TOKENS.get(token) or special_symbol(token))
        else:
            out.append(token)
    return "".join(out)


@dataclass(frozen=True)
class TextNorm:
    """How transcriptions are compared. Defaults follow the George Washington protocol."""

    lowercase: bool = True
    alnum_only: bool = True

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFC", text)
        if self.lowercase:
            text = text.lower()
        if self.alnum_only:
            text = "".join(ch for ch in text if ch.isalnum())
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
        it just contributes nothing. Words longer than `max_len` are refused, never truncated.
        With `both_ends`, a second block of rows holds the word aligned to the right end, so that
        suffixes line up too: (N, 2 * len(alphabet), max_len).
        """
        A = len(self.symbols)
        out = np.zeros((len(words), 2 * A if both_ends else A, max_len), dtype=np.float32)
        unknown: set[str] = set()
        for n, word in enumerate(words):
            if len(word) > max_len:
                raise ValueError(
                    f"word {word[:30]!r}... has {len(word)} symbols; this model embeds at most {max_len}")
            for pos, ch in enumerate(word):
                i = self.index.get(ch)
                if i is None:
                    unknown.add(ch)
                else:
                    out[n, i, pos] = 1.0
                    if both_ends:
                        out[n, A + i, max_len - len(word) + pos] = 1.0
        if unknown and warn:
            warnings.warn(f"symbols not in the model's alphabet, ignored: {''.join(sorted(unknown))!r}",
                          UnknownSymbolWarning, stacklevel=2)
        return out


class UnknownSymbolWarning(UserWarning):
    """A query uses a symbol the string model never saw."""
