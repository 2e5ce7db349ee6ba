"""`wordspot train`: a run folder from a data set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from wordspot.cli.common import RUN_DATA, cli_errors, err, open_data, reporter, run_data, say
from wordspot.cli.options import TRAIN_OPTIONS, DataOptions, SettingsOptions, command, group
from wordspot.config import TrainConfig, parse_settings
from wordspot.errors import WordspotError

StartOptions = group(
    "StartOptions",
    words=(Optional[Path], typer.Option(None, help="Word list (one per line) for the string stage instead of the "
                                                   "training transcriptions.")),
    resume=(bool, typer.Option(False, help="Continue from OUT/last.pt: its stage, step, optimizer and schedule "
                                           "(give the same --data).")),
    overwrite=(bool, typer.Option(False, help="Train a stage again although OUT already holds its checkpoint.")),
    string_model=(Optional[Path], typer.Option(None, help="Start the image stage from this model instead of "
                                                          "OUT/string.pt.")),
    init=(Optional[Path], typer.Option(None, help="Fine-tune this trained model on --data (its networks, settings "
                                                  "and alphabet; the string stage is skipped): a collection of your "
                                                  "own needs fewer transcribed words this way.")),
)


def train_config(s) -> TrainConfig:
    """Defaults, then --config, then the named options given, then --set (`s`: a SettingsOptions)."""
    cfg = TrainConfig()
    if s.config is not None:
        try:
            cfg = TrainConfig.from_dict(json.loads(s.config.read_text(encoding="utf-8")), strict=True)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError) as e:
            raise WordspotError(f"--config {s.config}: not a readable JSON config ({type(e).__name__})") from None
    given = {field: getattr(s, name) for name, (field, _, _) in TRAIN_OPTIONS.items() if getattr(s, name) is not None}
    if s.augment is not None:
        given["augment"] = s.augment
    if s.keep_case:
        given["model.lowercase"] = False
    if s.keep_punctuation:
        given["model.alnum_only"] = False
    return cfg.with_settings({**given, **parse_settings(s.settings or [])})


def _remember_data(out_dir: Path, data) -> None:
    from wordspot.files import atomic_write_text
    where = data.data if data.data == "builtin" else str(Path(data.data).resolve())
    atomic_write_text(out_dir / RUN_DATA, json.dumps({"data": where, "split": data.split, "sets_dir": data.sets_dir,
                                                      "drop_err": data.drop_err}))


def _finished(out_dir: Path, stages: tuple, only_stage: str) -> bool:
    """Whether a run's last.pt says its last stage asked for has ended."""
    from wordspot.model.modelfile import ModelError, load_file
    try:
        state = load_file(out_dir / "last.pt", "train-state", tensors=False)
    except ModelError:
        return False
    return bool(state.get("done")) and state.get("stage") in (stages[-1], only_stage)


def _check_request(cfg: TrainConfig, chosen: str, out_dir: Path, members: int, start) -> None:
    from wordspot.methods import method_of
    from wordspot.model.embedder import resolve_device
    method = method_of(cfg.model)
    resolve_device(cfg.device)
    if out_dir.exists() and not out_dir.is_dir():
        raise WordspotError(f"--out {out_dir}: is a file; give a run folder")
    if members < 1:
        raise WordspotError(f"--members {members}: 1 for one model, 2 or more for an ensemble")
    if chosen != "all" and chosen not in method.stages:
        raise WordspotError(f"the {method.name} method trains only the {' and '.join(method.stages)} stage")
    if start.resume and members == 1 and not (out_dir / "last.pt").is_file():
        raise WordspotError(f"--resume: {out_dir} holds no last.pt to continue from")


def _data_for(data, chosen: str, out_dir: Path, start):
    """The data the run trains on: --data, or on --resume what the run folder recorded."""
    if data.data is None and start.resume and run_data(out_dir):
        known = run_data(out_dir)
        data = type(data)(**{k: known[k] for k in ("data", "split", "sets_dir", "drop_err")})
        say(err, f"the run's data: {data.data}{f' --split {data.split}' if data.split else ''}", "resume:", "cyan")
    if data.data is None and start.resume and chosen != "string":
        raise WordspotError("--resume needs the --data the run was started with (this run folder does not record it)")
    if data.data is None and not (chosen == "string" and start.words) and not start.resume:
        raise WordspotError("--data is required (or --words with the string stage)")
    return data


def _train_lines(cfg: TrainConfig, out_dir: Path, data, start, plain: bool) -> None:
    from wordspot.data import open_lines
    from wordspot.training.line_stage import train_lines
    if data.data is None and not start.resume:
        raise WordspotError("--lines needs --data: text line images with their transcriptions")
    data = _data_for(data, "lines", out_dir, start)
    src = open_lines(data.data, data.split, data.sets_dir)
    if "train" not in src.subsets:
        raise WordspotError(f"{data.data}: no training lines")
    if start.overwrite or not (out_dir / RUN_DATA).exists():
        _remember_data(out_dir, data)
    train_lines(cfg, out_dir, src.subset("train"), src.subsets.get("valid"), reporter(plain), resume=start.resume)
    say(err, f"line reader: {out_dir / 'model.pt'}")


def _word_list(words: Optional[Path]) -> Optional[list[str]]:
    if not words:
        return None
    word_list = [w.strip() for w in words.read_text(encoding="utf-8").split() if w.strip()]
    if not word_list:
        raise WordspotError(f"--words {words}: no words in it")
    return word_list


@command
def train(
    stage_arg: Optional[str] = typer.Argument(None, metavar="[STAGE]", help="all (default), string, image or joint."),
    stage: Optional[str] = typer.Option(None, "--stage", help="Same as STAGE."),
    out_dir: Path = typer.Option(..., "--out", help="Run folder: checkpoints, config.json, log.jsonl."),
    members: int = typer.Option(1, help="Train this many image CNNs (seeds SEED, SEED+1, ...; the image and "
                                "joint minutes shared among them, no joint stage) into OUT/member<i>, and average "
                                "their vectors in OUT/model.pt. LSDE members share one string CNN, trained once "
                                "(or --init's)."),
    plain: bool = typer.Option(False, help="Log lines instead of a progress bar (for non-interactive runs)."),
    lines: bool = typer.Option(False, "--lines", help="Train a line reader from text line images and their "
                               "transcriptions (no word boxes needed; an FKI database's line_images_normalized "
                               "and transcription.txt); index and search lines with it."),
    data=DataOptions,
    start=StartOptions,
    settings=SettingsOptions,
) -> None:
    """Train a model: string CNN, then image CNN, then both jointly.

    Example: wordspot train --data builtin --out runs/demo --string-steps 600 --image-epochs 8
    """
    with cli_errors():
        from wordspot.methods import method_of
        from wordspot.training import STAGES, train_ensemble
        from wordspot.training import train as run_training
        chosen = stage or stage_arg or "all"
        if chosen not in ("all", *STAGES):
            raise WordspotError(f"unknown stage {chosen!r} (use all, string, image or joint)")
        # every setting is checked (by the config classes) before any data is read or work done
        cfg = train_config(settings)
        if lines:
            return _train_lines(cfg, out_dir, data, start, plain)
        _check_request(cfg, chosen, out_dir, members, start)
        stages = STAGES if chosen == "all" else (chosen,)
        if start.resume and members == 1 and _finished(out_dir, stages, method_of(cfg.model).stages[-1]):
            say(err, f"{out_dir} finished its last stage: nothing to continue (model: {out_dir / 'model.pt'})",
                "resume:", "cyan")
            return
        data = _data_for(data, chosen, out_dir, start)
        src = open_data(data) if data.data else None
        if src is not None and "train" not in src.subsets:
            raise WordspotError(f"{data.data}: no training subset")
        train_set, valid_set = (src.subset("train"), src.subsets.get("valid")) if src else (None, None)
        if data.data is not None and (start.overwrite or not (out_dir / RUN_DATA).exists()):  # never relabel a run
            _remember_data(out_dir, data)
        if members != 1:
            if src is None:
                raise WordspotError("--members needs --data, also with --resume")
            train_ensemble(cfg, out_dir, members, train_set=train_set, valid_set=valid_set,
                           words=_word_list(start.words), init=start.init, resume=start.resume,
                           overwrite=start.overwrite, reporter=reporter(plain))
        else:
            run_training(cfg, out_dir, train_set=train_set, valid_set=valid_set, words=_word_list(start.words),
                         stages=stages, resume=start.resume, overwrite=start.overwrite,
                         string_model=start.string_model, init=start.init, reporter=reporter(plain))
        say(err, f"model: {out_dir / 'model.pt'}")
