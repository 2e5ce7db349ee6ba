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
    lines = [f"{report['words']} words, {report['distinct_words']} distinct after normalising "
             f"({report['empty_after_normalising']} empty: punctuation only)",
             f"alphabet ({len(report['alphabet'])}): {readable(report['alphabet'])}",
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
    for col in ("subset", "words", "distinct words"):
        t.add_column(col, justify="left" if col == "subset" else "right")
    for name, c in report["subsets"].items():
        t.add_row(name, str(c["words"]), str(c["distinct"]))
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
    split=data_group(None),
) -> None:
    """Say what a data set holds and what is wrong with it: format, subsets, words, alphabet,
    unreadable images, special tokens, problems with file:line. Exits 1 when a subset is empty.

    Example: wordspot data check ../shared/data/washingtondb-v1.0 --split cv1
    """
    with cli_errors():
        from wordspot.data import DataWarning, check
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)  # the report lists them
            src = open_data(type(split)(data=path, **vars(split)))
        report = check(src, TextNorm(not keep_case, not keep_punctuation), read_images)
        if as_json:
            print_json(report)
        else:
            _print_report(report, read_images)
        if any(not v["words"] for v in report["subsets"].values()):
            raise typer.Exit(1)
