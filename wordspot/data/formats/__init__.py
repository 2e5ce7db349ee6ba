"""Data set formats, one module each, chosen by name from this registry or found by sniffing the folder.

Adding a format is a module with a `Format` subclass and one line in `FORMATS` (sniffed in its order).
"""

from __future__ import annotations

from pathlib import Path

from wordspot.data.formats.base import Format
from wordspot.data.formats.fki import FKI, load_fki
from wordspot.data.formats.iam import IAM, load_iam
from wordspot.data.formats.pages import Pages, load_pages
from wordspot.data.formats.tsv import Builtin, LabelFile, LabelFolder, load_folder, load_labels
from wordspot.data.sample import DataError, Source

FORMATS: dict[str, Format] = {f.name: f for f in (Builtin(), LabelFile(), FKI(), IAM(), LabelFolder(), Pages())}

__all__ = ["FORMATS", "Format", "detect", "list_splits", "load_fki", "load_folder", "load_iam", "load_labels",
           "load_pages", "open_lines", "open_source"]


def detect(data: str) -> str:
    """The format of `--data`, from what is in the folder (see FORMATS)."""
    if data == "builtin":
        return "builtin"
    path = Path(data)
    if not path.exists():
        raise DataError(f"{data}: no such file or folder")
    for fmt in FORMATS.values():
        if fmt.sniff(path):
            return fmt.name
    raise DataError(f"{data}: not a data set wordspot knows; expected one of: " + "; ".join(
        f.description for f in FORMATS.values() if f.name != "builtin"))


def open_source(data: str, split: str | None = None, sets_dir: str | None = None, drop_err: bool = False) -> Source:
    """Resolve `--data` by its detected format. `split`: which split (default: the first found),
    or 'none' for every word in one subset 'all'. Problems found are also issued as DataWarnings."""
    fmt = FORMATS[detect(data)]
    if split not in (None, "none") and not fmt.takes_split:
        raise DataError(f"--split {split}: {data} ({fmt.description}) has no splits; leave --split out")
    src = fmt.load(data, split, sets_dir, drop_err)
    src.warn()
    return src


def open_lines(data: str, split: str | None = None, sets_dir: str | None = None) -> Source:
    """The text lines of `--data` (Crops whose text is the line's words), as `open_source` opens its words."""
    fmt = FORMATS[detect(data)]
    if split not in (None, "none") and not fmt.takes_split:
        raise DataError(f"--split {split}: {data} ({fmt.description}) has no splits; leave --split out")
    src = fmt.load_lines(data, split, sets_dir)
    src.warn()
    return src


def list_splits(data: str, sets_dir: str | None = None) -> list[str]:
    """The splits of a database with splits (FKI, IAM), for `--split all`."""
    return FORMATS[detect(data)].splits(data, sets_dir)
