"""The command line: a thin layer over the Python API, one module per command group."""

from __future__ import annotations

import typer

from wordspot import __version__
from wordspot.cli.common import out
from wordspot.cli.data import data_app
from wordspot.cli.eval import eval_app
from wordspot.cli.index import index
from wordspot.cli.model import model_app
from wordspot.cli.query import query, serve
from wordspot.cli.train import train

app = typer.Typer(
    help="Handwritten word spotting: find a word in scanned pages by typing it or by showing one example.\n\n"
         "Typical use: wordspot train --data builtin --out runs/demo; "
         "wordspot index runs/demo --data builtin --subset test --out demo.idx; "
         "wordspot query demo.idx great",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        out.print(f"wordspot {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """Handwritten word spotting with a Levenshtein-space embedding (LSDE)."""


for _command in (train, index, query, serve):
    app.command()(_command)
app.add_typer(eval_app, name="eval")
app.add_typer(model_app, name="model")
app.add_typer(data_app, name="data")

__all__ = ["app"]
