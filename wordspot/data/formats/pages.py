"""Folders of page images with PAGE XML or ALTO files whose words carry text."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from wordspot.data.formats.base import Format
from wordspot.data.pagefiles import FormatError, read_xml, xml_kind
from wordspot.data.sample import Crop, DataError, Source
from wordspot.data.splits import split_files, split_ids


def load_pages(root: str | Path, split: str | None = None, lines: bool = False) -> Source:
    """A folder of page images with PAGE or ALTO files whose words (with `lines`: text lines) carry text.
    Subsets come from train.txt / valid.txt / test.txt listing page names (XML or image file stems), else by
    page order: the last tenth of the pages is test, the tenth before it valid."""
    root = Path(root)
    problems: list[str] = []
    pages: dict[str, list[Crop]] = {}
    for f in sorted(root.rglob("*.xml")):
        if xml_kind(f) is None:
            continue
        try:
            page = read_xml(f)
        except FormatError as e:
            problems.append(f"{e}; page left out")
            continue
        problems += page.line_problems if lines else page.skipped
        if not page.image.is_file():
            problems.append(f"{f}: its page image {page.image.name} does not exist; page left out")
            continue
        items = page.lines if lines else page.words
        untranscribed = [r for r in items if not r.text]
        if untranscribed:
            problems.append(f"{f}: {len(untranscribed)} {'line' if lines else 'word'}(s) without text left out")
        key = f.relative_to(root).with_suffix("").as_posix()  # vol1/0001 and vol2/0001 are two pages
        pages[key] = [dataclasses.replace(r, page=key) for r in items if r.text]
    if not any(pages.values()):
        raise DataError(f"{root}: no PAGE or ALTO file with {'text lines' if lines else 'word boxes'} and text")
    names = list(pages)
    if split == "none":
        return Source(root.name, {"all": [s for p in names for s in pages[p]]}, "pages", problems)
    files = split_files(root / split) if split else split_files(root)
    if split and not files:
        raise DataError(f"{root / split}: no train.txt, valid.txt or test.txt listing pages")
    if files:
        subsets = {}
        for subset, f in files.items():
            listed = [_page_key(i, pages, f, problems) for i in split_ids(f)]
            unknown = [i for i, p in zip(split_ids(f), listed) if p is None]
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


class Pages(Format):
    name = "pages"
    description = "page images with PAGE XML or ALTO files"
    takes_split = True

    def sniff(self, path: Path) -> bool:
        return path.is_dir() and any(xml_kind(f) for f in path.rglob("*.xml"))

    def load(self, data, split, sets_dir, drop_err) -> Source:
        return load_pages(data, split)

    def load_lines(self, data, split, sets_dir) -> Source:
        src = load_pages(data, split, lines=True)
        src.tokens = {line.key: line.text.split() for part in src.subsets.values() for line in part}
        keywords = Path(data) / (split if split not in (None, "none") else "") / "keywords.txt"
        if keywords.is_file():
            src.keywords = [w.strip() for w in keywords.read_text(encoding="utf-8").splitlines() if w.strip()]
        return src
