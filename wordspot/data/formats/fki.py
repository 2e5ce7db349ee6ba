"""FKI IAM-HistDB (George Washington, Parzival, Saint Gall): ground_truth/word_labels.txt with FKI tokens."""

from __future__ import annotations

from pathlib import Path

from wordspot.data.formats.base import Format, build, dedupe, images_check, read_lines
from wordspot.data.sample import Crop, DataError, Source
from wordspot.data.splits import choose_split, find_splits, parent, subsets_by_split
from wordspot.data.text import decode_fki


def load_fki(root: str | Path, split: str | None = None, sets_dir: str | None = None) -> Source:
    """ground_truth/word_labels.txt (`WORD-ID LABEL` with FKI tokens), data/word_images_normalized/,
    splits of line IDs. `split` 'none' gives one subset 'all' with every word."""
    root = Path(root)
    labels_file = root / "ground_truth" / "word_labels.txt"
    images = root / "data" / "word_images_normalized"
    if not labels_file.is_file():  # a database of text lines alone
        raise DataError(f"{root}: no {labels_file.relative_to(root)}, so no word images; its text lines are "
                        f"read with --lines (wordspot train --lines)")
    problems: list[str] = []
    pairs, bad = [], []
    for n, line in enumerate(read_lines(labels_file), 1):
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
    raw = dedupe(pairs, str(labels_file), problems)
    paths = {wid: images / f"{wid}.png" for wid in raw}
    missing = images_check(images, paths, labels_file, problems)
    samples = {wid: Crop(str(paths[wid]), parent(parent(wid)), None, decode_fki(label))
               for wid, label in raw.items() if wid not in missing}
    if split == "none":
        return build(root.name, "fki", samples, {"all": list(raw)}, problems, raw_labels=list(raw.values()))
    name, folder = choose_split(root, split, sets_dir)
    subsets = subsets_by_split(folder, list(raw), labels_file, problems)
    return build(f"{root.name}/{name}", "fki", samples, subsets, problems, raw_labels=list(raw.values()))


class FKI(Format):
    name = "fki"
    description = ("FKI IAM-HistDB (George Washington, Parzival, Saint Gall): ground_truth/word_labels.txt, or "
                   "transcription.txt for its text lines")
    takes_split = True

    def sniff(self, path: Path) -> bool:
        return any((path / "ground_truth" / name).is_file() for name in ("word_labels.txt", "transcription.txt"))

    def load(self, data, split, sets_dir, drop_err) -> Source:
        return load_fki(data, split, sets_dir)

    def splits(self, data, sets_dir) -> list[str]:
        return list(find_splits(data, sets_dir))

    def load_lines(self, data, split, sets_dir) -> Source:
        from wordspot.data.formats.fki_lines import load_fki_lines
        return load_fki_lines(data, split, sets_dir)
