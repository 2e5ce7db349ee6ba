"""`wordspot eval`: word spotting mAP of a model (`eval spotting`, the default) and its string space (`eval strings`)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from wordspot.cli.common import cli_errors, data_or_run, err, open_data, out, print_json, reporter, say
from wordspot.cli.options import DEVICE_HELP, SPLIT_HELP, command, data_group
from wordspot.errors import WordspotError
from wordspot.model.modelfile import is_line_reader


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

EvalDataOptions = data_group("'builtin' or a data set folder (see `wordspot data check`); default: the data the "
                             "model's run folder was trained on.", SPLIT_HELP + " 'all': every split (mean and std).")
WordsDataOptions = data_group("Take the words from a data set's transcriptions instead.", drop_err=False)

# (key, column, as a percentage) of the spotting table
COLUMNS = [("qbs_map", "QbS mAP", True), ("qbs_map_oov", "QbS OOV", True), ("qbs_map_inv", "QbS in-vocab", True),
           ("qbe_map", "QbE mAP", True), ("qbs_p_at_1", "QbS P@1", True), ("qbs_lev_top1", "lev@1", False),
           ("qbs_lev_top5", "lev@5", False), ("qbs_lev_top10", "lev@10", False),
           ("qbs_spearman", "Spearman", False), ("qbs_map_r1", "QbS ~1", True), ("qbs_map_r2", "QbS ~2", True),
           ("qbs_ece", "QbS ECE", False), ("qbe_ece", "QbE ECE", False)]


def _fmt(v: float, pct: bool = True) -> str:
    return "nan" if v != v else (f"{100 * v:.2f}" if pct else f"{v:.3f}")


def _folds(models: list[Path], data) -> tuple[list, list[Path]]:
    """The splits to evaluate on, and the model of each."""
    from wordspot.data import list_splits
    if data.split != "all":
        if len(models) != 1:
            raise WordspotError("give one model (several only with --split all)")
        return [data.split], models
    folds = list_splits(data.data, data.sets_dir)
    if not folds:
        raise WordspotError(f"--split all needs a database with splits; {data.data} has none")
    if len(models) == 1 and "{split}" in str(models[0]):
        models = [Path(str(models[0]).format(split=f)) for f in folds]
    if len(models) != len(folds):
        raise WordspotError(f"--split all: give {len(folds)} models ({', '.join(folds)}) or one path with {{split}}")
    return folds, models


def _write_per_query(path: Path, rows: dict) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["split", "query", "ap", "top1", "lev_top1", "oov"])
        for fold, r in rows.items():
            for q in r["per_query"]:
                w.writerow([fold, q["query"], f"{q['ap']:.6f}", q["top1"], q["lev_top1"], q.get("oov", "")])


def _spotting_table(rows: dict, summary: dict, subset: str) -> Table:
    t = Table(title=Text(f"word spotting, {subset} set"), title_justify="left", caption_justify="left",
              caption=Text("; ".join(f"{name}: QbS queries {r['qbs_queries']} ({r['qbs_dropped']} dropped, no "
                                     f"relevant image), QbE queries {r['qbe_queries']}" for name, r in rows.items())))
    has_oov = any(r.get("qbs_queries_oov") for r in rows.values())  # else every query was seen in training
    cols = [c for c in COLUMNS if c[0] in summary and (has_oov or c[0] not in ("qbs_map_oov", "qbs_map_inv"))]
    for col in ("data", "images", *(c[1] for c in cols)):
        t.add_column(col, justify="left" if col == "data" else "right")
    for name, r in rows.items():
        t.add_row(Text(name), str(r["images"]), *(_fmt(r[k], p) for k, _, p in cols))
    if len(rows) > 1:
        t.add_row("mean ± std", "", *(f"{_fmt(summary[k]['mean'], p)} ± {_fmt(summary[k]['std'], p)}"
                                      for k, _, p in cols))
    return t


def _eval_lines(folds: list, models: list[Path], data, subset: str, as_json: bool, device) -> None:
    """The line-level keyword spotting protocol (evaluation/kws.py) for line readers."""
    from wordspot.data import DataError, open_lines
    from wordspot.data.formats.fki_lines import word_positions
    from wordspot.evaluation.lines import evaluate_lines
    from wordspot.model.linereader import LineReader
    results = {}
    for fold, m in zip(folds, models):
        src = open_lines(data.data, fold, data.sets_dir)
        lines = src.subset(subset)
        keywords = src.keywords or sorted({t for line in lines for t in src.tokens[line.key]})
        try:
            positions = word_positions(data.data, lines)
        except (DataError, OSError):
            positions = None  # no word images: no localisation figure
        results[src.name] = evaluate_lines(LineReader.load(m, device), lines, src.tokens, keywords, positions)
    if as_json:
        print_json(results)
        return
    t = Table(title=Text(f"keyword spotting in lines, {subset} set"), title_justify="left")
    for col in ("data", "protocol", "gAP", "mAP", "keywords", "localised", "s / line"):
        t.add_column(col, justify="left" if col in ("data", "protocol") else "right")
    for name, r in results.items():
        for protocol in ("exact", "folded"):
            p = r[protocol]
            t.add_row(Text(name), protocol, _fmt(p["gap"]), _fmt(p["map"]),
                      f"{p['keywords_with_relevant']} of {p['keywords']}",
                      _fmt(p["localisation"]) if "localisation" in p else "-", f"{r['seconds_per_line']:.3f}")
    out.print(t)


@eval_app.command("spotting")
@command
def eval_spotting(
    models: list[Path] = typer.Argument(..., help="Model(s). With --split all: one per fold, or one path containing "
                                        "{split}."),
    subset: str = typer.Option("test", help="Subset to evaluate on."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    per_query: Optional[Path] = typer.Option(None, "--csv", help="Write per-query QbS results to this CSV."),
    plot: Optional[Path] = typer.Option(None, help="Draw precision-recall curves, edit distance of the top k hits "
                                                   "and a 2-D map of words and images into this folder."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    plain: bool = typer.Option(False, help="Log lines instead of a progress bar."),
    data=EvalDataOptions,
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
        if data.data is None:
            data = data_or_run(data, models[0])
            say(err, f"the model's training data, {data.data}{f' --split {data.split}' if data.split else ''}, "
                     f"{subset} subset", "evaluating on", "cyan")
        folds, models = _folds(models, data)
        if is_line_reader(models[0]):
            return _eval_lines(folds, models, data, subset, as_json, dev)
        rows, curves = {}, {}
        for fold, m in zip(folds, models):
            src = open_data(type(data)(**{**vars(data), "split": fold}))
            # out-of-vocabulary queries: words never seen in the training transcriptions
            vocab = [s.text for s in src.subset("train")] if subset != "train" and "train" in src.subsets else None
            emb = Embedder.load(m, dev)
            collection, stats = index_labelled(emb, src.subset(subset), reporter(plain))
            rows[src.name] = evaluate_index(emb, collection, stats, vocab)
            if plot is not None:
                curves[f"{Path(m).name} {src.name}"] = spotting_curves(emb, collection)
        summary = summarise(list(rows.values()))
        if plot is not None:
            say(err, ", ".join(str(p) for p in plot_spotting(curves, plot)), "wrote", "cyan")
        if per_query is not None:
            _write_per_query(per_query, rows)
        if as_json:
            print_json({"splits": {f: {k: v for k, v in r.items() if k != "per_query"} for f, r in rows.items()},
                        "summary": summary})
            return
        out.print(_spotting_table(rows, summary, subset))


@eval_app.command("strings")
@command
def eval_strings(
    model: Path = typer.Argument(..., help="Model file or run folder."),
    words: Optional[Path] = typer.Option(None, help="Word list, one per line (or whitespace separated)."),
    subset: str = typer.Option("test", help="Subset whose transcriptions are the words."),
    pairs: int = typer.Option(300_000, help="Pairs at most (all pairs of distinct words when fewer)."),
    close: int = typer.Option(3, help="Levenshtein distance up to which a pair counts as close."),
    seed: int = typer.Option(0, help="Seed for sampling pairs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    plot: Optional[Path] = typer.Option(None, help="Save embedding vs Levenshtein distance scatter plots (PNG)."),
    data=WordsDataOptions,
) -> None:
    """Correlation of embedding distance with Levenshtein distance: LSDE, PHOC, n-gram bag.

    Example: wordspot eval strings runs/gw --data ../shared/data/washingtondb-v1.0 --split cv1
    """
    with cli_errors():
        from wordspot.evaluation.evaluate import evaluate_strings
        from wordspot.evaluation.plots import plot_strings
        from wordspot.model.embedder import Embedder
        if (words is None) == (data.data is None):
            raise WordspotError("give --words or --data")
        if words is not None:
            word_list = words.read_text(encoding="utf-8").split()
        else:
            word_list = [s.text for s in open_data(data, subset)]
        res = evaluate_strings(Embedder.load(model), word_list, max_pairs=pairs, close=close, seed=seed)
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
