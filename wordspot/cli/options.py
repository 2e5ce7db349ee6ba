"""Option groups: the options several commands share, declared once and handed to a command as one value.

A command declares `data: DataOptions` with the group as its default; `command` spreads the group's options into
the command's signature for typer, and gathers them back into one namespace when the command runs.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Optional

import typer

from wordspot.config import TrainConfig
from wordspot.methods import METHODS

SPLIT_HELP = ("Split of a database with splits (FKI: sets/cv1 or sets1; IAM: a folder of train/valid/test "
              "lists); default: the first found. 'none': every word in one subset 'all'.")
SETS_HELP = "Folder holding the splits, when it is not sets/ or the database's top level."
DROP_ERR_HELP = "IAM: leave out words whose segmentation is flagged 'err' (kept by default; counted either way)."
DATA_HELP = "'builtin' or a data set folder (FKI IAM-HistDB, IAM, PAGE/ALTO pages, .tsv files; see `wordspot data check`)."
DEVICE_HELP = "auto, cpu or cuda."


class Group(SimpleNamespace):
    """Options given together; `Group.options` maps each option's name to (type, typer.Option)."""

    options: dict[str, tuple[Any, Any]] = {}


def group(name: str, **options: tuple[Any, Any]) -> type[Group]:
    """A group of options, listed under its own heading in --help ("DataOptions" -> "Data")."""
    for _, info in options.values():
        info.rich_help_panel = info.rich_help_panel or name.removesuffix("Options")
    return type(name, (Group,), {"options": options})


def data_group(data_help: str | None = DATA_HELP, split_help: str = SPLIT_HELP,
               drop_err: bool = True) -> type[Group]:
    """--data (none when `data_help` is None), --split, --sets-dir (and --drop-err): a data set and its split."""
    opts = {"data": (Optional[str], typer.Option(None, help=data_help))} if data_help else {}
    opts["split"] = (Optional[str], typer.Option(None, help=split_help))
    opts["sets_dir"] = (Optional[str], typer.Option(None, help=SETS_HELP))
    if drop_err:
        opts["drop_err"] = (bool, typer.Option(False, help=DROP_ERR_HELP))
    return group("DataOptions", **opts)


DataOptions = data_group()

# which index to search, and how: `query` and `serve`
IndexOptions = group(
    "IndexOptions",
    shard=(Optional[list[Path]], typer.Option(None, help="Another index of the same collection to search with "
                                                         "INDEX (repeat for more).")),
    model=(Optional[Path], typer.Option(None, help="Model (default: the one that built the index).")),
    exact=(bool, typer.Option(False, help="Exact search even where the index has an approximate one (a line "
                                       "index: score every line).")),
    root=(Optional[Path], typer.Option(None, help="Where the indexed collection is now, when it has moved since it "
                                                  "was indexed (the index records the folder it was built from).")),
    device=(str, typer.Option("auto", help=DEVICE_HELP)),
)

_D = TrainConfig()  # defaults shown in --help; they are written once, in the config classes
# options of `train` that set a config field (model fields under "model."), with their help
TRAIN_OPTIONS: dict[str, tuple[str, Any, str]] = {
    "seed": ("seed", int, f"Random seed (default {_D.seed})."),
    "device": ("device", str, f"auto, cpu or cuda (default {_D.device})."),
    "minutes": ("minutes", float, "Time budget of the whole run in minutes, split as the George Washington figures "
                "were trained: the string stage up to 6, then 70% / 30% to the image / joint stage; each stage also "
                "stops at its steps or epochs (default 0: no time limit)."),
    "string_steps": ("string_steps", int, f"Stage 1 budget in steps (default {_D.string_steps})."),
    "string_minutes": ("string_minutes", float, "Stage 1 budget in minutes (default 0: none); whichever ends first."),
    "image_epochs": ("image_epochs", int, f"Stage 2 budget in epochs (default {_D.image_epochs})."),
    "image_minutes": ("image_minutes", float, "Stage 2 budget in minutes (default 0: none); whichever ends first."),
    "joint_epochs": ("joint_epochs", int, f"Stage 3 budget in epochs (default {_D.joint_epochs})."),
    "joint_minutes": ("joint_minutes", float, "Stage 3 budget in minutes (default 0: none)."),
    "image_loss": ("image_loss", str, "Stage 2 loss: euclidean, bce (sigmoid cross-entropy) or softmax (euclidean "
                   f"+ nearest-word cross-entropy); default {_D.image_loss}."),
    "dim": ("model.dim", int, f"Embedding dimension (default {_D.model.dim})."),
    "max_len": ("model.max_len", int, f"Longest word the string CNN embeds (default {_D.model.max_len}; raised to "
                "fit the training words)."),
    "height": ("model.image_height", int, f"Image height the image CNN sees (default {_D.model.image_height})."),
    "method": ("model.method", str, "; ".join(f"{m.name}: {m.summary}" for m in METHODS.values())
               + f"; default {_D.model.method}."),
    "val_every": ("val_every", int, "Steps between validations (default 0: once an epoch)."),
}


def option_name(field: str) -> str:
    """The `train` option that sets a config field, or the field's name for --set."""
    for name, (f, _, _) in TRAIN_OPTIONS.items():
        if f == field or f == f"model.{field}":
            return "--" + name.replace("_", "-")
    return {"augment": "--augment/--no-augment"}.get(field, f"--set {field}")


SettingsOptions = group(
    "SettingsOptions",
    config=(Optional[Path],
            typer.Option(None, help="Start from this config (a run's config.json repeats that run); options and "
                                    "--set override it.")),
    settings=(Optional[list[str]], typer.Option(None, "--set", help="KEY=VALUE for any setting, e.g. --set "
                                                "image_lr=3e-4 --set model.string_layers=3 (names as in config.json).")),
    **{name: (Optional[kind], typer.Option(None, help=help_)) for name, (_, kind, help_) in TRAIN_OPTIONS.items()},
    augment=(Optional[bool], typer.Option(None, "--augment/--no-augment", help="Random affine, stroke and noise "
                                          "augmentation (default on).")),
    keep_case=(bool, typer.Option(False, help="Compare words case-sensitively (default: lower-case, as in the GW "
                                              "protocol).")),
    keep_punctuation=(bool, typer.Option(False, help="Keep punctuation and symbols (default: letters and digits "
                                                     "only).")),
)


def command(func: Callable) -> Callable:
    """Give typer the options of every group parameter of `func`; call `func` with each group as one value."""
    sig = inspect.signature(func, eval_str=True)
    groups = {p.name: p.default for p in sig.parameters.values()
              if isinstance(p.default, type) and issubclass(p.default, Group)}
    params = [p for p in sig.parameters.values() if p.name not in groups]
    hints = {p.name: p.annotation for p in params}
    for g in groups.values():  # keyword-only, after the command's own (positional) parameters
        for name, (kind, info) in g.options.items():
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=kind))
            hints[name] = kind

    @functools.wraps(func)
    def run(**kw):
        for gname, g in groups.items():
            kw[gname] = g(**{name: kw.pop(name) for name in g.options})
        return func(**kw)

    run.__signature__ = sig.replace(parameters=params, return_annotation=None)
    run.__annotations__ = hints
    return run
