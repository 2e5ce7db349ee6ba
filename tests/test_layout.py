"""The folder tree keeps the design (ARCHITECTURE.md): small modules and functions, each method, data format
and search backend said in one place. These read the source; they pass or fail the same on any machine."""

import ast
import inspect
from pathlib import Path

import pytest

import wordspot
from wordspot.cli import app
from wordspot.data.formats import FORMATS
from wordspot.methods import METHODS

ROOT = Path(wordspot.__file__).parent
MODULES = sorted(ROOT.rglob("*.py"))


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"))


def _where(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_no_module_over_300_lines_and_no_function_over_60():
    long_modules = [(_where(p), n) for p in MODULES if (n := len(p.read_text().splitlines())) > 300]
    long_functions = [(_where(p), node.name, node.end_lineno - node.lineno + 1) for p in MODULES
                      for node in ast.walk(_tree(p)) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.end_lineno - node.lineno + 1 > 60]
    assert not long_modules and not long_functions


def _commands(group) -> list:
    import typer.main
    click_group = typer.main.get_command(group)
    out = []
    for name, cmd in click_group.commands.items():
        if hasattr(cmd, "commands"):
            out += [(f"{name} {sub}", c) for sub, c in cmd.commands.items()]
        else:
            out.append((name, cmd))
    return out


def test_no_command_function_takes_more_than_12_parameters():
    import typer.main
    group = typer.main.get_group(app)
    functions = [(name, cmd.callback) for name, cmd in _commands(app)]
    assert len(functions) >= 9 and group is not None
    for name, fn in functions:
        fn = inspect.unwrap(fn)
        assert len(inspect.signature(fn).parameters) <= 12, name


def _string_comparisons(path: Path, names: set[str]) -> list[str]:
    """`x == "name"`, `x != "name"` and `x in ("name", ...)` with one of `names`, as file:line."""
    found = []
    for node in ast.walk(_tree(path)):
        if not isinstance(node, ast.Compare):
            continue
        for right in node.comparators:
            values = right.elts if isinstance(right, (ast.Tuple, ast.List, ast.Set)) else [right]
            if any(isinstance(v, ast.Constant) and v.value in names for v in values):
                found.append(f"{_where(path)}:{node.lineno}")
    return found


@pytest.mark.parametrize("names, home", [(set(METHODS), "methods/"), (set(FORMATS) - {"builtin"}, "data/")])
def test_no_branch_on_a_method_or_format_name_outside_its_folder(names, home):
    outside = [p for p in MODULES if not _where(p).startswith(home)]
    assert [hit for p in outside for hit in _string_comparisons(p, names)] == []


def test_faiss_is_named_only_by_its_backend():
    allowed = {"search/faiss_ivf.py", "search/backend.py"}
    named = [_where(p) for p in MODULES if "faiss" in p.read_text().lower() and _where(p) not in allowed]
    assert named == []


def test_a_query_by_string_imports_no_pytorch_through_the_registries():
    import subprocess
    import sys
    code = ("import sys; import wordspot.methods, wordspot.data.formats, wordspot.search.backend, "
            "wordspot.model.stringside, wordspot.search.query; print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_old_import_paths_and_the_public_api_still_import():
    """Code written against the flat layout (wordspot.embedder, ...) keeps working (wordspot/_moved.py)."""
    from wordspot.datasets import WordSample, open_source
    from wordspot.embedder import Embedder
    from wordspot.query import Searcher
    from wordspot.rankings import FusedRanking
    from wordspot.store import Crop

    from wordspot.index import Index, index_crops
    from wordspot.training import train

    assert WordSample("a.png", "word").text == "word" and WordSample("a.png", "word").path == "a.png"
    assert Crop is wordspot.Crop and Embedder is wordspot.Embedder and Searcher is wordspot.Searcher
    assert open_source is wordspot.open_source and train is wordspot.train and index_crops is wordspot.index_crops
    assert Index is wordspot.Index and FusedRanking.name == "both"
    assert sorted(wordspot.__all__) == wordspot.__all__ and all(getattr(wordspot, n) for n in wordspot.__all__)
