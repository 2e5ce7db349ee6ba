"""What every command shares: the consoles, one-line errors, JSON output, progress, a run folder's data."""

from __future__ import annotations

import csv
import json
import warnings
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from wordspot.cli.options import option_name
from wordspot.errors import ConfigError, TrainingInterrupted, WordspotError
from wordspot.progress import PlainReporter, Reporter, RichReporter

out = Console()
if not out.is_terminal:  # piped or logged: wide enough for the tables, which rich would squeeze into 80
    out = Console(width=160)
err = Console(stderr=True)

RUN_DATA = "data.json"  # a run folder's record of the data it trains on: --resume and eval need no --data


def say(console: Console, message: str, label: str = "", style: str = "") -> None:
    """Print user-given text literally (no markup is read in it), after an optional coloured label."""
    text = Text.assemble((label, style), " " if label else "", message)
    console.print(text, highlight=False, soft_wrap=True)


@contextmanager
def cli_errors():
    """Bad input becomes one line on stderr and exit code 1; Ctrl-C in training exits 130."""
    def show(message, category, filename, lineno, file=None, line=None):
        say(err, str(message), "warning:", "yellow")
    warnings.showwarning = show
    try:
        yield
    except ConfigError as e:
        say(err, f"{option_name(e.field)}: {e.detail}", "error:", "red")
        raise typer.Exit(1)
    except TrainingInterrupted as e:
        say(err, f"{e}; continue with --resume", "interrupted:", "yellow")
        raise typer.Exit(130)
    except (WordspotError, ValueError, OSError) as e:
        say(err, str(e), "error:", "red")
        raise typer.Exit(1)


def _finite(obj):
    """NaN and infinity (e.g. QbE mAP of a set with no repeated word) become null: JSON has neither."""
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def print_json(obj) -> None:
    out.print_json(json.dumps(_finite(obj), allow_nan=False))


def reporter(plain: bool) -> Reporter:
    return PlainReporter() if plain or not err.is_terminal else RichReporter(err)


def check_device(device: str) -> None:
    if device not in ("auto", "cpu", "cuda"):
        raise WordspotError(f"--device: must be auto, cpu or cuda, got {device!r}")


def run_data(model: Path) -> dict | None:
    """The data a run was trained on, from its run folder (a model file's folder), if it says."""
    folder = model if model.is_dir() else model.parent
    try:
        d = json.loads((folder / RUN_DATA).read_text(encoding="utf-8"))
        return d if isinstance(d, dict) and isinstance(d.get("data"), str) else None
    except (OSError, ValueError):
        return None


def data_or_run(data, model: Path):
    """`data` (a DataOptions) or, when it names no data, the data `model`'s run folder was trained on."""
    if data.data is not None:
        return data
    known = run_data(model)
    if known is None:
        raise WordspotError(f"give --data: {model} does not say which data it was trained on")
    return type(data)(**{**vars(data), "data": known["data"], "split": data.split or known["split"],
                         "sets_dir": data.sets_dir or known["sets_dir"]})


def open_data(data, subset: str | None = None):
    """The data set a DataOptions names (a Source), or one of its subsets."""
    from wordspot.data import open_source
    src = open_source(data.data, data.split, data.sets_dir, getattr(data, "drop_err", False))
    return src if subset is None else src.subset(subset)


def write_csv(path: Path, rows: list[dict]) -> None:
    """Hit rows (search/query.py's CSV_FIELDS) to `path`, whole or not at all."""
    import io

    from wordspot.files import atomic_write_text
    from wordspot.search.query import CSV_FIELDS
    if path.is_dir():
        raise WordspotError(f"--csv {path}: is a folder; give a file name")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    try:
        atomic_write_text(path, buf.getvalue())
    except OSError as e:
        raise WordspotError(f"--csv {path}: cannot write ({e.strerror})") from None
    say(err, f"{len(rows)} hits to {path}", "wrote", "cyan")
