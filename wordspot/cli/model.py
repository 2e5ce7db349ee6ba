"""`wordspot model`: look after model files (upgrade old ones, calibrate scores, change the image views)."""

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


@model_app.command("views")
@command
def model_views(
    model: Path = typer.Argument(..., help="Model file, or a run folder (its model.pt)."),
    out: Path = typer.Option(..., help="The new model file (MODEL stays as it is, for the indexes it built)."),
    views: str = typer.Option(None, help="JSON list of [stretch, margin] pairs, e.g. '[[1, 0.1], [1.2, 0.1]]' "
                                         "(default: what training now uses)."),
    subset: str = typer.Option("valid", help="Subset to fit on: a validation set, never the test set."),
    data=data_group("Labelled data to fit on (default: the run's data).", drop_err=False),
) -> None:
    """Give a model other image views (each: the width stretched, blank margins added, in image heights; a
    vector is the mean over them), its fusion weights and scores fitted again on validation images. A model
    written before image views existed embeds one view; this gives it what training now does, without
    training again. Its indexes must be built again with the new file. Example: wordspot model views runs/gw
    --out runs/gw/views.pt --data gw --split cv1
    """
    with cli_errors():
        import json

        from wordspot.config import ModelConfig
        from wordspot.training.calibrate import set_views
        try:
            chosen = json.loads(views) if views is not None else ModelConfig().image_views
        except json.JSONDecodeError:
            raise WordspotError(f"--views {views}: not JSON; give pairs such as '[[1, 0.1], [1.2, 0.1]]'") from None
        data = data_or_run(data, model)
        if subset == "test":
            raise WordspotError("--subset test: fit on validation images; the test set is for measuring")
        emb = set_views(model, chosen, open_data(data, subset), out)
        weights = f", fusion weights {emb.ranking.weights[0]:g} / {emb.ranking.weights[1]:g}" if emb.fused else ""
        say(err, f"{out}: image views {emb.config.image_views}{weights}, fitted on {data.data} {subset}; "
                 f"build its indexes again")
