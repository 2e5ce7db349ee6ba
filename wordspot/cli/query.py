"""`wordspot query` and `wordspot serve`: search an index from the shell or from a browser."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from wordspot.cli.common import check_device, cli_errors, err, out, print_json, say, write_csv
from wordspot.cli.line_index import query_lines, serve_lines
from wordspot.cli.options import IndexOptions, command, group
from wordspot.data.imaging import parse_box
from wordspot.data.text import readable
from wordspot.errors import WordspotError
from wordspot.index.lines import is_line_index
from wordspot.index.store import IndexFileError, open_shards
from wordspot.search.query import Hit, Searcher, contact_sheet

OutputOptions = group(
    "OutputOptions",
    as_json=(bool, typer.Option(False, "--json", help="Print JSON instead of a table.")),
    csv_path=(Optional[Path], typer.Option(None, "--csv", help="Also write the hits to this CSV file (query, rank, "
                                           "score, distance, file, where, page, box, text, source).")),
    page_xml_dir=(Optional[Path], typer.Option(None, "--page-xml", help="Also write the hits as PAGE XML into this "
                                               "folder, one file a page (one query only).")),
    sheet=(Optional[Path], typer.Option(None, help="Draw the hit crops into this PNG (one query only).")),
)


def batch_queries(path: Path) -> list[tuple[str, Optional[str], Optional[Path]]]:
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


def open_searcher(index_path: Path, idx, words_only: bool = False, warm: bool = False) -> tuple[Searcher, Path]:
    """The index (and its --shard) with its model: the string side alone (no PyTorch) for typed words only."""
    shards = open_shards([index_path, *(idx.shard or [])], idx.root)
    model_path = idx.model or shards[0].model_path
    if not model_path:
        raise WordspotError(f"{index_path}: the index does not say which model built it: give --model")
    check_device(idx.device)
    if words_only:  # typed words only: the string side in NumPy, and PyTorch is never imported (a second saved)
        from wordspot.model.stringside import StringSide
        emb = StringSide.load(model_path)
    else:
        from wordspot.model.embedder import Embedder, resolve_device
        emb = Embedder.load(model_path, resolve_device(idx.device))
    try:
        return Searcher(emb, shards, exact=idx.exact, warm=warm), Path(model_path)
    except IndexFileError as e:  # name the model too: either file may be the wrong one
        raise WordspotError(f"{e} (model {model_path})") from None


def _hits_table(title: str, hits: list[Hit]) -> Table:
    t = Table(title=Text(title), title_justify="left")
    scored = any(h.score is not None for h in hits)
    read = any(h.reading is not None for h in hits)  # edit-radius hits: the distance is the reading's edits
    for col in ("rank", *(("score",) if scored else ()), "edits" if read else "distance",
                "where (file, or page and box)", *(("read as",) if read else ()), "transcription", "lev"):
        t.add_column(col, justify="right" if col in ("rank", "score", "distance", "edits", "lev") else "left")
    for h in hits:
        t.add_row(str(h.rank), *((f"{h.score:.3f}",) if scored else ()), f"{h.distance:.5g}", Text(h.where),
                  *((Text(readable(h.reading or "")),) if read else ()), Text(readable(h.crop.text)),
                  "" if h.lev is None else str(h.lev))
    return t


def _search(searcher: Searcher, queries: list, box, k: int, min_score: Optional[float]) -> tuple[list, int]:
    """(query, hits) for each query that ran, and how many failed (a bad line of a batch costs only itself)."""
    results, failed = [], 0
    for where, w, img in queries:
        try:
            hits = searcher.by_string(w, k) if w is not None else searcher.by_example(img, box, k)
        except ValueError as e:  # WordspotError, or a word too long for the model
            if not where:
                raise
            failed += 1
            say(err, f"{where}: {e}", "error:", "red")
            continue
        if min_score is not None:
            hits = [h for h in hits if h.score is not None and h.score >= min_score]
        results.append((w if w is not None else f"@{img}", hits))
        if min_score is None and searcher.shortfall(hits, k):
            say(err, f"{where + ': ' if where else ''}{searcher.shortfall(hits, k)} (--exact)", "note:", "yellow")
    return results, failed


def _write_outputs(searcher: Searcher, results: list, output, several: bool) -> None:
    gone = [h.crop.source for _, hits in results for h in hits if not Path(h.crop.source).exists()]
    if gone:
        was = searcher.indexes[0].old_root
        say(err, f"{len(gone)} hit image(s) are not where the index says, e.g. {gone[0]}"
                 + (f"; if the collection moved from {was}, give --root with its folder now" if was else ""),
            "warning:", "yellow")
    if output.sheet is not None and results:
        missing = contact_sheet(results[0][1], output.sheet, title=f"{results[0][0]}  ({len(searcher):,} crops)")
        if missing:
            say(err, f"{len(missing)} hit image(s) not readable, named on the sheet: {missing[0]}", "warning:",
                "yellow")
    if output.csv_path is not None:
        from wordspot.search.query import hit_rows
        write_csv(output.csv_path, [row for q, hits in results for row in hit_rows(q, hits)])
    if output.page_xml_dir is not None and results:
        from wordspot.search.query import page_xml
        files = page_xml(results[0][0], results[0][1], output.page_xml_dir)
        say(err, f"{len(files)} PAGE XML file(s) to {output.page_xml_dir}", "wrote", "cyan")
    if output.as_json:
        payload = [{"query": q, "hits": [h.as_dict() for h in hits]} for q, hits in results]
        print_json(payload if several else payload[0])
    else:
        for q, hits in results:
            out.print(_hits_table(f"{q}  ({len(searcher)} crops)", hits))


@command
def query(
    index_path: Path = typer.Argument(..., metavar="INDEX", help="Index folder made by 'wordspot index', or a "
                                      "folder of such indexes (shards of one collection, searched as one)."),
    word: Optional[str] = typer.Argument(None, help="Word to find (query by string)."),
    image: Optional[Path] = typer.Option(None, help="Example word image (query by example)."),
    box: Optional[str] = typer.Option(None, help="With --image: the word's box x1,y1,x2,y2 on that page image."),
    batch: Optional[Path] = typer.Option(None, help="File of queries, one a line: a word, or @IMAGE for an example."),
    k: int = typer.Option(10, "-k", "--top", help="How many hits."),
    min_score: Optional[float] = typer.Option(None, help="Keep hits whose score (the probability that it is the "
                                              "word, from 0 to 1) is at least this; needs a calibrated model."),
    idx=IndexOptions,
    output=OutputOptions,
) -> None:
    """Search an index by typing a word or by showing an example image.

    Examples: wordspot query demo.idx great;  wordspot query demo.idx --image crop.png -k 5 --json
    """
    with cli_errors():
        if len([x for x in (word, image, batch) if x is not None]) != 1:
            raise WordspotError("give exactly one of WORD, --image or --batch")
        if k < 1:
            raise WordspotError(f"-k: must be at least 1, got {k}")
        if box is not None and image is None:
            raise WordspotError("--box goes with --image (the page image the box is on)")
        if output.sheet is not None and (output.sheet.suffix.lower() != ".png" or output.sheet.is_dir()):
            raise WordspotError(f"--sheet {output.sheet}: give a .png file name")
        parsed_box = parse_box(box)
        if batch is not None:
            queries = batch_queries(batch)
        else:
            queries = [("", word, None)] if word is not None else [("", None, image)]
        if is_line_index(index_path):
            if min_score is not None:
                raise WordspotError("--min-score: a line index's scores are not probabilities; leave it out")
            return query_lines(index_path, queries, k, output, idx.exact, parsed_box, idx.model, idx.device)
        searcher, model_path = open_searcher(index_path, idx, words_only=all(w is not None for _, w, _ in queries))
        if min_score is not None and not searcher.emb.calibration:
            raise WordspotError(f"--min-score: {model_path} gives no scores; calibrate it first "
                                f"(wordspot model calibrate {model_path} --data ...)")
        if min_score is not None and not 0 <= min_score <= 1:
            raise WordspotError(f"--min-score: a probability from 0 to 1, got {min_score}")
        results, failed = _search(searcher, queries, parsed_box, k, min_score)
        _write_outputs(searcher, results, output, several=batch is not None)
        if failed:
            raise WordspotError(f"{batch}: {failed} of {len(queries)} queries failed (see above)")


@command
def serve(
    index_path: Optional[Path] = typer.Argument(None, metavar="INDEX", help="Index folder, or a folder of index "
                                                "shards (none with --remote)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; the default answers this machine only."),
    port: int = typer.Option(8765, help="Port to listen on."),
    max_upload_mb: float = typer.Option(5.0, help="Largest example image a client may upload (MB)."),
    allow_host: Optional[list[str]] = typer.Option(None, help="A host name clients may address the server by, "
                                                   "besides this machine's and --host (repeat for more)."),
    iiif_origin: Optional[list[str]] = typer.Option(None, help="A web site whose IIIF viewer may read the manifest, "
                                                    "images and search (e.g. https://projectmirador.org; '*' for "
                                                    "any); repeat for more. None by default."),
    remote: Optional[list[str]] = typer.Option(None, help="Instead of an index: a `wordspot serve` URL holding "
                                               "shards of the collection (repeat for each); queries go to all, "
                                               "hits are merged by distance."),
    idx=IndexOptions,
) -> None:
    """Search an index from a browser: a search page and a JSON API, model and index kept loaded.

    Open http://127.0.0.1:8765 after: wordspot serve pages.idx

    Over shards served on several machines: wordspot serve --remote http://host1:8765 --remote http://host2:8765
    """
    with cli_errors():
        if not 0 < port < 65536:
            raise WordspotError(f"--port: 1 to 65535, got {port}")
        if max_upload_mb <= 0:
            raise WordspotError(f"--max-upload-mb: must be more than 0, got {max_upload_mb}")
        if iiif_origin and (remote or (index_path is not None and is_line_index(index_path))):
            raise WordspotError("--iiif-origin: only a server over a word index has IIIF resources")
        if remote:
            if index_path is not None or idx.shard:
                raise WordspotError("--remote serves other servers' indexes: give no INDEX or --shard with it")
            return _serve_front(remote, host, port, int(max_upload_mb * 2**20), allow_host)
        if index_path is None:
            raise WordspotError("give an INDEX to serve, or --remote servers to put a front over")
        if host not in ("127.0.0.1", "localhost", "::1"):
            say(err, f"listening on {host}: anyone who can reach this machine can search the index and see its "
                     f"page images", "warning:", "yellow")
        if is_line_index(index_path):
            return serve_lines(index_path, host, port, allow_host, int(max_upload_mb * 2**20))
        searcher, _ = open_searcher(index_path, idx, warm=True)
        from wordspot.serve.app import run
        err.print(f"serving {len(searcher):,} crops on http://{host}:{port}  (Ctrl-C stops)", highlight=False,
                  markup=False)
        if iiif_origin:
            err.print(f"IIIF manifest: http://{host}:{port}/iiif/manifest (readable by {', '.join(iiif_origin)})",
                      highlight=False, markup=False)
        run(searcher, host, port, int(max_upload_mb * 2**20), allow_host, iiif_origin)


def _serve_front(remote, host, port, max_upload, allow_host) -> None:
    import uvicorn

    from wordspot.serve.front import connect, create_front
    from wordspot.serve.webkit import allowed_hosts
    remotes = connect(remote)
    err.print(f"serving {sum(r.info.get('crops', 0) for r in remotes):,} crops of {len(remotes)} servers on "
              f"http://{host}:{port}  (Ctrl-C stops)", highlight=False, markup=False)
    uvicorn.run(create_front(remotes, allowed_hosts(host, allow_host), max_upload=max_upload), host=host, port=port,
                log_level="warning")
