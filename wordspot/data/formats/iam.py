"""The IAM Handwriting Database: ascii/words.txt and words/a01/a01-000u/*.png."""

from __future__ import annotations

from pathlib import Path

from wordspot.data.formats.base import Format, build, dedupe, images_check, read_lines
from wordspot.data.sample import Crop, DataError, Source
from wordspot.data.splits import choose_split, find_splits, parent, subsets_by_split


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
    for n, line in enumerate(read_lines(words_file), 1):
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
    texts = dedupe(pairs, str(words_file), problems)
    images = root / "words"

    def image(wid: str) -> Path:
        a, b = wid.split("-")[:2]
        return images / a / f"{a}-{b}" / f"{wid}.png"
    paths = {wid: image(wid) for wid in texts}
    missing = (images_check(images, paths, words_file, problems, tuple(map(image, dropped)))
               if images.is_dir() else set(paths))
    if not images.is_dir():
        problems.append(f"{root}: no words/ folder of word images")
    samples = {wid: Crop(str(paths[wid]), parent(parent(wid)), None, text)
               for wid, text in texts.items() if wid not in missing}
    if split == "none":
        return build(root.name, "iam", samples, {"all": list(texts)}, problems)
    name, folder = choose_split(root, split, sets_dir)
    subsets = subsets_by_split(folder, list(texts), words_file, problems)
    return build(f"{root.name}/{name}", "iam", samples, subsets, problems)


class IAM(Format):
    name = "iam"
    description = "IAM Handwriting Database: ascii/words.txt and words/"
    takes_split = True

    def sniff(self, path: Path) -> bool:
        return _iam_words_file(path) is not None

    def load(self, data, split, sets_dir, drop_err) -> Source:
        return load_iam(data, split, sets_dir, drop_err)

    def splits(self, data, sets_dir) -> list[str]:
        return list(find_splits(data, sets_dir))
