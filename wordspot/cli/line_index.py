"""`wordspot query` and `wordspot serve` over a line index: keywords found inside text lines."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text

from wordspot.cli.common import check_device, err, out, print_json, say, write_csv
from wordspot.data.text import readable
from wordspot.errors import WordspotError


def query_lines(index_path: Path, queries: list, k: int, output, exact: bool, box=None, model: str | None = None,
                device: str = "auto") -> None:
    """Keywords in a line index: the lines most likely to hold each, and where in the line. An example image
    is read by the index's line reader and searched as what it reads."""
    from wordspot.index.lines import LineIndex
    from wordspot.search.line_query import LineSearcher
    index = LineSearcher(LineIndex(index_path))
    if any(w is None for _, w, _ in queries):
        queries = _read_examples(index, queries, box, model, device)
    results = [(w, index.search(w, k, exact=exact)) for _, w, _ in queries]
    for q, hits in results:
        if index.shortfall(hits, k):
            say(err, f"{q}: {index.shortfall(hits, k)} (--exact)", "note:", "yellow")
    if output.sheet is not None and results:
        from wordspot.search.line_query import line_sheet
        missing = line_sheet(results[0][1], output.sheet, title=f"{results[0][0]}  ({len(index):,} lines)")
        if missing:
            say(err, f"{len(missing)} line image(s) not readable: {missing[0]}", "warning:", "yellow")
    if output.page_xml_dir is not None and results:
        from wordspot.search.line_query import line_page_xml
        files = line_page_xml(results[0][0], results[0][1], output.page_xml_dir)
        say(err, f"{len(files)} PAGE XML file(s) to {output.page_xml_dir}", "wrote", "cyan")
    if output.csv_path is not None:
        from wordspot.search.line_query import line_hit_rows
        write_csv(output.csv_path, [row for q, hits in results for row in line_hit_rows(q, hits)])
    if output.as_json:
        payload = [{"query": q, "hits": [h.as_dict() for h in hits]} for q, hits in results]
        print_json(payload if len(payload) > 1 else payload[0])
        return
    for q, hits in results:
        t = Table(title=Text(f"{q}  ({len(index)} lines)"), title_justify="left")
        for col in ("rank", "score", "line", "box", "transcription"):
            t.add_column(col, justify="right" if col in ("rank", "score") else "left")
        for h in hits:
            t.add_row(str(h.rank), f"{h.score:.3g}", Text(Path(h.line.source).name),
                      ",".join(map(str, h.box)) if h.box else "", Text(readable(h.line.text)))
        out.print(t)


def _read_examples(index, queries: list, box, model: str | None, device: str) -> list:
    """Each example image of `queries` replaced by what the index's line reader reads in it (said on stderr)."""
    from wordspot.data import Crop
    from wordspot.data.imaging import crop_part, read_grey
    from wordspot.model.embedder import resolve_device
    from wordspot.search.line_query import index_reader, read_example
    check_device(device)
    reader = index_reader(index.index, model, resolve_device(device))
    out = []
    for where, w, img in queries:
        if w is None:
            grey = crop_part(read_grey(img), Crop(str(img), "", box, ""))  # its errors name the file
            try:
                w = read_example(reader, grey)
            except WordspotError as e:
                raise WordspotError(f"{img}: {e}") from None
            say(err, f"{img}: read as {readable(w)!r}; searching for that", "note:", "cyan")
        out.append((where, w, None))
    return out


def serve_lines(index_path: Path, host: str, port: int, allow_host, max_upload: int) -> None:
    import uvicorn

    from wordspot.index.lines import LineIndex
    from wordspot.search.line_query import LineSearcher
    from wordspot.serve.lines import create_line_app
    from wordspot.serve.webkit import allowed_hosts
    index = LineSearcher(LineIndex(index_path))
    err.print(f"serving {len(index):,} text lines on http://{host}:{port}  (Ctrl-C stops)", highlight=False,
              markup=False)
    uvicorn.run(create_line_app(index, allowed_hosts(host, allow_host), max_upload), host=host, port=port,
                log_level="warning")
