"""Splits as databases ship them: list files of IDs per subset, in folders such as sets/cv1 or sets1."""

from __future__ import annotations

import re
from pathlib import Path

from wordspot.data.formats.base import read_lines
from wordspot.data.sample import DataError

SUBSETS = ("train", "valid", "test")
# names of split list files as databases ship them, per subset
SPLIT_FILES = {"train": ("train.txt", "trainset.txt"),
               "valid": ("valid.txt", "validation.txt", "validationset1.txt", "val.txt"),
               "test": ("test.txt", "testset.txt")}
_SEPARATORS = re.compile(r"[-_]")


def split_ids(path: Path) -> list[str]:
    return [ln.strip() for ln in read_lines(path) if ln.strip() and not ln.startswith("#")]


def prefixes(word_id: str) -> list[str]:
    """The word ID itself and every prefix of it that ends before a '-' or '_' (line, form, page IDs)."""
    return [word_id] + [word_id[:m.start()] for m in _SEPARATORS.finditer(word_id)]


def parent(word_id: str) -> str:
    """The ID with its last '-' or '_' part cut off (a word's line, a line's page)."""
    cuts = [m.start() for m in _SEPARATORS.finditer(word_id)]
    return word_id[:cuts[-1]] if cuts else word_id


def match_split(ids: list[str], word_ids: list[str], split_file: Path, labels_file: Path,
                problems: list[str]) -> list[str]:
    """The word IDs selected by a split file's IDs (line, form or word IDs: each a prefix of the word
    IDs it selects at a '-' or '_'), in word order. Unmatched split IDs are reported."""
    wanted = set(ids)
    chosen, used = [], set()
    for wid in word_ids:
        hit = next((p for p in prefixes(wid) if p in wanted), None)
        if hit is not None:
            chosen.append(wid)
            used.add(hit)
    if ids and not chosen:
        first_word = word_ids[0] if word_ids else "(none)"
        problems.append(f"{split_file}: {len(ids)} IDs, none matches a word ID in {labels_file}; "
                        f"first ID {ids[0]}, first word ID {first_word}")
    elif len(used) < len(set(ids)):
        missing = [i for i in dict.fromkeys(ids) if i not in used]
        problems.append(f"{split_file}: {len(missing)} of {len(set(ids))} IDs match no word ID in "
                        f"{labels_file}; first {missing[0]}")
    if len(ids) != len(wanted):
        problems.append(f"{split_file}: {len(ids) - len(wanted)} repeated ID(s), each used once")
    return chosen


def split_files(folder: Path) -> dict[str, Path]:
    """The subset list files in a folder, by subset."""
    out = {}
    for subset, names in SPLIT_FILES.items():
        for n in names:
            if (folder / n).is_file():
                out[subset] = folder / n
                break
    return out


def find_splits(root: str | Path, sets_dir: str | None = None) -> dict[str, Path]:
    """Split name -> folder holding its list files (train.txt, ...). Looked for in `sets_dir` when
    given, else under sets/ (GW: sets/cv1), at the top level (Parzival: sets1/) and in the root."""
    root = Path(root)
    bases = [root / sets_dir] if sets_dir else [root / "sets", root]
    found: dict[str, Path] = {}
    for base in bases:
        if not base.is_dir():
            continue
        if base != root and split_files(base):
            found.setdefault(base.name, base)  # the sets folder is itself the only split
        for sub in sorted(p for p in base.iterdir() if p.is_dir()):
            if split_files(sub):
                found.setdefault(sub.name, sub)
    if not found and not sets_dir and split_files(root):
        found[root.name] = root
    return dict(sorted(found.items()))


def choose_split(root: Path, split: str | None, sets_dir: str | None) -> tuple[str, Path]:
    splits = find_splits(root, sets_dir)
    where = root / sets_dir if sets_dir else root
    if not splits:
        raise DataError(f"{where}: no split found (a folder with train.txt, valid.txt and test.txt, such as "
                        f"sets/cv1 or sets1; give --sets-dir for another folder, or --split none for all words)")
    if split is None:
        return next(iter(splits.items()))
    if split not in splits:
        raise DataError(f"{where}: no split {split!r} (available: {', '.join(splits)})")
    return split, splits[split]


def subsets_by_split(folder: Path, word_ids: list[str], labels_file: Path,
                      problems: list[str]) -> dict[str, list[str]]:
    files = split_files(folder)
    out: dict[str, list[str]] = {}
    for subset in SUBSETS:
        if subset in files:
            out[subset] = match_split(split_ids(files[subset]), word_ids, files[subset], labels_file, problems)
    seen: dict[str, str] = {}
    for subset, ids in out.items():
        overlap = [w for w in ids if w in seen]
        if overlap:
            problems.append(f"{files[subset]}: {len(overlap)} word(s) also in the {seen[overlap[0]]} subset; "
                            f"first {overlap[0]}")
        for w in ids:
            seen.setdefault(w, subset)
    return out


