"""Label files (IMAGE<TAB>TRANSCRIPTION a line): one file, a folder of train/valid/test.tsv, the built-in set."""

from __future__ import annotations

from pathlib import Path

from wordspot.data import synth
from wordspot.data.formats.base import Format, dedupe, read_lines
from wordspot.data.sample import Crop, DataError, Source
from wordspot.data.splits import SUBSETS


def load_labels(path: str | Path, problems: list[str] | None = None) -> list[Crop]:
    """A labels file: `image_path<TAB>transcription` per line, paths relative to the file."""
    path = Path(path)
    rows, bad = [], []
    for n, line in enumerate(read_lines(path), 1):
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
    unique = dedupe(rows, str(path), problems)
    return [Crop(str(path.parent / img), Path(img).stem, None, text) for img, text in unique.items()]


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


class LabelFile(Format):
    name = "labels"
    description = "one label file (IMAGE<TAB>TRANSCRIPTION per line)"

    def sniff(self, path: Path) -> bool:
        return path.is_file()

    def load(self, data, split, sets_dir, drop_err) -> Source:
        problems: list[str] = []
        return Source(Path(data).name, {"all": load_labels(data, problems)}, "labels", problems)


class LabelFolder(Format):
    name = "tsv"
    description = "train.tsv / valid.tsv / test.tsv label files"

    def sniff(self, path: Path) -> bool:
        return (path / "train.tsv").is_file()

    def load(self, data, split, sets_dir, drop_err) -> Source:
        return load_folder(data)


class Builtin(Format):
    """The built-in rendered set, named `builtin` on the command line; made by the code (synth.py)."""

    name = "builtin"
    description = "the built-in rendered set"

    def sniff(self, path: Path) -> bool:
        return False  # only by its name

    def load(self, data, split, sets_dir, drop_err) -> Source:
        return load_folder(synth.builtin())
