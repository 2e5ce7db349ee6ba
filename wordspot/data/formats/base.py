"""What every data set format is (`Format`), and what their loaders share."""

from __future__ import annotations

from pathlib import Path

from wordspot.data.pagefiles import IMAGE_EXTS
from wordspot.data.sample import Crop, DataError, Source


class Format:
    """A data set layout: how to know it (`sniff`) and how to read it (`load`)."""

    name = ""
    description = ""
    takes_split = False  # whether `--split` chooses among splits it ships (sets/cv1, or a folder of page lists)

    def sniff(self, path: Path) -> bool:
        """Whether the file or folder `path` is in this format (asked in the registry's order)."""
        raise NotImplementedError

    def load(self, data: str, split: str | None, sets_dir: str | None, drop_err: bool) -> Source:
        raise NotImplementedError

    def splits(self, data: str, sets_dir: str | None) -> list[str]:
        """The split names, for `--split all`."""
        return []

    def load_lines(self, data: str, split: str | None, sets_dir: str | None) -> Source:
        """The data set's text lines (Crops whose text is the line's words, separated by spaces)."""
        raise DataError(f"{data}: {self.description} holds no text lines wordspot can read")


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None


def dedupe(pairs: list[tuple[str, str]], where: str, problems: list[str]) -> dict[str, str]:
    """IDs to values, keeping the first of a repeated ID (and saying so)."""
    out: dict[str, str] = {}
    repeated = []
    for key, value in pairs:
        if key in out:
            repeated.append(key)
        else:
            out[key] = value
    if repeated:
        problems.append(f"{where}: {len(repeated)} repeated ID(s), the first occurrence kept; first {repeated[0]}")
    return out


def images_check(folder: Path, wanted: dict[str, Path], labels_file: Path, problems: list[str],
                  left_out: tuple[Path, ...] = (), what: str = "labelled words") -> set[str]:
    """IDs whose image is missing (reported), and images in `folder` that no label names (reported;
    `left_out` are labelled images deliberately not used)."""
    missing = {i for i, p in wanted.items() if not p.is_file()}
    if missing:
        first = next(i for i in wanted if i in missing)
        problems.append(f"{labels_file}: {len(missing)} of {len(wanted)} {what} have no image "
                        f"(first {wanted[first]}); left out")
    if folder.is_dir():
        named = {*wanted.values(), *left_out}  # built from `folder` as rglob's paths are: no resolve() needed
        extra = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p not in named)
        if extra:
            problems.append(f"{folder}: {len(extra)} image(s) have no label in {labels_file} (first {extra[0].name})")
    return missing


def build(name: str, fmt: str, samples: dict[str, Crop], subsets: dict[str, list[str]],
           problems: list[str], **kw) -> Source:
    """A Source of the samples named by each subset's IDs (those without an image are left out)."""
    return Source(name, {k: [samples[i] for i in ids if i in samples] for k, ids in subsets.items()},
                  fmt, problems, **kw)


