"""`wordspot data`: look at a data set before training on it."""

from __future__ import annotations

import warnings

import typer
from rich.table import Table

from wordspot.cli.common import cli_errors, open_data, out, print_json, say
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
