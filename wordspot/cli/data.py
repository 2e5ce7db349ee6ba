"""`wordspot data`: look at a data set before training on it."""

from __future__ import annotations

import warnings

import typer
from rich.table import Table

from wordspot.cli.common import cli_errors, err, open_data, out, print_json, reporter, say
from wordspot.cli.options import command, data_group
from wordspot.data.text import TextNorm, readable

data_app = typer.Typer(no_args_is_help=True, help="Look at a data set before training on it.")


def _report_lines(report: dict, read_images: bool) -> list[str]:
    if report.get("unit") == "lines":
        counted = sum(v["words"] for v in report["words_in_lines"].values())
        lines = [f"{report['words']} lines holding {counted} words",
                 f"longest line: {len(report['longest_line'])} symbols"]
        if "keywords" in report:
            k = report["keywords"]
            lines.append(f"keywords: {k['count']}, {k['in_test_lines']} of them in the test lines")
    else:
        lines = [f"{report['words']} words, {report['distinct_words']} distinct after normalising "
                 f"({report['empty_after_normalising']} empty: punctuation only)"]
    lines += [f"alphabet ({len(report['alphabet'])}): {readable(report['alphabet'])}",
              f"longest word: {readable(report['longest_word'])} ({len(report['longest_word'])} symbols)"]
    if read_images:
        lines.append(f"unreadable images: {report['unreadable_images']}")
    if "special_tokens" in report:
        tokens = report["special_tokens"]
        lines.append("special tokens: " + (", ".join(
            f"{k} x{v['count']}" + (f" -> {v['symbol']!r}" if v["decoded"] else " (unmapped: one symbol; "
                                    f"type it as [{k}])") for k, v in tokens.items()) or "none"))
    return lines


def _print_report(report: dict, read_images: bool) -> None:
    say(out, f"{report['name']}: {report['format_description']}")
    t = Table()
    by_line = report.get("unit") == "lines"
    for col in ("subset", *(("lines", "words", "distinct words") if by_line else ("words", "distinct words"))):
        t.add_column(col, justify="left" if col == "subset" else "right")
    for name, c in report["subsets"].items():
        counts = (c["words"], *report["words_in_lines"][name].values()) if by_line else (c["words"], c["distinct"])
        t.add_row(name, *map(str, counts))
    out.print(t)
    for line in _report_lines(report, read_images):
        say(out, line)
    for p in report["problems"]:
        say(out, p, "problem:", "yellow")
    if not report["problems"]:
        out.print("no problems found")


@data_app.command("check")
@command
def data_check(
    path: str = typer.Argument(..., metavar="DATA", help="'builtin' or a data set folder or label file."),
    read_images: bool = typer.Option(True, "--read-images/--no-read-images", help="Open every image to find "
                                     "unreadable ones."),
    keep_case: bool = typer.Option(False, help="Count words case-sensitively (default: lower-cased, as in the GW "
                                   "protocol)."),
    keep_punctuation: bool = typer.Option(False, help="Keep punctuation when counting words."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a report."),
    lines: bool = typer.Option(False, "--lines", help="The data set's text lines (as `train --lines` reads "
                               "them): lines, the words in them, the split's keywords."),
    split=data_group(None),
) -> None:
    """Say what a data set holds and what is wrong with it: format, subsets, words, alphabet,
    unreadable images, special tokens, problems with file:line. Exits 1 when a subset is empty.

    Example: wordspot data check ../shared/data/washingtondb-v1.0 --split cv1 [--lines]
    """
    with cli_errors():
        from wordspot.data import DataWarning, check, check_lines, open_lines
        norm = TextNorm(not keep_case, not keep_punctuation)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)  # the report lists them
            if lines:
                report = check_lines(open_lines(path, split.split, split.sets_dir), norm, read_images)
            else:
                report = check(open_data(type(split)(data=path, **vars(split))), norm, read_images)
        if as_json:
            print_json(report)
        else:
            _print_report(report, read_images)
        if any(not v["words"] for v in report["subsets"].values()):
            raise typer.Exit(1)


@data_app.command("synth")
@command
def data_synth(
    out_dir: str = typer.Argument(..., metavar="OUT", help="Folder to write the data set to (replaced if there)."),
    words: str = typer.Option(..., "--words", help="A lexicon: one word a line (the first token of each)."),
    fonts: list[str] = typer.Option(..., "--fonts", help="Font files or folders of them (.ttf, .otf); repeatable."),
    per_word: int = typer.Option(3, "--per-word", min=1, help="Images of each word, each in a random font."),
    limit: int = typer.Option(0, min=0, help="Use this many words of the lexicon, a seeded sample (0: all)."),
    height: int = typer.Option(64, min=16, help="Image height in pixels."),
    seed: int = typer.Option(0, help="Random seed: fonts, distortions and the sample of words."),
) -> None:
    """Render words in handwriting fonts into a data set (train/valid/test label files) to train a
    starter model on, one that never saw your pages; fine-tune it with `wordspot train --init`.

    Example: wordspot data synth synth/ --words /usr/share/dict/words --fonts /usr/share/fonts/truetype --limit 20000
    """
    with cli_errors():
        import numpy as np

        from wordspot.data.fontsynth import find_fonts, generate_fonts, read_words
        lexicon = read_words(words)
        if limit and limit < len(lexicon):
            rng = np.random.default_rng(seed)
            lexicon = [lexicon[i] for i in sorted(rng.choice(len(lexicon), limit, replace=False))]
        stats = generate_fonts(out_dir, lexicon, find_fonts(fonts), per_word, seed, height, reporter=reporter(False))
        say(out, f"{stats['images']} images of {len(lexicon) - len(stats['skipped_words'])} words in {stats['fonts']} "
                 f"font(s) to {out_dir} (train {stats['train']}, valid {stats['valid']}, test {stats['test']})", "wrote",
            "cyan")
        if stats["skipped_words"]:
            say(err, f"{len(stats['skipped_words'])} word(s) no font can draw, left out, e.g. "
                     f"{stats['skipped_words'][0]!r}", "warning:", "yellow")
