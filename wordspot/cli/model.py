"""`wordspot model`: look after model files (upgrade old ones, calibrate scores)."""

from __future__ import annotations

from pathlib import Path

import typer

from wordspot.cli.common import cli_errors, data_or_run, err, open_data, say
from wordspot.cli.options import command, data_group
from wordspot.errors import WordspotError

model_app = typer.Typer(no_args_is_help=True, help="Look after model files.")


@model_app.command("upgrade")
def model_upgrade(
    files: list[Path] = typer.Argument(..., help="Model or checkpoint files (.pt) written by wordspot before format 3."),
) -> None:
    """Convert model files of the old pickle format to the current one, in place.

    They are read with PyTorch's restricted loader (tensors, numbers and containers only), so an old
    file cannot run code; a file that holds anything else is refused. Example: wordspot model upgrade
    runs/gw/model.pt runs/gw/last.pt
    """
    with cli_errors():
        from wordspot.files import upgrade_torch_file
        for f in files:
            if not f.is_file():
                raise WordspotError(f"{f}: no such file")
        for f in files:
            upgrade_torch_file(f)
            say(err, f"upgraded {f}")


@model_app.command("calibrate")
@command
def model_calibrate(
    model: Path = typer.Argument(..., help="Model file, or a run folder (its model.pt)."),
    subset: str = typer.Option("valid", help="Subset to calibrate on: a validation set, never the test set."),
    data=data_group("Labelled data to calibrate on (default: the run's data).", drop_err=False),
) -> None:
    """Give a model's hits a score: the probability that a hit is the word asked for, fitted on
    labelled images (training does this on its validation set). Rankings and the model's id do not
    change, so indexes it built stay valid. Example: wordspot model calibrate runs/gw --data gw --split cv1
    """
    with cli_errors():
        from wordspot.training import calibrate_model
        data = data_or_run(data, model)
        if subset == "test":
            raise WordspotError("--subset test: calibrate on validation images; the test set is for measuring")
        emb = calibrate_model(model, open_data(data, subset))
        say(err, f"{model}: scores calibrated on {data.data} {subset} "
                 f"({', '.join(f'{k} {v[0]:.3g} {v[1]:+.3g} log d' for k, v in emb.calibration.items())})")
