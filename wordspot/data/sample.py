"""The one record of a word image (`Crop`), a data set of them (`Source`), and what can go wrong with one."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from wordspot.errors import WordspotError


class DataError(WordspotError):
    """A data set that cannot be used as given: the message names the file and line."""


class DataWarning(UserWarning):
    """Something in a data set was left out or looks wrong; the data set can still be used."""


@dataclass(frozen=True)
class Crop:
    """A word image: the whole image file `source`, or the `box` (x1, y1, x2, y2) on the page image `source`;
    `page` names its page, `text` is its transcription as decoded (before normalisation; '' when unknown).
    Data sets, page files, indexes and hits all hold words as Crops."""

    source: str
    page: str = ""
    box: tuple[int, int, int, int] | None = None
    text: str = ""
    # a text line's polygon on the page (PAGE Coords, ALTO Shape): the pixels of its box outside it are
    # neighbouring lines' strokes, painted over as paper when the line is cut out
    outline: tuple[tuple[int, int], ...] | None = field(default=None, compare=False)

    @property
    def path(self) -> str:
        """The image file (`source`), by the name training code uses."""
        return self.source

    @property
    def key(self) -> str:
        """What tells it from every other crop: its image file, and its box on it when it has one."""
        return self.source if self.box is None else f"{self.source}#{','.join(map(str, self.box))}"


def WordSample(path: str, text: str, page: str = "", box: tuple[int, int, int, int] | None = None) -> Crop:
    """A labelled word image, as earlier versions named it (the arguments in their order then)."""
    return Crop(path, page, box, text)


@dataclass
class Source:
    """One data set: named subsets of word samples, and what was wrong with it."""

    name: str
    subsets: dict[str, list[Crop]] = field(default_factory=dict)
    format: str = "labels"
    problems: list[str] = field(default_factory=list)
    raw_labels: list[str] = field(default_factory=list)  # FKI labels as written, for the special-token count
    # a data set of text lines: each line's words as the file writes them (by the line's `key`), and the split's
    # keywords (its keywords.txt), for the line-level keyword spotting protocol (evaluation/kws.py)
    tokens: dict[str, list[str]] = field(default_factory=dict)
    keywords: list[str] = field(default_factory=list)

    def subset(self, name: str) -> list[Crop]:
        """A subset's samples; an error naming what went wrong when it is missing or empty."""
        if name == "all":
            words = [s for part in self.subsets.values() for s in part]
            if not words:
                raise DataError(f"{self.name}: no word samples{self._why()}")
            return words
        if name not in self.subsets:
            raise DataError(f"{self.name}: no subset {name!r} (has: {', '.join(self.subsets) or 'none'})")
        if not self.subsets[name]:
            raise DataError(f"{self.name}: subset {name!r} is empty{self._why()}")
        return self.subsets[name]

    def _why(self) -> str:
        return f" ({self.problems[0]})" if self.problems else ""

    def warn(self) -> None:
        """Each problem as a DataWarning (the command line prints them)."""
        for p in self.problems:
            warnings.warn(p, DataWarning, stacklevel=3)


