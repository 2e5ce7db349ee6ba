"""Word-image data sets as distributed: the FKI IAM-HistDB family, IAM, PAGE/ALTO folders, label
files and the built-in set. The format is detected from the folder; what does not fit is reported
(`Source.problems`), never dropped silently."""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wordspot.data import synth
from wordspot.data.imaging import ImageError, cut_box, load_image, normalise, read_grey
from wordspot.data.pagefiles import IMAGE_EXTS, FormatError, read_xml, xml_kind
from wordspot.data.text import decode_fki, decode_token, is_token, token_known
from wordspot.errors import WordspotError

SUBSETS = ("train", "valid", "test")
# names of split list files as databases ship them, per subset
SPLIT_FILES = {"train": ("train.txt", "trainset.txt"),
               "valid": ("valid.txt", "validation.txt", "validationset1.txt", "val.txt"),
               "test": ("test.txt", "testset.txt")}
_SEPARATORS = re.compile(r"[-_]")


class DataError(WordspotError):
    """A data set that cannot be used as given: the message names the file and line."""


class DataWarning(UserWarning):
    """Something in a data set was left out or looks wrong; the data set can still be used."""


@dataclass(frozen=True)
class WordSample:
    path: str
    text: str  # decoded transcription, before normalisation
    page: str = ""
    box: tuple[int, int, int, int] | None = None  # x1, y1, x2, y2 on the page, when cropped from one


@dataclass
class Source:
    """One data set: named subsets of word samples, and what was wrong with it."""

    name: str
    subsets: dict[str, list[WordSample]] = field(default_factory=dict)
    format: str = "labels"
    problems: list[str] = field(default_factory=list)
    raw_labels: list[str] = field(default_factory=list)  # FKI labels as written, for the special-token count

    def subset(self, name: str) -> list[WordSample]:
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


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None


def _dedupe(pairs: list[tuple[str, str]], where: str, problems: list[str]) -> dict[str, str]:
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


def _split_ids(path: Path) -> list[str]:
    return [ln.strip() for ln in _read_lines(path) if ln.strip() and not ln.startswith("#")]


def _prefixes(word_id: str) -> list[str]:
    """The word ID itself and every prefix of it that ends before a '-' or '_' (line, form, page IDs)."""
    return [word_id] + [word_id[:m.start()] for m in _SEPARATORS.finditer(word_id)]


def _parent(word_id: str) -> str:
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
        hit = next((p for p in _prefixes(wid) if p in wanted), None)
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


# ---- splits --------------------------------------------------------------------------------------
def _split_files(folder: Path) -> dict[str, Path]:
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
        if base != root and _split_files(base):
            found.setdefault(base.name, base)  # the sets folder is itself the only split
        for sub in sorted(p for p in base.iterdir() if p.is_dir()):
            if _split_files(sub):
                found.setdefault(sub.name, sub)
    if not found and not sets_dir and _split_files(root):
        found[root.name] = root
    return dict(sorted(found.items()))


def _choose_split(root: Path, split: str | None, sets_dir: str | None) -> tuple[str, Path]:
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


def _subsets_by_split(folder: Path, word_ids: list[str], labels_file: Path,
                      problems: list[str]) -> dict[str, list[str]]:
    files = _split_files(folder)
    out: dict[str, list[str]] = {}
    for subset in SUBSETS:
        if subset in files:
            out[subset] = match_split(_split_ids(files[subset]), word_ids, files[subset], labels_file, problems)
    seen: dict[str, str] = {}
    for subset, ids in out.items():
        overlap = [w for w in ids if w in seen]
        if overlap:
            problems.append(f"{files[subset]}: {len(overlap)} word(s) also in the {seen[overlap[0]]} subset; "
                            f"first {overlap[0]}")
        for w in ids:
            seen.setdefault(w, subset)
    return out


def _images_check(folder: Path, wanted: dict[str, Path], labels_file: Path, problems: list[str],
                  left_out: tuple[Path, ...] = ()) -> set[str]:
    """IDs whose image is missing (reported), and images in `folder` that no label names (reported;
    `left_out` are labelled images deliberately not used)."""
    missing = {i for i, p in wanted.items() if not p.is_file()}
    if missing:
        first = next(i for i in wanted if i in missing)
        problems.append(f"{labels_file}: {len(missing)} of {len(wanted)} labelled words have no image "
                        f"(first {wanted[first]}); left out")
    if folder.is_dir():
        named = {*wanted.values(), *left_out}  # built from `folder` as rglob's paths are: no resolve() needed
        extra = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p not in named)
        if extra:
            problems.append(f"{folder}: {len(extra)} image(s) have no label in {labels_file} (first {extra[0].name})")
    return missing


def _build(name: str, fmt: str, samples: dict[str, WordSample], subsets: dict[str, list[str]],
           problems: list[str], **kw) -> Source:
    """A Source of the samples named by each subset's IDs (those without an image are left out)."""
    return Source(name, {k: [samples[i] for i in ids if i in samples] for k, ids in subsets.items()},
                  fmt, problems, **kw)


# ---- FKI IAM-HistDB (George Washington, Parzival, Saint Gall) -------------------------------------
def load_fki(root: str | Path, split: str | None = None, sets_dir: str | None = None) -> Source:
    """ground_truth/word_labels.txt (`WORD-ID LABEL` with FKI tokens), data/word_images_normalized/,
    splits of line IDs. `split` 'none' gives one subset 'all' with every word."""
    root = Path(root)
    labels_file = root / "ground_truth" / "word_labels.txt"
    images = root / "data" / "word_images_normalized"
    problems: list[str] = []
    pairs, bad = [], []
    for n, line in enumerate(_read_lines(labels_file), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            bad.append((n, line))
            continue
        pairs.append((parts[0], parts[1]))
    if bad:
        raise DataError(f"{labels_file}:{bad[0][0]}: expected 'WORD-ID LABEL', got {bad[0][1]!r}"
                        f"{f' ({len(bad)} such lines)' if len(bad) > 1 else ''}")
    raw = _dedupe(pairs, str(labels_file), problems)
    paths = {wid: images / f"{wid}.png" for wid in raw}
    missing = _images_check(images, paths, labels_file, problems)
    samples = {wid: WordSample(str(paths[wid]), decode_fki(label), _parent(_parent(wid)))
               for wid, label in raw.items() if wid not in missing}
    if split == "none":
        return _build(root.name, "fki", samples, {"all": list(raw)}, problems, raw_labels=list(raw.values()))
    name, folder = _choose_split(root, split, sets_dir)
    subsets = _subsets_by_split(folder, list(raw), labels_file, problems)
    return _build(f"{root.name}/{name}", "fki", samples, subsets, problems, raw_labels=list(raw.values()))


# ---- IAM Handwriting Database ---------------------------------------------------------------------
def _iam_words_file(root: Path) -> Path | None:
    for cand in (root / "ascii" / "words.txt", root / "words.txt"):
        if cand.is_file():
            return cand
    return None


def load_iam(root: str | Path, split: str | None = None, sets_dir: str | None = None,
             drop_err: bool = False) -> Source:
    """ascii/words.txt (`a01-000u-00-00 ok 154 408 768 27 51 AT A`), words/a01/a01-000u/*.png, split
    lists of form, line or word IDs. Words whose segmentation is flagged `err` are kept unless
    `drop_err` (counted either way)."""
    root = Path(root)
    words_file = _iam_words_file(root)
    if words_file is None:
        raise DataError(f"{root}: no ascii/words.txt (the IAM word list)")
    problems: list[str] = []
    pairs, flagged, bad, dropped = [], [], [], []
    for n, line in enumerate(_read_lines(words_file), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(" ")
        if len(parts) < 9 or parts[1] not in ("ok", "err") or len(parts[0].split("-")) != 4:
            bad.append((n, line))
            continue
        if parts[1] == "err":
            flagged.append(parts[0])
            if drop_err:
                dropped.append(parts[0])
                continue
        pairs.append((parts[0], " ".join(parts[8:])))
    if bad:
        raise DataError(f"{words_file}:{bad[0][0]}: expected 'WORD-ID ok|err GRAY X Y W H TAG TEXT', got "
                        f"{bad[0][1]!r}{f' ({len(bad)} such lines)' if len(bad) > 1 else ''}")
    if flagged:
        problems.append(f"{words_file}: {len(flagged)} word(s) flagged 'err' (segmentation) "
                        f"{'left out' if drop_err else 'kept'}; first {flagged[0]}")
    texts = _dedupe(pairs, str(words_file), problems)
    images = root / "words"

    def image(wid: str) -> Path:
        a, b = wid.split("-")[:2]
        return images / a / f"{a}-{b}" / f"{wid}.png"
    paths = {wid: image(wid) for wid in texts}
    missing = (_images_check(images, paths, words_file, problems, tuple(map(image, dropped)))
               if images.is_dir() else set(paths))
    if not images.is_dir():
        problems.append(f"{root}: no words/ folder of word images")
    samples = {wid: WordSample(str(paths[wid]), text, _parent(_parent(wid)))
               for wid, text in texts.items() if wid not in missing}
    if split == "none":
        return _build(root.name, "iam", samples, {"all": list(texts)}, problems)
    name, folder = _choose_split(root, split, sets_dir)
    subsets = _subsets_by_split(folder, list(texts), words_file, problems)
    return _build(f"{root.name}/{name}", "iam", samples, subsets, problems)


# ---- PAGE XML / ALTO folders --------------------------------------------------------------------
def load_pages(root: str | Path, split: str | None = None) -> Source:
    """A folder of page images with PAGE or ALTO files whose words carry text. Subsets come from
    train.txt / valid.txt / test.txt listing page names (XML or image file stems), else by page
    order: the last tenth of the pages is test, the tenth before it valid."""
    root = Path(root)
    problems: list[str] = []
    pages: dict[str, list[WordSample]] = {}
    for f in sorted(root.rglob("*.xml")):
        if xml_kind(f) is None:
            continue
        try:
            page = read_xml(f)
        except FormatError as e:
            problems.append(f"{e}; page left out")
            continue
        problems += page.skipped
        if not page.image.is_file():
            problems.append(f"{f}: its page image {page.image.name} does not exist; page left out")
            continue
        untranscribed = [r for r in page.words if not r.text]
        if untranscribed:
            problems.append(f"{f}: {len(untranscribed)} word(s) without text left out")
        key = f.relative_to(root).with_suffix("").as_posix()  # vol1/0001 and vol2/0001 are two pages
        pages[key] = [WordSample(str(r.image), r.text, key, r.box) for r in page.words if r.text]
    if not pages:
        raise DataError(f"{root}: no PAGE or ALTO file with word boxes and text")
    names = list(pages)
    if split == "none":
        return Source(root.name, {"all": [s for p in names for s in pages[p]]}, "pages", problems)
    files = _split_files(root / split) if split else _split_files(root)
    if split and not files:
        raise DataError(f"{root / split}: no train.txt, valid.txt or test.txt listing pages")
    if files:
        subsets = {}
        for subset, f in files.items():
            listed = [_page_key(i, pages, f, problems) for i in _split_ids(f)]
            unknown = [i for i, p in zip(_split_ids(f), listed) if p is None]
            if unknown:
                problems.append(f"{f}: {len(unknown)} of {len(listed)} page(s) not found; first {unknown[0]}")
            subsets[subset] = [s for p in dict.fromkeys(listed) if p in pages for s in pages[p]]
    else:
        k = len(names) // 10 if len(names) >= 10 else (1 if len(names) >= 3 else 0)
        cut_test, cut_valid = len(names) - k, len(names) - 2 * k
        groups = {"train": names[:cut_valid], "valid": names[cut_valid:cut_test], "test": names[cut_test:]}
        subsets = {s: [w for p in g for w in pages[p]] for s, g in groups.items()}
        problems.append(f"{root}: no train.txt/valid.txt/test.txt: split by page order, "
                        f"{len(groups['train'])}/{len(groups['valid'])}/{len(groups['test'])} pages")
    return Source(root.name + (f"/{split}" if split else ""), subsets, "pages", problems)


def _page_key(name: str, pages: dict, listing: Path, problems: list[str]) -> str | None:
    """The page a split file's line names: its path under the root (with or without the file's
    extension), or a bare file name when only one page has it; None when none or several do."""
    name = name.replace("\\", "/")
    for key in (name, Path(name).with_suffix("").as_posix()):
        if key in pages:
            return key
    same = [k for k in pages if Path(k).name == Path(name).with_suffix("").name]
    if len(same) > 1:
        problems.append(f"{listing}: '{name}' names {len(same)} pages ({', '.join(same[:3])}); "
                        f"give its path under the data folder")
        return ""
    return same[0] if same else None


# ---- label files ---------------------------------------------------------------------------------
def load_labels(path: str | Path, problems: list[str] | None = None) -> list[WordSample]:
    """A labels file: `image_path<TAB>transcription` per line, paths relative to the file."""
    path = Path(path)
    rows, bad = [], []
    for n, line in enumerate(_read_lines(path), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0] or not parts[1].strip():
            bad.append((n, line))
            continue
        rows.append((parts[0], parts[1].strip()))
    if bad:
        raise DataError(f"{path}:{bad[0][0]}: expected 'IMAGE<TAB>TRANSCRIPTION', got {bad[0][1]!r}"
                        f"{f' ({len(bad)} such lines)' if len(bad) > 1 else ''}")
    problems = problems if problems is not None else []
    unique = _dedupe(rows, str(path), problems)
    return [WordSample(str(path.parent / img), text, Path(img).stem) for img, text in unique.items()]


def load_folder(root: str | Path) -> Source:
    """A folder holding train.tsv, valid.tsv and test.tsv label files (valid/test optional)."""
    root = Path(root)
    problems: list[str] = []
    subsets = {s: load_labels(root / f"{s}.tsv", problems) for s in SUBSETS if (root / f"{s}.tsv").exists()}
    if "train" not in subsets:
        raise DataError(f"{root}: no train.tsv (expected train.tsv, valid.tsv, test.tsv label files)")
    for subset, samples in subsets.items():
        missing = [s for s in samples if not Path(s.path).is_file()]
        if missing:
            problems.append(f"{root / (subset + '.tsv')}: {len(missing)} of {len(samples)} images do not exist "
                            f"(first {missing[0].path}); left out")
            subsets[subset] = [s for s in samples if Path(s.path).is_file()]
    return Source(root.name, subsets, "tsv", problems)


# ---- detection -----------------------------------------------------------------------------------
FORMATS = {
    "builtin": "the built-in rendered set",
    "fki": "FKI IAM-HistDB (George Washington, Parzival, Saint Gall): ground_truth/word_labels.txt",
    "iam": "IAM Handwriting Database: ascii/words.txt and words/",
    "tsv": "train.tsv / valid.tsv / test.tsv label files",
    "labels": "one label file (IMAGE<TAB>TRANSCRIPTION per line)",
    "pages": "page images with PAGE XML or ALTO files",
}


def detect(data: str) -> str:
    """The format of `--data`, from what is in the folder (see FORMATS)."""
    if data == "builtin":
        return "builtin"
    path = Path(data)
    if not path.exists():
        raise DataError(f"{data}: no such file or folder")
    if path.is_file():
        return "labels"
    if (path / "ground_truth" / "word_labels.txt").is_file():
        return "fki"
    if _iam_words_file(path) is not None:
        return "iam"
    if (path / "train.tsv").is_file():
        return "tsv"
    if any(xml_kind(f) for f in path.rglob("*.xml")):
        return "pages"
    raise DataError(f"{data}: not a data set wordspot knows; expected one of: " + "; ".join(
        v for k, v in FORMATS.items() if k != "builtin"))


def open_source(data: str, split: str | None = None, sets_dir: str | None = None, drop_err: bool = False) -> Source:
    """Resolve `--data` by its detected format. `split`: which split (default: the first found),
    or 'none' for every word in one subset 'all'. Problems found are also issued as DataWarnings."""
    src = _open(data, split, sets_dir, drop_err)
    src.warn()
    return src


def _open(data: str, split: str | None, sets_dir: str | None, drop_err: bool) -> Source:
    fmt = detect(data)
    if split not in (None, "none") and fmt in ("builtin", "tsv", "labels"):
        raise DataError(f"--split {split}: {data} ({FORMATS[fmt]}) has no splits; leave --split out")
    if fmt == "builtin":
        return load_folder(synth.builtin())
    if fmt == "labels":
        problems: list[str] = []
        return Source(Path(data).name, {"all": load_labels(data, problems)}, "labels", problems)
    if fmt == "fki":
        return load_fki(data, split, sets_dir)
    if fmt == "iam":
        return load_iam(data, split, sets_dir, drop_err)
    if fmt == "pages":
        return load_pages(data, split)
    return load_folder(data)


def list_splits(data: str, sets_dir: str | None = None) -> list[str]:
    """The splits of a database with splits (FKI, IAM), for `--split all`."""
    if detect(data) not in ("fki", "iam"):
        return []
    return list(find_splits(data, sets_dir))


# ---- checking ------------------------------------------------------------------------------------
def check(src: Source, norm, read_images: bool = True, height: int = 32) -> dict:
    """What a data set holds: subsets with word counts, distinct words, alphabet, longest word,
    unreadable images, special tokens, and the problems found while loading."""
    words = [s for part in src.subsets.values() for s in part]
    texts = [norm(s.text) for s in words]
    report: dict = {
        "name": src.name, "format": src.format, "format_description": FORMATS.get(src.format, src.format),
        "subsets": {k: {"words": len(v), "distinct": len({norm(s.text) for s in v})} for k, v in src.subsets.items()},
        "words": len(words), "distinct_words": len(set(texts)) - ("" in texts),
        "empty_after_normalising": sum(not t for t in texts),
        "alphabet": "".join(sorted(set("".join(s.text for s in words)))),
        "longest_word": max(texts, key=len) if texts else "",
    }
    if src.raw_labels:
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


class ImageCache:
    """Normalised images read once; unreadable ones are skipped, counted and named. A sample with a
    box is cut from its page image (the last page read is kept, so a page's words are read once)."""

    def __init__(self, height: int, keep: bool = True) -> None:
        self.height, self.keep = height, keep  # keep=False: only find which images read (data check)
        self._images: dict[tuple, np.ndarray] = {}
        self._page: tuple[str, np.ndarray | None, str] = ("", None, "")
        self.bad: dict[tuple, str] = {}

    def _read(self, path: str, box: tuple[int, int, int, int] | None) -> np.ndarray:
        if box is None:
            return load_image(path, self.height)
        if self._page[0] != path:
            try:
                self._page = (path, read_grey(path), "")
            except ImageError as e:
                self._page = (path, None, str(e))
        if self._page[1] is None:
            raise ImageError(self._page[2])
        return normalise(cut_box(self._page[1], box, path), self.height)

    def get(self, path: str, box: tuple[int, int, int, int] | None = None) -> np.ndarray | None:
        key = (path, box)
        if key in self.bad:
            return None
        img = self._images.get(key)
        if img is None:
            try:
                img = self._read(path, box)
            except ImageError as e:
                self.bad[key] = str(e)
                return None
            if self.keep:
                self._images[key] = img
        return img

    def load(self, samples: list[WordSample]) -> tuple[list[WordSample], list[np.ndarray]]:
        """The samples whose images could be read, and their images."""
        kept, images = [], []
        for s in samples:
            img = self.get(s.path, s.box)
            if img is not None:
                kept.append(s)
                images.append(img)
        return kept, images
