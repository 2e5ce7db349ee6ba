"""The `wordspot` command: a thin layer over the Python API."""

from __future__ import annotations

import csv
import json
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from wordspot import __version__
from wordspot.config import TrainConfig, parse_settings
from wordspot.data.datasets import DataWarning, check, list_splits, open_source
from wordspot.data.text import TextNorm, readable
from wordspot.errors import ConfigError, TrainingInterrupted, WordspotError
from wordspot.index.store import IndexFileError, is_index, open_shards
from wordspot.index.writer import check_target
from wordspot.progress import PlainReporter, Reporter, RichReporter
from wordspot.search.exact import ANN_MIN, describe
from wordspot.search.query import Hit, Searcher, contact_sheet

out = Console()
if not out.is_terminal:  # piped or logged: wide enough for the tables, which rich would squeeze into 80
    out = Console(width=160)
err = Console(stderr=True)

app = typer.Typer(
    help="Handwritten word spotting: find a word in scanned pages by typing it or by showing one example.\n\n"
         "Typical use: wordspot train --data builtin --out runs/demo; "
         "wordspot index runs/demo --data builtin --subset test --out demo.idx; "
         "wordspot query demo.idx great",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _option_name(field: str) -> str:
    """The `train` option that sets a config field, or the field's name for --set."""
    for name, f in _TRAIN_OPTIONS.items():
        if f == field or f == f"model.{field}":
            return "--" + name.replace("_", "-")
    return f"--set {field}"


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
        say(err, f"{_option_name(e.field)}: {e.detail}", "error:", "red")
        raise typer.Exit(1)
    except TrainingInterrupted as e:
        say(err, f"{e}; continue with --resume", "interrupted:", "yellow")
        raise typer.Exit(130)
    except (WordspotError, ValueError, OSError) as e:
        say(err, str(e), "error:", "red")
        raise typer.Exit(1)


# the options that pick a data set, shared by every command that reads one
SPLIT_HELP = ("Split of a database with splits (FKI: sets/cv1 or sets1; IAM: a folder of train/valid/test "
              "lists); default: the first found. 'none': every word in one subset 'all'.")
SETS_HELP = "Folder holding the splits, when it is not sets/ or the database's top level."
DROP_ERR_HELP = "IAM: leave out words whose segmentation is flagged 'err' (kept by default; counted either way)."


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


def _reporter(plain: bool) -> Reporter:
    return PlainReporter() if plain or not err.is_terminal else RichReporter(err)


def _version(value: bool) -> None:
    if value:
        out.print(f"wordspot {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """Handwritten word spotting with a Levenshtein-space embedding (LSDE)."""


# ---- train ---------------------------------------------------------------------------------------
_D = TrainConfig()  # defaults shown in --help; they are written once, in the config classes
# options of `train` that set a config field of the same name (model fields under "model.")
_TRAIN_OPTIONS = {"minutes": "minutes", "string_minutes": "string_minutes",
                  "seed": "seed", "device": "device", "string_steps": "string_steps", "image_epochs": "image_epochs",
                  "image_minutes": "image_minutes", "joint_epochs": "joint_epochs", "joint_minutes": "joint_minutes",
                  "image_loss": "image_loss", "augment": "augment", "val_every": "val_every", "dim": "model.dim",
                  "max_len": "model.max_len", "height": "model.image_height", "method": "model.method"}


RUN_DATA = "data.json"  # a run folder's record of the data it trains on: --resume and eval need no --data


def _remember_data(out_dir: Path, data: str, split, sets_dir, drop_err: bool) -> None:
    from wordspot.files import atomic_write_text
    where = data if data == "builtin" else str(Path(data).resolve())
    atomic_write_text(out_dir / RUN_DATA, json.dumps({"data": where, "split": split, "sets_dir": sets_dir,
                                                      "drop_err": drop_err}))


def _finished(out_dir: Path, stages: tuple) -> bool:
    """Whether a run's last.pt says its last stage asked for has ended."""
    from wordspot.model.modelfile import ModelError, load_file
    try:
        state = load_file(out_dir / "last.pt", "train-state", tensors=False)
    except ModelError:
        return False
    phoc = ((state.get("config") or {}).get("model") or {}).get("method") == "phoc"  # its only stage: image
    return bool(state.get("done")) and (state.get("stage") == stages[-1] or phoc)


def _run_data(model: Path) -> dict | None:
    """The data a run was trained on, from its run folder (a model file's folder), if it says."""
    folder = model if model.is_dir() else model.parent
    try:
        d = json.loads((folder / RUN_DATA).read_text(encoding="utf-8"))
        return d if isinstance(d, dict) and isinstance(d.get("data"), str) else None
    except (OSError, ValueError):
        return None


def _train_config(config: Optional[Path], options: dict, settings: list[str]) -> TrainConfig:
    """Defaults, then --config, then the named options given, then --set."""
    cfg = TrainConfig()
    if config is not None:
        try:
            cfg = TrainConfig.from_dict(json.loads(config.read_text(encoding="utf-8")), strict=True)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError) as e:
            raise WordspotError(f"--config {config}: not a readable JSON config ({type(e).__name__})") from None
    given = {field: options[name] for name, field in _TRAIN_OPTIONS.items() if options[name] is not None}
    if options["keep_case"]:
        given["model.lowercase"] = False
    if options["keep_punctuation"]:
        given["model.alnum_only"] = False
    return cfg.with_settings({**given, **parse_settings(settings)})


@app.command()
def train(
    stage_arg: Optional[str] = typer.Argument(None, metavar="[STAGE]", help="all (default), string, image or joint."),
    stage: Optional[str] = typer.Option(None, "--stage", help="Same as STAGE."),
    data: Optional[str] = typer.Option(None, help="'builtin' or a data set folder (FKI IAM-HistDB, IAM, PAGE/ALTO pages, .tsv files; see `wordspot data check`)."),
    split: Optional[str] = typer.Option(None, help=SPLIT_HELP),
    sets_dir: Optional[str] = typer.Option(None, help=SETS_HELP),
    drop_err: bool = typer.Option(False, help=DROP_ERR_HELP),
    words: Optional[Path] = typer.Option(None, help="Word list (one per line) for the string stage instead of the training transcriptions."),
    out_dir: Path = typer.Option(..., "--out", help="Run folder: checkpoints, config.json, log.jsonl."),
    config: Optional[Path] = typer.Option(None, help="Start from this config (a run's config.json repeats that run); options and --set override it."),
    settings: Optional[list[str]] = typer.Option(None, "--set", help="KEY=VALUE for any setting, e.g. --set image_lr=3e-4 --set model.string_layers=3 (names as in config.json)."),
    seed: Optional[int] = typer.Option(None, help=f"Random seed (default {_D.seed})."),
    device: Optional[str] = typer.Option(None, help=f"auto, cpu or cuda (default {_D.device})."),
    minutes: Optional[float] = typer.Option(None, help="Time budget of the whole run in minutes, split as the George "
                                            "Washington figures were trained: the string stage up to 6, then 70% / "
                                            "30% to the image / joint stage; each stage also stops at its steps or "
                                            "epochs (default 0: no time limit)."),
    string_steps: Optional[int] = typer.Option(None, help=f"Stage 1 budget in steps (default {_D.string_steps})."),
    string_minutes: Optional[float] = typer.Option(None, help="Stage 1 budget in minutes (default 0: none); "
                                                   "whichever ends first."),
    image_epochs: Optional[int] = typer.Option(None, help=f"Stage 2 budget in epochs (default {_D.image_epochs})."),
    image_minutes: Optional[float] = typer.Option(None, help="Stage 2 budget in minutes (default 0: none); whichever ends first."),
    joint_epochs: Optional[int] = typer.Option(None, help=f"Stage 3 budget in epochs (default {_D.joint_epochs})."),
    joint_minutes: Optional[float] = typer.Option(None, help="Stage 3 budget in minutes (default 0: none)."),
    image_loss: Optional[str] = typer.Option(None, help=f"Stage 2 loss: euclidean, bce (sigmoid cross-entropy) or softmax (euclidean + nearest-word cross-entropy); default {_D.image_loss}."),
    augment: Optional[bool] = typer.Option(None, "--augment/--no-augment", help="Random affine, stroke and noise augmentation (default on)."),
    dim: Optional[int] = typer.Option(None, help=f"Embedding dimension (default {_D.model.dim})."),
    max_len: Optional[int] = typer.Option(None, help=f"Longest word the string CNN embeds (default {_D.model.max_len}; raised to fit the training words)."),
    height: Optional[int] = typer.Option(None, help=f"Image height the image CNN sees (default {_D.model.image_height})."),
    method: Optional[str] = typer.Option(None, help=f"lsde; phoc, the PHOC baseline (image CNN predicting PHOC attributes; image stage only); or both: LSDE with a PHOC head on the same image CNN, ranking by both; default {_D.model.method}."),
    members: int = typer.Option(1, help="PHOC only: train this many models (seeds SEED, SEED+1, ...; --image-minutes shared among them) into OUT/member<i>, and average their predictions in OUT/model.pt."),
    keep_case: bool = typer.Option(False, help="Compare words case-sensitively (default: lower-case, as in the GW protocol)."),
    keep_punctuation: bool = typer.Option(False, help="Keep punctuation and symbols (default: letters and digits only)."),
    val_every: Optional[int] = typer.Option(None, help="Steps between validations (default 0: once an epoch)."),
    resume: bool = typer.Option(False, help="Continue from OUT/last.pt: its stage, step, optimizer and schedule (give the same --data)."),
    overwrite: bool = typer.Option(False, help="Train a stage again although OUT already holds its checkpoint."),
    string_model: Optional[Path] = typer.Option(None, help="Start the image stage from this model instead of OUT/string.pt."),
    init: Optional[Path] = typer.Option(None, help="Fine-tune this trained model on --data (its networks, settings "
                                        "and alphabet; the string stage is skipped): a collection of your own "
                                        "needs fewer transcribed words this way."),
    plain: bool = typer.Option(False, help="Log lines instead of a progress bar (for non-interactive runs)."),
) -> None:
    """Train a model: string CNN, then image CNN, then both jointly.

    Example: wordspot train --data builtin --out runs/demo --string-steps 600 --image-epochs 8
    """
    with cli_errors():
        from wordspot.model.embedder import PHOC_ONLY, resolve_device
        from wordspot.training.run import STAGES, train_ensemble
        from wordspot.training.run import train as run_training
        chosen = stage or stage_arg or "all"
        if chosen not in ("all", *STAGES):
            raise WordspotError(f"unknown stage {chosen!r} (use all, string, image or joint)")
        stages = STAGES if chosen == "all" else (chosen,)
        # every setting is checked (by the config classes) before any data is read or work done
        cfg = _train_config(config, locals(), settings or [])  # locals(): the options, by name
        method = cfg.model.method
        resolve_device(cfg.device)
        if out_dir.exists() and not out_dir.is_dir():
            raise WordspotError(f"--out {out_dir}: is a file; give a run folder")
        if members != 1 and method != "phoc":
            raise WordspotError(f"--members: {PHOC_ONLY}; add --method phoc")
        if method == "phoc" and chosen not in ("all", "image"):
            raise WordspotError("the phoc method trains only the image stage")
        if resume and members == 1 and not (out_dir / "last.pt").is_file():
            raise WordspotError(f"--resume: {out_dir} holds no last.pt to continue from")
        if resume and members == 1 and _finished(out_dir, stages):
            say(err, f"{out_dir} finished its last stage: nothing to continue (model: {out_dir / 'model.pt'})",
                "resume:", "cyan")
            return
        if data is None and resume and _run_data(out_dir):
            data, split, sets_dir, drop_err = (_run_data(out_dir)[k] for k in ("data", "split", "sets_dir", "drop_err"))
            say(err, f"the run's data: {data}{f' --split {split}' if split else ''}", "resume:", "cyan")
        if data is None and resume and chosen != "string":
            raise WordspotError("--resume needs the --data the run was started with (this run folder does not "
                                "record it)")
        if data is None and not (chosen == "string" and words) and not resume:
            raise WordspotError("--data is required (or --words with the string stage)")
        src = open_source(data, split, sets_dir, drop_err) if data else None
        word_list = None
        if words:
            word_list = [w.strip() for w in words.read_text(encoding="utf-8").split() if w.strip()]
            if not word_list:
                raise WordspotError(f"--words {words}: no words in it")
        if src is not None and "train" not in src.subsets:
            raise WordspotError(f"{data}: no training subset")
        train_set, valid_set = (src.subset("train"), src.subsets.get("valid")) if src else (None, None)
        if data is not None and (overwrite or not (out_dir / RUN_DATA).exists()):  # never relabel a trained run
            _remember_data(out_dir, data, split, sets_dir, drop_err)
        if members != 1:
            if src is None:
                raise WordspotError("--members needs --data, also with --resume")
            train_ensemble(cfg, out_dir, members, train_set=train_set, valid_set=valid_set, resume=resume,
                           overwrite=overwrite, reporter=_reporter(plain))
        else:
            run_training(cfg, out_dir, train_set=train_set, valid_set=valid_set, words=word_list, stages=stages,
                         resume=resume, overwrite=overwrite, string_model=string_model, init=init,
                         reporter=_reporter(plain))
        say(err, f"model: {out_dir / 'model.pt'}")


# ---- index ---------------------------------------------------------------------------------------
@app.command()
def index(
    model: Path = typer.Argument(..., help="Model file, or a run folder (its model.pt)."),
    sources: Optional[list[Path]] = typer.Argument(None, help="Word images, folders, page images' box .txt files, PAGE or ALTO .xml files."),
    data: Optional[str] = typer.Option(None, help="Index a data set instead: 'builtin' or a data set folder."),
    split: Optional[str] = typer.Option(None, help=SPLIT_HELP),
    sets_dir: Optional[str] = typer.Option(None, help=SETS_HELP),
    drop_err: bool = typer.Option(False, help=DROP_ERR_HELP),
    subset: str = typer.Option("test", help="train, valid, test or all."),
    out_path: Path = typer.Option(..., "--out", help="Index folder to write (made if missing)."),
    append: bool = typer.Option(False, help="Add to an existing index (same model) instead of replacing it; "
                                            "crops already in it are skipped."),
    half: bool = typer.Option(False, "--half", help="Store vectors as float16: half the size; rankings "
                                                    "unchanged on George Washington (README)."),
    ann: Optional[bool] = typer.Option(None, "--ann/--no-ann", help="Also build an approximate search (faiss) "
                                       f"for large indexes; default: from {ANN_MIN:,} crops on."),
    cluster: Optional[str] = typer.Option(None, help="Embed on a Dask cluster, one task a shard: 'local:N' (N "
                                          "worker processes here) or a scheduler address tcp://HOST:8786. "
                                          "--out is then an archive folder of shards and a manifest."),
    shard_size: int = typer.Option(100_000, help="With --cluster: crops a shard (one task)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    plain: bool = typer.Option(False, help="Log lines instead of a progress bar."),
) -> None:
    """Embed word crops with a model's image CNN and save them as a searchable index folder.

    A folder may hold word images, page images each with a .txt of boxes (x1 y1 x2 y2 [text] per
    line) or PAGE / ALTO XML files. The index is written a chunk at a time: if the command is
    stopped, the previous index stays as it was, and running the same command again continues
    where it stopped. Example: wordspot index runs/demo pages/ --out pages.idx
    """
    with cli_errors():
        from wordspot.index.build import collect_crops, dataset_crops, index_crops, open_index
        from wordspot.model.embedder import Embedder, resolve_device
        if not sources and not data:
            raise WordspotError("give SOURCES or --data")
        if cluster:
            return _index_on_cluster(model, sources, data, split, sets_dir, drop_err, subset, out_path, half, append,
                                     cluster, shard_size, plain)
        check_target(out_path, append)  # before loading the model, not after
        emb = Embedder.load(model, resolve_device(device))
        if append and out_path.exists() and is_index(out_path) and (out_path / "index.json").exists():
            open_index(out_path).check_model(emb)  # before the work, not after
        crops = collect_crops(sources) if sources else []
        if data:
            crops += dataset_crops(open_source(data, split, sets_dir, drop_err).subset(subset))
        stats = index_crops(emb, crops, out_path, model_path=str(Path(model).resolve()), append=append,
                            dtype="float16" if half else "float32", ann=ann, reporter=_reporter(plain))
        err.print(f"indexed {stats['crops']} crops in {stats['seconds']:.1f}s ({stats['per_second']:.0f}/s); "
                  f"{stats['total']} in {out_path}", highlight=False, markup=False)
        if stats["already_indexed"]:
            say(err, f"{stats['already_indexed']} crop(s) were in the index already, skipped", "note:", "cyan")
        if stats["ann"]:
            say(err, describe(stats["ann"]), "approximate search:", "cyan")
        for key, what in (("bad", "unreadable crop(s), skipped"), ("odd", "crop(s) that look degenerate, indexed")):
            if stats[key]:
                first = next(iter(stats[key].values()))
                say(err, f"{len(stats[key])} {what}, e.g. {first}", "warning:", "yellow")


def _index_on_cluster(model, sources, data, split, sets_dir, drop_err, subset, out_path, half, append, cluster,
                      shard_size, plain) -> None:
    from wordspot.index.build import collect_crops, dataset_crops
    from wordspot.index.distributed import index_on_cluster
    if append:
        raise WordspotError("--append goes with one index, not --cluster (rerun the same command to continue "
                            "an archive; index new sources into an archive of their own)")
    local = cluster.startswith("local:")
    if local and not cluster[6:].isdigit() or local and int(cluster[6:]) < 1:
        raise WordspotError(f"--cluster {cluster}: 'local:N' with N worker processes, or tcp://HOST:PORT")
    if not local and not cluster.startswith(("tcp://", "tls://", "inproc://")):
        raise WordspotError(f"--cluster {cluster}: 'local:N', or a Dask scheduler address such as tcp://HOST:8786")
    crops = collect_crops(sources) if sources else []
    if data:
        crops += dataset_crops(open_source(data, split, sets_dir, drop_err).subset(subset))
    stats = index_on_cluster(Path(model if Path(model).is_file() else Path(model) / "model.pt"), crops, out_path,
                             scheduler="" if local else cluster, workers=int(cluster[6:]) if local else 0,
                             shard_size=shard_size, dtype="float16" if half else "float32", reporter=_reporter(plain))
    err.print(f"indexed {stats['crops']} crops in {stats['shards_run']} of {stats['shards']} shard(s) on "
              f"{len(stats['hosts'])} host(s); {stats['already']} were indexed before; archive: {out_path}",
              highlight=False, markup=False)
    if stats["skipped"]:
        say(err, f"{stats['skipped']} unreadable crop(s), skipped", "warning:", "yellow")


# ---- query ---------------------------------------------------------------------------------------
def _parse_box(box: Optional[str]) -> Optional[tuple[int, int, int, int]]:
    if not box:
        return None
    try:
        x1, y1, x2, y2 = (int(v) for v in box.split(","))
    except ValueError:
        raise WordspotError(f"--box takes x1,y1,x2,y2 in pixels, got {box!r}") from None
    if x2 <= x1 or y2 <= y1 or min(x1, y1) < 0:
        raise WordspotError(f"--box {box}: needs 0 <= x1 < x2 and 0 <= y1 < y2 (left, top, right, bottom)")
    return (x1, y1, x2, y2)


def _hits_table(title: str, hits: list[Hit]) -> Table:
    t = Table(title=Text(title), title_justify="left")
    scored = any(h.score is not None for h in hits)
    for col in ("rank", *(("score",) if scored else ()), "distance", "where (file, or page and box)", "transcription",
                "lev"):
        t.add_column(col, justify="right" if col in ("rank", "score", "distance", "lev") else "left")
    for h in hits:
        t.add_row(str(h.rank), *((f"{h.score:.3f}",) if scored else ()), f"{h.distance:.5g}", Text(h.where),
                  Text(readable(h.crop.text)), "" if h.lev is None else str(h.lev))
    return t


def _write_csv(path: Path, results: list) -> None:
    import io

    from wordspot.files import atomic_write_text
    from wordspot.search.query import CSV_FIELDS, hit_rows
    if path.is_dir():
        raise WordspotError(f"--csv {path}: is a folder; give a file name")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for q, hits in results:
        w.writerows(hit_rows(q, hits))
    try:
        atomic_write_text(path, buf.getvalue())
    except OSError as e:
        raise WordspotError(f"--csv {path}: cannot write ({e.strerror})") from None
    say(err, f"{sum(len(h) for _, h in results)} hits to {path}", "wrote", "cyan")


@app.command()
def query(
    index_path: Path = typer.Argument(..., metavar="INDEX", help="Index folder made by 'wordspot index', or a "
                                      "folder of such indexes (shards of one collection, searched as one)."),
    word: Optional[str] = typer.Argument(None, help="Word to find (query by string)."),
    image: Optional[Path] = typer.Option(None, help="Example word image (query by example)."),
    box: Optional[str] = typer.Option(None, help="With --image: the word's box x1,y1,x2,y2 on that page image."),
    batch: Optional[Path] = typer.Option(None, help="File of queries, one a line: a word, or @IMAGE for an example."),
    model: Optional[Path] = typer.Option(None, help="Model (default: the one that built the index)."),
    k: int = typer.Option(10, "-k", "--top", help="How many hits."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Also write the hits to this CSV file (query, "
                                            "rank, score, distance, file, where, page, box, text, source)."),
    page_xml_dir: Optional[Path] = typer.Option(None, "--page-xml", help="Also write the hits as PAGE XML into "
                                                "this folder, one file a page (one query only)."),
    min_score: Optional[float] = typer.Option(None, help="Keep hits whose score (the probability that it is the "
                                              "word, from 0 to 1) is at least this; needs a calibrated model."),
    sheet: Optional[Path] = typer.Option(None, help="Draw the hit crops into this PNG (one query only)."),
    shard: Optional[list[Path]] = typer.Option(None, help="Another index of the same collection to search with "
                                                         "INDEX (repeat for more)."),
    exact: bool = typer.Option(False, help="Exact search even where the index has an approximate one."),
    root: Optional[Path] = typer.Option(None, help="Where the indexed collection is now, when it has moved since "
                                        "it was indexed (the index records the folder it was built from)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Search an index by typing a word or by showing an example image.

    Examples: wordspot query demo.idx great;  wordspot query demo.idx --image crop.png -k 5 --json
    """
    with cli_errors():
        asked = [x for x in (word, image, batch) if x is not None]
        if len(asked) != 1:
            raise WordspotError("give exactly one of WORD, --image or --batch")
        if k < 1:
            raise WordspotError(f"-k: must be at least 1, got {k}")
        if box is not None and image is None:
            raise WordspotError("--box goes with --image (the page image the box is on)")
        if sheet is not None and (sheet.suffix.lower() != ".png" or sheet.is_dir()):
            raise WordspotError(f"--sheet {sheet}: give a .png file name")
        parsed_box = _parse_box(box)
        shards = open_shards([index_path, *(shard or [])], root)
        model_path = model or shards[0].model_path
        if not model_path:
            raise WordspotError(f"{index_path}: the index does not say which model built it: give --model")
        if device not in ("auto", "cpu", "cuda"):
            raise WordspotError(f"--device: must be auto, cpu or cuda, got {device!r}")
        if batch is not None:
            queries = _batch_queries(batch)
        else:
            queries = [("", word, None)] if word is not None else [("", None, image)]
        if all(w is not None for _, w, _ in queries):
            # typed words only: the string side in NumPy, and PyTorch is never imported (a second saved)
            from wordspot.model.stringside import StringSide
            emb = StringSide.load(model_path)
        else:
            from wordspot.model.embedder import Embedder, resolve_device
            emb = Embedder.load(model_path, resolve_device(device))
        searcher = _searcher(emb, shards, model_path, exact=exact)
        if min_score is not None and not emb.calibration:
            raise WordspotError(f"--min-score: {model_path} gives no scores; calibrate it first "
                                f"(wordspot model calibrate {model_path} --data ...)")
        if min_score is not None and not 0 <= min_score <= 1:
            raise WordspotError(f"--min-score: a probability from 0 to 1, got {min_score}")
        results, failed = [], 0
        for where, w, img in queries:
            try:
                hits = searcher.by_string(w, k) if w is not None else searcher.by_example(img, parsed_box, k)
            except ValueError as e:  # WordspotError, or a word too long for the model
                if not where:
                    raise
                failed += 1  # one bad line of a batch does not cost the answers to the others
                say(err, f"{where}: {e}", "error:", "red")
                continue
            if min_score is not None:
                hits = [h for h in hits if h.score is not None and h.score >= min_score]
            results.append((w if w is not None else f"@{img}", hits))
            if min_score is None and searcher.shortfall(hits, k):
                say(err, f"{where + ': ' if where else ''}{searcher.shortfall(hits, k)} (--exact)", "note:", "yellow")
        gone = [h.crop.source for _, hits in results for h in hits if not Path(h.crop.source).exists()]
        if gone:
            was = shards[0].old_root
            say(err, f"{len(gone)} hit image(s) are not where the index says, e.g. {gone[0]}"
                     + (f"; if the collection moved from {was}, give --root with its folder now" if was else ""),
                "warning:", "yellow")
        if sheet is not None and results:
            missing = contact_sheet(results[0][1], sheet, title=f"{results[0][0]}  ({len(searcher):,} crops)")
            if missing:
                say(err, f"{len(missing)} hit image(s) not readable, named on the sheet: {missing[0]}", "warning:",
                    "yellow")
        if csv_path is not None:
            _write_csv(csv_path, results)
        if page_xml_dir is not None and results:
            from wordspot.search.query import page_xml
            files = page_xml(results[0][0], results[0][1], page_xml_dir)
            say(err, f"{len(files)} PAGE XML file(s) to {page_xml_dir}", "wrote", "cyan")
        if as_json:
            payload = [{"query": q, "hits": [h.as_dict() for h in hits]} for q, hits in results]
            print_json(payload if batch is not None else payload[0])
        else:
            for q, hits in results:
                out.print(_hits_table(f"{q}  ({len(searcher)} crops)", hits))
        if failed:
            raise WordspotError(f"{batch}: {failed} of {len(queries)} queries failed (see above)")


@app.command()
def serve(
    index_path: Optional[Path] = typer.Argument(None, metavar="INDEX", help="Index folder, or a folder of index "
                                                "shards (none with --remote)."),
    shard: Optional[list[Path]] = typer.Option(None, help="Another index of the same collection (repeat for more)."),
    model: Optional[Path] = typer.Option(None, help="Model (default: the one that built the index)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; the default answers this machine only."),
    port: int = typer.Option(8765, help="Port to listen on."),
    exact: bool = typer.Option(False, help="Exact search even where the index has an approximate one."),
    root: Optional[Path] = typer.Option(None, help="Where the indexed collection is now, when it has moved."),
    max_upload_mb: float = typer.Option(5.0, help="Largest example image a client may upload (MB)."),
    allow_host: Optional[list[str]] = typer.Option(None, help="A host name clients may address the server by, "
                                                   "besides this machine's and --host (repeat for more)."),
    remote: Optional[list[str]] = typer.Option(None, help="Instead of an index: a `wordspot serve` URL holding "
                                               "shards of the collection (repeat for each); queries go to all, "
                                               "hits are merged by distance."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Search an index from a browser: a search page and a JSON API, model and index kept loaded.

    Open http://127.0.0.1:8765 after: wordspot serve pages.idx

    Over shards served on several machines: wordspot serve --remote http://host1:8765 --remote http://host2:8765
    """
    with cli_errors():
        from wordspot.model.embedder import Embedder, resolve_device
        if not 0 < port < 65536:
            raise WordspotError(f"--port: 1 to 65535, got {port}")
        if max_upload_mb <= 0:
            raise WordspotError(f"--max-upload-mb: must be more than 0, got {max_upload_mb}")
        if remote:
            return _serve_front(index_path, shard, remote, host, port, int(max_upload_mb * 2**20), allow_host)
        if index_path is None:
            raise WordspotError("give an INDEX to serve, or --remote servers to put a front over")
        shards = open_shards([index_path, *(shard or [])], root)
        model_path = model or shards[0].model_path
        if not model_path:
            raise WordspotError(f"{index_path}: the index does not say which model built it: give --model")
        searcher = _searcher(Embedder.load(model_path, resolve_device(device)), shards, model_path, exact=exact,
                             warm=True)
        from wordspot.serve.app import run
        if host not in ("127.0.0.1", "localhost", "::1"):
            say(err, f"listening on {host}: anyone who can reach this machine can search the index and see its "
                     f"page images", "warning:", "yellow")
        err.print(f"serving {len(searcher):,} crops on http://{host}:{port}  (Ctrl-C stops)", highlight=False,
                  markup=False)
        run(searcher, host, port, int(max_upload_mb * 2**20), allow_host)


def _serve_front(index_path, shard, remote, host, port, max_upload, allow_host) -> None:
    if index_path is not None or shard:
        raise WordspotError("--remote serves other servers' indexes: give no INDEX or --shard with it")
    import uvicorn

    from wordspot.serve.front import connect, create_front
    from wordspot.serve.webkit import allowed_hosts
    remotes = connect(remote)
    err.print(f"serving {sum(r.info.get('crops', 0) for r in remotes):,} crops of {len(remotes)} servers on "
              f"http://{host}:{port}  (Ctrl-C stops)", highlight=False, markup=False)
    uvicorn.run(create_front(remotes, allowed_hosts(host, allow_host), max_upload=max_upload), host=host, port=port,
                log_level="warning")


def _searcher(emb, shards: list, model_path, **kw) -> Searcher:
    try:
        return Searcher(emb, shards, **kw)
    except IndexFileError as e:  # name the model too: either file may be the wrong one
        raise WordspotError(f"{e} (model {model_path})") from None


def _batch_queries(path: Path) -> list[tuple[str, Optional[str], Optional[Path]]]:
    """(file:line, word, image) per query line of a --batch file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise WordspotError(f"{path}: not UTF-8 text") from None
    queries = [(f"{path}:{n}", None, Path(ln.strip()[1:])) if ln.strip().startswith("@") else
               (f"{path}:{n}", ln.strip(), None) for n, ln in enumerate(lines, 1) if ln.strip()]
    if not queries:
        raise WordspotError(f"{path}: no queries (one word, or @IMAGE, a line)")
    return queries


# ---- eval ----------------------------------------------------------------------------------------
class _EvalGroup(TyperGroup):
    """`wordspot eval MODEL ...` means `wordspot eval spotting MODEL ...`."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args.insert(0, "spotting")
        return super().resolve_command(ctx, args)


eval_app = typer.Typer(cls=_EvalGroup, no_args_is_help=True, help=(
    "Measure a model: word spotting mAP (default) or how its string space tracks Levenshtein.\n\n"
    "Examples: wordspot eval runs/gw --data ../shared/data/washingtondb-v1.0 --split cv1;  "
    "wordspot eval strings runs/gw --words words.txt --plot strings.png"))
app.add_typer(eval_app, name="eval")


def _fmt(v: float, pct: bool = True) -> str:
    return "nan" if v != v else (f"{100 * v:.2f}" if pct else f"{v:.3f}")


@eval_app.command("spotting")
def eval_spotting(
    models: list[Path] = typer.Argument(..., help="Model(s). With --split all: one per fold, or one path containing {split}."),
    data: Optional[str] = typer.Option(None, help="'builtin' or a data set folder (see `wordspot data check`); "
                                       "default: the data the model's run folder was trained on."),
    split: Optional[str] = typer.Option(None, help=SPLIT_HELP + " 'all': every split (mean and std)."),
    sets_dir: Optional[str] = typer.Option(None, help=SETS_HELP),
    drop_err: bool = typer.Option(False, help=DROP_ERR_HELP),
    subset: str = typer.Option("test", help="Subset to evaluate on."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    per_query: Optional[Path] = typer.Option(None, "--csv", help="Write per-query QbS results to this CSV."),
    plot: Optional[Path] = typer.Option(None, help="Draw precision-recall curves, edit distance of the top k hits "
                                                   "and a 2-D map of words and images into this folder."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    plain: bool = typer.Option(False, help="Log lines instead of a progress bar."),
) -> None:
    """QbS and QbE mean average precision, P@1, and edit distance of the top hits.

    QbS is also split into queries out of the training vocabulary (OOV: never in the training
    transcriptions) and the rest; Spearman correlates query-image distance with edit distance.

    Protocol: transcriptions lower-cased to letters and digits; QbS queries are the distinct test
    words, QbE queries the test images whose word occurs twice or more (each left out of its own
    ranking). Example: wordspot eval runs/gw-{split} --data washingtondb-v1.0 --split all
    """
    with cli_errors():
        from wordspot.evaluation.evaluate import evaluate_index, index_labelled, summarise
        from wordspot.evaluation.plots import plot_spotting, spotting_curves
        from wordspot.model.embedder import Embedder, resolve_device
        dev = resolve_device(device)
        if data is None:
            known = _run_data(models[0])
            if known is None:
                raise WordspotError(f"give --data: {models[0]} does not say which data it was trained on")
            data = known["data"]
            split, sets_dir = split or known["split"], sets_dir or known["sets_dir"]
            say(err, f"the model's training data, {data}{f' --split {split}' if split else ''}, {subset} subset",
                "evaluating on", "cyan")
        if split == "all":
            folds = list_splits(data, sets_dir)
            if not folds:
                raise WordspotError(f"--split all needs a database with splits; {data} has none")
            if len(models) == 1 and "{split}" in str(models[0]):
                models = [Path(str(models[0]).format(split=f)) for f in folds]
            if len(models) != len(folds):
                raise WordspotError(f"--split all: give {len(folds)} models ({', '.join(folds)}) or one path with {{split}}")
        else:
            folds = [split]
            if len(models) != 1:
                raise WordspotError("give one model (several only with --split all)")
        rows, curves = {}, {}
        for fold, m in zip(folds, models):
            src = open_source(data, fold, sets_dir, drop_err)
            # out-of-vocabulary queries: words never seen in the training transcriptions
            vocab = [s.text for s in src.subset("train")] if subset != "train" and "train" in src.subsets else None
            emb = Embedder.load(m, dev)
            collection, stats = index_labelled(emb, src.subset(subset), _reporter(plain))
            rows[src.name] = evaluate_index(emb, collection, stats, vocab)
            if plot is not None:
                curves[f"{Path(m).name} {src.name}"] = spotting_curves(emb, collection)
        summary = summarise(list(rows.values()))
        if plot is not None:
            say(err, ", ".join(str(p) for p in plot_spotting(curves, plot)), "wrote", "cyan")
        if per_query is not None:
            with open(per_query, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["split", "query", "ap", "top1", "lev_top1", "oov"])
                for fold, r in rows.items():
                    for q in r["per_query"]:
                        w.writerow([fold, q["query"], f"{q['ap']:.6f}", q["top1"], q["lev_top1"], q.get("oov", "")])
        if as_json:
            print_json({"splits": {f: {k: v for k, v in r.items() if k != "per_query"} for f, r in rows.items()},
                        "summary": summary})
            return
        t = Table(title=Text(f"word spotting, {subset} set"), title_justify="left", caption_justify="left",
                  caption=Text("; ".join(f"{name}: QbS queries {r['qbs_queries']} ({r['qbs_dropped']} dropped, no "
                                         f"relevant image), QbE queries {r['qbe_queries']}" for name, r in rows.items())))
        # (key, column, as a percentage); the OOV split only when the data has a training subset
        cols = [("qbs_map", "QbS mAP", True), ("qbs_map_oov", "QbS OOV", True), ("qbs_map_inv", "QbS in-vocab", True),
                ("qbe_map", "QbE mAP", True), ("qbs_p_at_1", "QbS P@1", True), ("qbs_lev_top1", "lev@1", False),
                ("qbs_lev_top5", "lev@5", False), ("qbs_lev_top10", "lev@10", False),
                ("qbs_spearman", "Spearman", False), ("qbs_map_r1", "QbS ~1", True), ("qbs_map_r2", "QbS ~2", True),
                ("qbs_ece", "QbS ECE", False), ("qbe_ece", "QbE ECE", False)]
        has_oov = any(r.get("qbs_queries_oov") for r in rows.values())  # else every query was seen in training
        cols = [c for c in cols if c[0] in summary and (has_oov or c[0] not in ("qbs_map_oov", "qbs_map_inv"))]
        for col in ("data", "images", *(c[1] for c in cols)):
            t.add_column(col, justify="left" if col == "data" else "right")
        for name, r in rows.items():
            t.add_row(Text(name), str(r["images"]), *(_fmt(r[k], p) for k, _, p in cols))
        if len(rows) > 1:
            s = summary
            t.add_row("mean ± std", "", *(f"{_fmt(s[k]['mean'], p)} ± {_fmt(s[k]['std'], p)}" for k, _, p in cols))
        out.print(t)


@eval_app.command("strings")
def eval_strings(
    model: Path = typer.Argument(..., help="Model file or run folder."),
    words: Optional[Path] = typer.Option(None, help="Word list, one per line (or whitespace separated)."),
    data: Optional[str] = typer.Option(None, help="Take the words from a data set's transcriptions instead."),
    split: Optional[str] = typer.Option(None, help=SPLIT_HELP),
    sets_dir: Optional[str] = typer.Option(None, help=SETS_HELP),
    subset: str = typer.Option("test", help="Subset whose transcriptions are the words."),
    pairs: int = typer.Option(300_000, help="Pairs at most (all pairs of distinct words when fewer)."),
    close: int = typer.Option(3, help="Levenshtein distance up to which a pair counts as close."),
    seed: int = typer.Option(0, help="Seed for sampling pairs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    plot: Optional[Path] = typer.Option(None, help="Save embedding vs Levenshtein distance scatter plots (PNG)."),
) -> None:
    """Correlation of embedding distance with Levenshtein distance: LSDE, PHOC, n-gram bag.

    Example: wordspot eval strings runs/gw --data ../shared/data/washingtondb-v1.0 --split cv1
    """
    with cli_errors():
        from wordspot.evaluation.evaluate import evaluate_strings
        from wordspot.evaluation.plots import plot_strings
        from wordspot.model.embedder import Embedder
        if (words is None) == (data is None):
            raise WordspotError("give --words or --data")
        if words is not None:
            word_list = words.read_text(encoding="utf-8").split()
        else:
            word_list = [s.text for s in open_source(data, split, sets_dir).subset(subset)]
        emb = Embedder.load(model)
        res = evaluate_strings(emb, word_list, max_pairs=pairs, close=close, seed=seed)
        if plot is not None:
            plot_strings(res, plot)
        clean = {k: v for k, v in res.items() if not k.startswith("_")}
        clean["methods"] = {m: {k: v for k, v in r.items() if not k.startswith("_")} for m, r in res["methods"].items()}
        if as_json:
            print_json(clean)
            return
        t = Table(title=f"{res['words']} words, {res['pairs']} pairs, {res['close_pairs']} close (lev <= {close})",
                  title_justify="left")
        for col in ("method", "Pearson all", "Spearman all", "Pearson close", "Spearman close"):
            t.add_column(col, justify="left" if col == "method" else "right")
        for m, r in clean["methods"].items():
            t.add_row(m, *(_fmt(r[k], False) for k in ("all_pearson", "all_spearman", "close_pearson", "close_spearman")))
        out.print(t)


# ---- model ---------------------------------------------------------------------------------------
model_app = typer.Typer(no_args_is_help=True, help="Look after model files.")
app.add_typer(model_app, name="model")


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
def model_calibrate(
    model: Path = typer.Argument(..., help="Model file, or a run folder (its model.pt)."),
    data: Optional[str] = typer.Option(None, help="Labelled data to calibrate on (default: the run's data)."),
    split: Optional[str] = typer.Option(None, help=SPLIT_HELP),
    sets_dir: Optional[str] = typer.Option(None, help=SETS_HELP),
    subset: str = typer.Option("valid", help="Subset to calibrate on: a validation set, never the test set."),
) -> None:
    """Give a model's hits a score: the probability that a hit is the word asked for, fitted on
    labelled images (training does this on its validation set). Rankings and the model's id do not
    change, so indexes it built stay valid. Example: wordspot model calibrate runs/gw --data gw --split cv1
    """
    with cli_errors():
        from wordspot.training.run import calibrate_model
        known = _run_data(model) if data is None else None
        if data is None and known is None:
            raise WordspotError(f"give --data: {model} does not say which data it was trained on")
        if known:
            data, split, sets_dir = known["data"], split or known["split"], sets_dir or known["sets_dir"]
        if subset == "test":
            raise WordspotError("--subset test: calibrate on validation images; the test set is for measuring")
        emb = calibrate_model(model, open_source(data, split, sets_dir).subset(subset))
        say(err, f"{model}: scores calibrated on {data} {subset} "
                 f"({', '.join(f'{k} {v[0]:.3g} {v[1]:+.3g} log d' for k, v in emb.calibration.items())})")


# ---- data ----------------------------------------------------------------------------------------
data_app = typer.Typer(no_args_is_help=True, help="Look at a data set before training on it.")
app.add_typer(data_app, name="data")


@data_app.command("check")
def data_check(
    path: str = typer.Argument(..., metavar="DATA", help="'builtin' or a data set folder or label file."),
    split: Optional[str] = typer.Option(None, help=SPLIT_HELP),
    sets_dir: Optional[str] = typer.Option(None, help=SETS_HELP),
    drop_err: bool = typer.Option(False, help=DROP_ERR_HELP),
    read_images: bool = typer.Option(True, "--read-images/--no-read-images", help="Open every image to find unreadable ones."),
    keep_case: bool = typer.Option(False, help="Count words case-sensitively (default: lower-cased, as in the GW protocol)."),
    keep_punctuation: bool = typer.Option(False, help="Keep punctuation when counting words."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a report."),
) -> None:
    """Say what a data set holds and what is wrong with it: format, subsets, words, alphabet,
    unreadable images, special tokens, problems with file:line. Exits 1 when a subset is empty.

    Example: wordspot data check ../shared/data/washingtondb-v1.0 --split cv1
    """
    with cli_errors():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)  # the report lists them
            src = open_source(path, split, sets_dir, drop_err)
        report = check(src, TextNorm(not keep_case, not keep_punctuation), read_images)
        if as_json:
            print_json(report)
        else:
            say(out, f"{report['name']}: {report['format_description']}")
            t = Table()
            for col in ("subset", "words", "distinct words"):
                t.add_column(col, justify="left" if col == "subset" else "right")
            for name, c in report["subsets"].items():
                t.add_row(name, str(c["words"]), str(c["distinct"]))
            out.print(t)
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
            for line in lines:
                say(out, line)
            for p in report["problems"]:
                say(out, p, "problem:", "yellow")
            if not report["problems"]:
                out.print("no problems found")
        if any(not v["words"] for v in report["subsets"].values()):
            raise typer.Exit(1)


if __name__ == "__main__":
    app()
