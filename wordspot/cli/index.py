"""`wordspot index`: embed word crops into an index folder, here or on a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from wordspot.cli.common import cli_errors, err, open_data, reporter, say
from wordspot.cli.options import DEVICE_HELP, command, data_group
from wordspot.errors import WordspotError
from wordspot.index.store import is_index
from wordspot.index.writer import check_target
from wordspot.model.modelfile import is_line_reader
from wordspot.search.backend import ANN_MIN, describe

IndexDataOptions = data_group("Index a data set instead: 'builtin' or a data set folder.")


def _crops(sources, data, subset: str) -> list:
    from wordspot.index.build import collect_crops, dataset_crops
    crops = collect_crops(sources) if sources else []
    if data.data:
        crops += dataset_crops(open_data(data, subset))
    return crops


def _report(stats: dict, out_path: Path) -> None:
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


@command
def index(
    model: Path = typer.Argument(..., help="Model file, or a run folder (its model.pt)."),
    sources: Optional[list[Path]] = typer.Argument(None, help="Word images, folders, page images' box .txt files, "
                                                   "PAGE or ALTO .xml files."),
    subset: str = typer.Option("test", help="train, valid, test or all."),
    out_path: Path = typer.Option(..., "--out", help="Index folder to write (made if missing)."),
    append: bool = typer.Option(False, help="Add to an existing index (same model) instead of replacing it; "
                                            "crops already in it are skipped."),
    half: bool = typer.Option(False, "--half", help="Store vectors as float16: half the size; rankings "
                                                    "unchanged on George Washington (README)."),
    ann: Optional[bool] = typer.Option(None, "--ann/--no-ann", help="Also build an approximate search "
                                       f"for large indexes; default: from {ANN_MIN:,} crops on."),
    cluster: Optional[str] = typer.Option(None, help="Embed on a Dask cluster, one task a shard: 'local:N' (N "
                                          "worker processes here) or a scheduler address tcp://HOST:8786. "
                                          "--out is then an archive folder of shards and a manifest."),
    shard_size: int = typer.Option(100_000, help="With --cluster: crops a shard (one task)."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    plain: bool = typer.Option(False, help="Log lines instead of a progress bar."),
    data=IndexDataOptions,
) -> None:
    """Embed word crops with a model's image CNN and save them as a searchable index folder.

    A folder may hold word images, page images each with a .txt of boxes (x1 y1 x2 y2 [text] per
    line) or PAGE / ALTO XML files. The index is written a chunk at a time: if the command is
    stopped, the previous index stays as it was, and running the same command again continues
    where it stopped. Example: wordspot index runs/demo pages/ --out pages.idx
    """
    with cli_errors():
        from wordspot.index.build import index_crops, open_index
        from wordspot.model.embedder import Embedder, resolve_device
        if not sources and not data.data:
            raise WordspotError("give SOURCES or --data")
        if is_line_reader(model):
            return _index_lines(model, sources, data, subset, out_path, device, plain)
        if cluster:
            return _index_on_cluster(model, sources, data, subset, out_path, half, append, cluster, shard_size,
                                     plain)
        check_target(out_path, append)  # before loading the model, not after
        emb = Embedder.load(model, resolve_device(device))
        if append and out_path.exists() and is_index(out_path) and (out_path / "index.json").exists():
            open_index(out_path).check_model(emb)  # before the work, not after
        stats = index_crops(emb, _crops(sources, data, subset), out_path, model_path=str(Path(model).resolve()),
                            append=append, dtype="float16" if half else "float32", ann=ann, reporter=reporter(plain))
        _report(stats, out_path)


def _index_lines(model: Path, sources, data, subset: str, out_path: Path, device: str, plain: bool) -> None:
    """A line reader's index: every line read once, searched for any keyword later without the model."""
    from wordspot.data import open_lines
    from wordspot.data.crops import collect_crops
    from wordspot.index.lines import build_line_index
    from wordspot.model.embedder import resolve_device
    from wordspot.model.linereader import LineReader
    lines = collect_crops(sources, lines=True) if sources else []  # line images, or page files' lines
    if data.data:
        lines += open_lines(data.data, data.split, data.sets_dir).subset(subset)
    reader = LineReader.load(model, resolve_device(device))
    stats = build_line_index(reader, lines, out_path, str(Path(model).resolve()), reporter(plain))
    err.print(f"indexed {stats['lines']} lines in {stats['seconds']:.1f}s "
              f"({stats['lines'] / max(stats['seconds'], 1e-9):.1f}/s) in {out_path}", highlight=False, markup=False)
    if stats["skipped"]:
        say(err, f"{len(stats['skipped'])} unreadable line image(s), skipped, e.g. "
                 f"{next(iter(stats['skipped'].values()))}", "warning:", "yellow")


def _index_on_cluster(model, sources, data, subset, out_path, half, append, cluster, shard_size, plain) -> None:
    from wordspot.index.distributed import index_on_cluster
    if append:
        raise WordspotError("--append goes with one index, not --cluster (rerun the same command to continue "
                            "an archive; index new sources into an archive of their own)")
    local = cluster.startswith("local:")
    if local and not cluster[6:].isdigit() or local and int(cluster[6:]) < 1:
        raise WordspotError(f"--cluster {cluster}: 'local:N' with N worker processes, or tcp://HOST:PORT")
    if not local and not cluster.startswith(("tcp://", "tls://", "inproc://")):
        raise WordspotError(f"--cluster {cluster}: 'local:N', or a Dask scheduler address such as tcp://HOST:8786")
    stats = index_on_cluster(Path(model if Path(model).is_file() else Path(model) / "model.pt"),
                             _crops(sources, data, subset), out_path,
                             scheduler="" if local else cluster, workers=int(cluster[6:]) if local else 0,
                             shard_size=shard_size, dtype="float16" if half else "float32", reporter=reporter(plain))
    err.print(f"indexed {stats['crops']} crops in {stats['shards_run']} of {stats['shards']} shard(s) on "
              f"{len(stats['hosts'])} host(s); {stats['already']} were indexed before; archive: {out_path}",
              highlight=False, markup=False)
    if stats["skipped"]:
        say(err, f"{stats['skipped']} unreadable crop(s), skipped", "warning:", "yellow")

