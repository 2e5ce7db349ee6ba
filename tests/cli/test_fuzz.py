"""Bad inputs and faults against the command line and the loaders: each must end in a non-zero exit
or an explicit warning, with one line naming the input, no traceback, and no partial or corrupt file.

A table of crafted files and options (CLI, in-process) plus property-based inputs for the loaders.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from wordspot.cli import app
from wordspot.data import load_folder, open_source
from wordspot.data.pagefiles import FormatError, read_box_file, read_xml
from wordspot.errors import WordspotError
from wordspot.files import load_tree, save_tree

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_clean_failure(r, *names: str) -> None:
    """Non-zero exit, no traceback, the error on one line that names the input."""
    assert r.exit_code != 0, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert errors, r.output
    for name in names:
        assert name in r.output, (name, r.output)


@pytest.fixture(scope="module")
def ws(tiny_run, tiny_data, tmp_path_factory):
    """A workspace: the tiny model, a good index of its test words, and a folder for crafted files."""
    root = tmp_path_factory.mktemp("fuzz")
    idx = root / "good.idx"
    assert run("index", tiny_run, "--data", tiny_data, "--out", idx, "--plain").exit_code == 0
    return {"root": root, "run": tiny_run, "data": tiny_data, "idx": idx,
            "example": load_folder(tiny_data).subset("test")[0].path}


# ---- crafted model files ------------------------------------------------------------------------
def _npz(path: Path, **arrays) -> Path:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    return path


def _tree(ws, name: str, edit) -> Path:
    blob = load_tree(ws["run"] / "model.pt")
    edit(blob)
    save_tree(blob, ws["root"] / name)
    return ws["root"] / name


MODEL_CASES = {
    "empty": lambda ws: _write(ws, "m-empty.pt", b""),
    "random": lambda ws: _write(ws, "m-random.pt", os.urandom(4096)),
    "text": lambda ws: _write(ws, "m-text.pt", b"hello, I am not a model\n"),
    "json": lambda ws: _write(ws, "m.json", json.dumps({"kind": "model"}).encode()),
    "truncated": lambda ws: _write(ws, "m-trunc.pt", (ws["run"] / "model.pt").read_bytes()[:500]),
    "half": lambda ws: _write(ws, "m-half.pt", (ws["run"] / "model.pt").read_bytes()[:-2000]),
    "zip-without-tree": lambda ws: _zip(ws, "m-zip.pt", {"a.txt": b"x"}),
    "npz-no-tree": lambda ws: _npz(ws["root"] / "m-npz.pt", a=np.zeros(3)),
    "npz-tree-not-json": lambda ws: _npz(ws["root"] / "m-nj.pt", __tree__=np.array("{not json")),
    "npz-wrong-magic": lambda ws: _npz(ws["root"] / "m-magic.pt", __tree__=np.array('{"magic": "x", "tree": {}}')),
    "npz-object-array": lambda ws: _npz(ws["root"] / "m-obj.pt", __tree__=np.array([{"a": 1}], dtype=object)),
    "wrong-kind": lambda ws: _tree(ws, "m-kind.pt", lambda b: b.update(kind="index")),
    "future-version": lambda ws: _tree(ws, "m-future.pt", lambda b: b.update(format_version=99)),
    "version-string": lambda ws: _tree(ws, "m-vstr.pt", lambda b: b.update(format_version="3")),
    "no-config": lambda ws: _tree(ws, "m-nocfg.pt", lambda b: b.pop("config")),
    "bad-config": lambda ws: _tree(ws, "m-badcfg.pt", lambda b: b["config"].update(image_height=0)),
    "no-alphabet": lambda ws: _tree(ws, "m-noalpha.pt", lambda b: b.update(alphabet=[])),
    "missing-weights": lambda ws: _tree(ws, "m-noweights.pt", lambda b: b["image_net"].popitem()),
    "wrong-shape": lambda ws: _tree(ws, "m-shape.pt", lambda b: b["image_net"].update(
        {next(iter(b["image_net"])): torch.zeros(1)})),
    "string-net-not-dict": lambda ws: _tree(ws, "m-sn.pt", lambda b: b.update(string_net=[1, 2])),
    "unknown-method": lambda ws: _tree(ws, "m-method.pt", lambda b: b["config"].update(method="ocr")),
    "old-pickle-evil": lambda ws: _evil(ws),
    "folder-without-model": lambda ws: _mkdir(ws, "m-folder"),
    "fifo": lambda ws: _fifo(ws, "m-fifo.pt"),
}


def _write(ws, name: str, data: bytes) -> Path:
    (ws["root"] / name).write_bytes(data)
    return ws["root"] / name


def _zip(ws, name: str, files: dict) -> Path:
    with zipfile.ZipFile(ws["root"] / name, "w") as z:
        for k, v in files.items():
            z.writestr(k, v)
    return ws["root"] / name


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/wordspot-fuzz-pwned",))


def _evil(ws) -> Path:
    torch.save({"kind": "model", "x": _Evil()}, ws["root"] / "m-evil.pt")
    return ws["root"] / "m-evil.pt"


def _mkdir(ws, name: str) -> Path:
    (ws["root"] / name).mkdir(parents=True, exist_ok=True)
    return ws["root"] / name


def _fifo(ws, name: str) -> Path:
    p = ws["root"] / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if not p.exists():
        os.mkfifo(p)
    return p


@pytest.mark.parametrize("case", MODEL_CASES)
@pytest.mark.parametrize("command", ["index", "query", "eval"])
def test_crafted_model_files(ws, case, command):
    path = MODEL_CASES[case](ws)
    out = ws["root"] / f"out-{case}-{command}.idx"
    if command == "index":
        r = run("index", path, "--data", ws["data"], "--out", out)
    elif command == "query":
        r = run("query", ws["idx"], "great", "--model", path)
    else:
        r = run("eval", path, "--data", ws["data"])
    assert_clean_failure(r, path.name)
    assert not out.exists() and not Path("/tmp/wordspot-fuzz-pwned").exists()


# ---- crafted index files ------------------------------------------------------------------------
def _index(ws, name: str, edit) -> Path:
    """A copy of the good index folder, then `edit(folder, meta)` (meta: its index.json, written back
    unless the edit replaced or moved the file)."""
    folder = ws["root"] / name
    shutil.copytree(ws["idx"], folder)
    before = (folder / "index.json").read_text()
    meta = json.loads(before)
    edit(folder, meta)
    if (folder / "index.json").exists() and (folder / "index.json").read_text() == before:
        (folder / "index.json").write_text(json.dumps(meta))
    return folder


def _meta(**changes):
    return lambda folder, meta: meta.update(changes)


def _sql(statement: str):
    def edit(folder, meta):
        import sqlite3
        with sqlite3.connect(next(folder.glob("crops-*.sqlite"))) as db:
            db.execute(statement)
    return edit


def _old_npz(ws, name: str) -> Path:
    meta = {"format": 2, "kind": "wordspot-index", "model_id": "x", "crops": []}
    return _npz(ws["root"] / name, vectors=np.zeros((0, 4), np.float32), meta=np.array(json.dumps(meta)))


def _vectors(fill):
    def edit(folder, meta):
        f = next(folder.glob("vectors-*.bin"))
        f.write_bytes(fill(f.read_bytes()))
    return edit


INDEX_CASES = {
    "empty": lambda ws: _write(ws, "i-empty.idx", b""),
    "random": lambda ws: _write(ws, "i-random.idx", os.urandom(2048)),
    "model-file": lambda ws: ws["run"] / "model.pt",
    "old-single-file": lambda ws: _old_npz(ws, "i-old.idx"),
    "folder": lambda ws: _mkdir(ws, "i-folder.idx"),
    "fifo": lambda ws: _fifo(ws, "i-fifo.idx"),
    "missing": lambda ws: ws["root"] / "i-missing.idx",
    "meta-not-json": lambda ws: _index(ws, "i-nj.idx", lambda f, m: (f / "index.json").write_text("{")),
    "meta-list": lambda ws: _index(ws, "i-list.idx", lambda f, m: (f / "index.json").write_text("[1]")),
    "meta-huge": lambda ws: _index(ws, "i-huge.idx", lambda f, m: (f / "index.json").write_text(" " * 2**24 + "{}")),
    "wrong-kind": lambda ws: _index(ws, "i-kind.idx", _meta(kind="x")),
    "old-format": lambda ws: _index(ws, "i-fmt.idx", _meta(format=2)),
    "count-more": lambda ws: _index(ws, "i-more.idx", lambda f, m: m.update(count=m["count"] + 5)),
    "count-text": lambda ws: _index(ws, "i-ctext.idx", _meta(count="5")),
    "count-negative": lambda ws: _index(ws, "i-cneg.idx", _meta(count=-1)),
    "wrong-dim": lambda ws: _index(ws, "i-dim.idx", _meta(dim=3)),
    "int-vectors": lambda ws: _index(ws, "i-int.idx", _meta(dtype="int64")),
    "no-model-id": lambda ws: _index(ws, "i-noid.idx", lambda f, m: m.pop("model_id")),
    "vectors-missing": lambda ws: _index(ws, "i-novec.idx", lambda f, m: next(f.glob("vectors-*")).unlink()),
    "vectors-short": lambda ws: _index(ws, "i-short.idx", _vectors(lambda b: b[:-100])),
    "nan-vectors": lambda ws: _index(ws, "i-nan.idx", _vectors(lambda b: np.full(len(b) // 4, np.nan, np.float32).tobytes())),
    "records-missing": lambda ws: _index(ws, "i-norec.idx", lambda f, m: next(f.glob("crops-*")).unlink()),
    "records-junk": lambda ws: _index(ws, "i-junk.idx", lambda f, m: next(f.glob("crops-*")).write_bytes(os.urandom(4096))),
    "record-deleted": lambda ws: _index(ws, "i-del.idx", _sql("DELETE FROM crops WHERE id = 3")),
    "record-box-reversed": lambda ws: _index(ws, "i-box.idx", _sql("UPDATE crops SET x1 = 9, y1 = 9, x2 = 1, y2 = 1 WHERE id = 2")),
    "record-box-text": lambda ws: _index(ws, "i-boxs.idx", _sql("UPDATE crops SET x1 = 'a', y1 = 1, x2 = 5, y2 = 5 WHERE id = 2")),
    "sources-gone": lambda ws: _index(ws, "i-nosrc.idx", _sql("DROP TABLE sources")),
    "unfinished": lambda ws: _index(ws, "i-unfinished.idx", lambda f, m: (f / "index.json").rename(f / "build.json")),
}


@pytest.mark.parametrize("case", INDEX_CASES)
def test_crafted_index_files(ws, case):
    path = INDEX_CASES[case](ws)
    r = run("query", path, "great", "--json", "-k", "1000")  # every row: damaged records are read too
    assert_clean_failure(r, path.name)


def _folder_with_a_file(ws) -> Path:
    folder = ws["root"] / "notes"
    folder.mkdir(exist_ok=True)
    (folder / "letter.txt").write_text("keep me")
    return folder


@pytest.mark.parametrize("case", ["random", "model-file", "notes-folder"])
def test_index_out_that_is_not_an_index_is_never_overwritten(ws, case):
    path = _folder_with_a_file(ws) if case == "notes-folder" else INDEX_CASES[case](ws)
    before = path.read_bytes() if path.is_file() else sorted(p.name for p in path.iterdir())
    r = run("index", ws["run"], "--data", ws["data"], "--out", path)
    assert_clean_failure(r, path.name)
    assert (path.read_bytes() if path.is_file() else sorted(p.name for p in path.iterdir())) == before


# ---- images ------------------------------------------------------------------------------------
def _image(ws, name: str, img: np.ndarray | None = None, data: bytes | None = None) -> Path:
    p = ws["root"] / "imgs" / name
    p.parent.mkdir(exist_ok=True)
    if data is not None:
        p.write_bytes(data)
    else:
        assert cv2.imwrite(str(p), img)
    return p


BAD_IMAGES = {
    "zero-byte.png": lambda ws: _image(ws, "zero-byte.png", data=b""),
    "text.png": lambda ws: _image(ws, "text.png", data=b"not an image at all"),
    "truncated.png": lambda ws: _image(ws, "truncated.png", data=Path(ws["example"]).read_bytes()[:60]),
    "random.jpg": lambda ws: _image(ws, "random.jpg", data=os.urandom(500)),
    "fifo.png": lambda ws: _fifo(ws, "imgs/fifo.png"),
    "folder.png": lambda ws: _mkdir(ws, "imgs/folder.png"),
    "missing.png": lambda ws: ws["root"] / "imgs" / "missing.png",
}
ODD_IMAGES = {
    "1x1.png": lambda ws: _image(ws, "1x1.png", np.zeros((1, 1), np.uint8)),
    "blank.png": lambda ws: _image(ws, "blank.png", np.full((40, 90), 255, np.uint8)),
    "black.png": lambda ws: _image(ws, "black.png", np.zeros((40, 90), np.uint8)),
    "thin.png": lambda ws: _image(ws, "thin.png", np.tile(np.array([0, 255], np.uint8), (5, 600))),
    "tall.png": lambda ws: _image(ws, "tall.png", np.tile(np.array([[0], [255]], np.uint8), (600, 5))),
}
GOOD_IMAGES = {
    "alpha-ink.png": lambda ws: _image(ws, "alpha-ink.png", _alpha_ink()),
    "alpha-noise.png": lambda ws: _image(ws, "alpha-noise.png", _alpha_ink(noise=True)),
    "16bit.png": lambda ws: _image(ws, "16bit.png", (cv2.imread(ws["example"], 0).astype(np.uint16) * 257)),
    "colour.jpg": lambda ws: _image(ws, "colour.jpg", cv2.imread(ws["example"])),
    "grey.tif": lambda ws: _image(ws, "grey.tif", cv2.imread(ws["example"], 0)),
    "name with [markup].png": lambda ws: _image(ws, "name with [markup].png", cv2.imread(ws["example"], 0)),
}


def _alpha_ink(noise: bool = False) -> np.ndarray:
    """The word drawn only in the alpha channel; under it black, or noise that transparency hides."""
    img = np.zeros((40, 90, 4), np.uint8)
    if noise:
        img[:, :, :3] = np.random.default_rng(0).integers(0, 255, (40, 90, 3))
    mask = np.zeros((40, 90), np.uint8)
    cv2.putText(mask, "great", (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 255, 2)
    img[:, :, 3] = mask
    img[mask > 0, :3] = 0
    return img


@pytest.mark.parametrize("case", BAD_IMAGES)
def test_unreadable_image_alone_fails_and_writes_nothing(ws, case):
    path = BAD_IMAGES[case](ws)
    out = ws["root"] / f"bad-{case}.idx"
    r = run("index", ws["run"], path, "--out", out)
    assert_clean_failure(r)
    assert not out.exists()


@pytest.mark.parametrize("case", BAD_IMAGES)
def test_unreadable_image_among_good_ones_is_skipped_with_a_warning(ws, case):
    bad = BAD_IMAGES[case](ws)
    out = ws["root"] / f"mixed-{case}.idx"
    if bad.is_dir():
        r = run("index", ws["run"], bad, ws["example"], "--out", out)
        assert r.exit_code == 0 and "warning:" in r.output and "no word images" in r.output, r.output
    elif bad.exists():
        r = run("index", ws["run"], bad, ws["example"], "--out", out)
        assert r.exit_code == 0, r.output
        assert "1 unreadable crop(s), skipped" in r.output and "Traceback" not in r.output
        assert json.loads(run("query", out, "great", "--json").stdout)["hits"][0]["source"] == ws["example"]
    else:  # a missing file named on the command line is refused before any work
        r = run("index", ws["run"], bad, ws["example"], "--out", out)
        assert_clean_failure(r, bad.name)


@pytest.mark.parametrize("case", ODD_IMAGES)
def test_degenerate_image_is_indexed_with_a_warning(ws, case):
    path = ODD_IMAGES[case](ws)
    out = ws["root"] / f"odd-{case}.idx"
    r = run("index", ws["run"], path, "--out", out)
    assert r.exit_code == 0 and "look degenerate" in r.output and case in r.output, r.output


@pytest.mark.parametrize("case", GOOD_IMAGES)
def test_unusual_but_good_images_index_and_query_by_example(ws, case):
    path = GOOD_IMAGES[case](ws)
    out = ws["root"] / f"good-{case}.idx"
    r = run("index", ws["run"], path, ws["example"], "--out", out)
    assert r.exit_code == 0 and "unreadable" not in r.output and "degenerate" not in r.output, r.output
    r = run("query", out, "--image", path, "--json", "-k", "1")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["hits"][0]["source"] == ws["example"]  # itself left out of its ranking


def test_transparent_png_is_read_as_ink_on_white(ws):
    from wordspot.data.imaging import read_grey
    grey = read_grey(GOOD_IMAGES["alpha-ink.png"](ws))
    assert grey[0, 0] == 255 and grey.min() == 0  # paper white, ink black


# ---- queries -----------------------------------------------------------------------------------
QUERY_WORDS = ["[/]", "[bold]after", "[red]x[/red]", "\\[escaped", "...", "", " ", "a" * 200, "ünïcödé",
               "zzzz", "great\ttab", "-k", "😀", "\x00", "[link=file:///etc/passwd]x[/link]"]


@pytest.mark.parametrize("word", QUERY_WORDS)
def test_query_words_are_printed_literally_or_refused_clearly(ws, word):
    r = run("query", ws["idx"], "--", word) if word.startswith("-") else run("query", ws["idx"], word)
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)
    if r.exit_code == 0:
        if word.strip() and "\x00" not in word:
            assert word.strip()[:30].expandtabs(8) in r.output  # the title shows the query as typed
    else:
        assert_clean_failure(r)


@pytest.mark.parametrize("args, names", [
    (["great", "-k", "0"], ["-k"]), (["great", "-k", "-3"], ["-k"]),
    (["--image", "{example}", "--box", "1,2,3"], ["--box"]),
    (["--image", "{example}", "--box", "5,5,1,1"], ["--box"]),
    (["--image", "{example}", "--box", "-1,0,5,5"], ["--box"]),
    (["--image", "{example}", "--box", "a,b,c,d"], ["--box"]),
    (["--image", "{example}", "--box", "10000,10000,10005,10005"], ["outside"]),
    (["great", "--box", "1,1,5,5"], ["--box"]),
    (["--image", "{root}/nope.png"], ["nope.png"]),
    (["--image", "{root}/imgs/fifo.png"], ["fifo.png"]),
    (["--image", "{root}/imgs/text.png"], ["text.png"]),
    (["great", "--sheet", "{root}/hits.txt"], ["--sheet"]),
    (["great", "--sheet", "{root}"], ["--sheet"]),
    (["great", "--image", "{example}"], ["exactly one"]),
    ([], ["exactly one"]),
    (["great", "--model", "{root}/nope.pt"], ["nope.pt"]),
    (["great", "--device", "tpu"], ["tpu"]),
])
def test_bad_query_options(ws, args, names):
    BAD_IMAGES["fifo.png"](ws)
    BAD_IMAGES["text.png"](ws)
    fill = {"example": ws["example"], "root": ws["root"]}
    r = run("query", ws["idx"], *[a.format(**fill) for a in args])
    assert_clean_failure(r, *names)
    assert not (ws["root"] / "hits.txt").exists()


@pytest.mark.parametrize("lines, good", [
    (["great", "...", "camp"], 2), (["@{root}/nope.png", "great"], 1),
    (["@{root}/imgs/text.png"], 0), (["...", "!!"], 0),
])
def test_batch_reports_bad_lines_and_answers_the_others(ws, lines, good):
    BAD_IMAGES["text.png"](ws)
    batch = ws["root"] / "batch.txt"
    batch.write_text("\n".join(ln.format(root=ws["root"]) for ln in lines) + "\n")
    r = run("query", ws["idx"], "--batch", batch, "--json")
    assert_clean_failure(r, "batch.txt:")
    answers = json.loads(r.stdout) if r.stdout.strip() else []
    assert len(answers) == good


def test_a_query_longer_than_the_model_is_answered_with_a_warning(ws):
    r = run("query", ws["idx"], "a" * 100, "--json")
    assert r.exit_code == 0 and "longer than the 16 positions" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\xff\xfe\x00bad utf"])
def test_empty_or_binary_batch_file(ws, content):
    batch = ws["root"] / "b.txt"
    batch.write_bytes(content)
    assert_clean_failure(run("query", ws["idx"], "--batch", batch), "b.txt")


# ---- training options --------------------------------------------------------------------------
@pytest.mark.parametrize("args, names", [
    (["--height", "0"], ["--height", "16 to 512"]), (["--height", "8"], ["--height"]),
    (["--height", "100000"], ["--height"]), (["--dim", "0"], ["--dim"]), (["--dim", "-5"], ["--dim"]),
    (["--max-len", "0"], ["--max-len"]), (["--string-steps", "0"], ["--string-steps"]),
    (["--string-steps", "-1"], ["--string-steps"]), (["--image-epochs", "0"], ["--image-epochs"]),
    (["--joint-epochs", "0"], ["--joint-epochs"]), (["--image-minutes", "-1"], ["--image-minutes"]),
    (["--joint-minutes", "-0.5"], ["--joint-minutes"]), (["--image-minutes", "inf"], ["--image-minutes"]),
    (["--image-minutes", "nan"], ["--image-minutes"]), (["--seed", "-1"], ["--seed"]),
    (["--val-every", "-2"], ["--val-every"]), (["--method", "ocr"], ["--method", "lsde, phoc"]),
    (["--image-loss", "sofmax"], ["--image-loss", "euclidean"]), (["--device", "tpu"], ["--device"]),
    (["--members", "0"], ["--members", "2 or more"]), (["--method", "phoc", "--members", "-1"], ["--members -1"]),
    (["bogus"], ["unknown stage"]),
    (["--stage", "string", "--method", "phoc"], ["only the image stage"]),
    (["--resume"], ["last.pt"]), (["--data", "/nonexistent"], ["/nonexistent"]),
    (["--data", "{root}/empty-folder"], ["not a data set"]), (["--data", "{data}", "--split", "cv9"], []),
    (["--words", "{root}/nowords.txt", "--stage", "string"], ["nowords.txt"]),
    (["--words", "{root}/empty-words.txt", "--stage", "string"], ["--words"]),
    (["--out-is-file"], ["is a file"]),
])
def test_bad_train_options_fail_before_any_work(ws, args, names, tmp_path):
    (ws["root"] / "empty-folder").mkdir(exist_ok=True)
    (ws["root"] / "empty-words.txt").write_text("\n")
    out = tmp_path / "run"
    if args == ["--out-is-file"]:
        out.write_text("x")
        args = []
    fill = {"root": ws["root"], "data": ws["data"]}
    full = ["train", "--out", out, *[a.format(**fill) for a in args]]
    if "--data" not in args and "--words" not in args and "--resume" not in args:
        full += ["--data", ws["data"]]
    r = run(*full)
    assert_clean_failure(r, *names)
    assert not out.is_dir() or not any(out.glob("*.pt"))  # no work was done


@pytest.mark.train
def test_resume_with_other_data_is_refused(ws, tmp_path, tiny_data):
    from conftest import tiny_config

    from wordspot.training.run import train
    src = load_folder(tiny_data)
    out = tmp_path / "run"
    train(tiny_config(string_steps=20, image_epochs=1, joint_epochs=1), out, train_set=src.subset("train"),
          stages=("string", "image"))
    other = tmp_path / "other"
    shutil.copytree(tiny_data, other)
    (other / "train.tsv").write_text("\n".join((other / "train.tsv").read_text().splitlines()[:-3]) + "\n")
    r = run("train", "--out", out, "--resume", "--data", other)
    assert_clean_failure(r, "training data differs")


# ---- loaders: property-based --------------------------------------------------------------------
text_lines = st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40), max_size=8)
FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _expect_clean(fn) -> None:
    """The loader either works or raises a WordspotError; nothing else escapes."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fn()
        except WordspotError as e:
            assert str(e) and "\n" not in str(e).strip()


@FAST
@given(labels=text_lines, train=text_lines)
def test_fki_loader_on_arbitrary_text(tmp_path_factory, labels, train):
    root = tmp_path_factory.mktemp("fki")
    (root / "ground_truth").mkdir()
    (root / "ground_truth" / "word_labels.txt").write_text("\n".join(labels), encoding="utf-8")
    (root / "sets" / "cv1").mkdir(parents=True)
    for name in ("train", "valid", "test"):
        (root / "sets" / "cv1" / f"{name}.txt").write_text("\n".join(train), encoding="utf-8")
    _expect_clean(lambda: open_source(str(root)).subset("train"))


@FAST
@given(lines=text_lines)
def test_iam_loader_on_arbitrary_text(tmp_path_factory, lines):
    root = tmp_path_factory.mktemp("iam")
    (root / "ascii").mkdir()
    (root / "ascii" / "words.txt").write_text("\n".join(lines), encoding="utf-8")
    (root / "sets" / "a").mkdir(parents=True)
    (root / "sets" / "a" / "train.txt").write_text("a01\n")
    _expect_clean(lambda: open_source(str(root)).subset("all"))


@FAST
@given(lines=text_lines)
def test_tsv_loader_on_arbitrary_text(tmp_path_factory, lines):
    root = tmp_path_factory.mktemp("tsv")
    (root / "train.tsv").write_text("\n".join(lines), encoding="utf-8")
    _expect_clean(lambda: open_source(str(root)).subset("train"))


xml_text = st.one_of(
    st.text(max_size=200),
    st.builds(lambda a, b, c: f'<PcGts><Page imageFilename="{a}"><TextLine id="l"><Word id="w">'
                              f'<Coords points="{b}"/><TextEquiv><Unicode>{c}</Unicode></TextEquiv></Word>'
                              f"</TextLine></Page></PcGts>",
              st.text(max_size=10), st.text(max_size=30), st.text(max_size=10)),
    st.builds(lambda a, b, c, d: f'<alto><Layout><String ID="s" HPOS="{a}" VPOS="{b}" WIDTH="{c}" HEIGHT="1" '
                                 f'CONTENT="{d}"/></Layout></alto>',
              st.text(max_size=5), st.integers(-5, 5), st.text(max_size=5), st.text(max_size=8)),
)


@FAST
@given(xml=xml_text)
# found by this test: U+0085 is whitespace to str.split(), so these points were no point at all
@example(xml='<PcGts><Page imageFilename="0"><TextLine id="l"><Word id="w"><Coords points="\x85"/>'
             '</Word></TextLine></Page></PcGts>')
def test_page_and_alto_readers_on_arbitrary_xml(tmp_path_factory, xml):
    root = tmp_path_factory.mktemp("xml")
    (root / "p.xml").write_text(xml, encoding="utf-8")
    _expect_clean(lambda: read_xml(root / "p.xml"))
    _expect_clean(lambda: open_source(str(root)).subset("all"))


COORDS = ["inf", "nan", "-inf", "1e300", "99999999", "-1e12"]


@pytest.mark.parametrize("bad", COORDS)
def test_coordinates_that_are_not_finite_or_beyond_any_page_are_one_clear_error(tmp_path, bad):
    import cv2
    cv2.imwrite(str(tmp_path / "p.png"), np.full((100, 200), 255, np.uint8))
    files = {
        "p.xml": f'<PcGts><Page imageFilename="p.png" imageWidth="200" imageHeight="100"><TextLine id="l">'
                 f'<Word id="w"><Coords points="10,10 {bad},10 {bad},30 10,30"/><TextEquiv><Unicode>great'
                 f'</Unicode></TextEquiv></Word></TextLine></Page></PcGts>',
        "a.xml": f'<alto><Description><sourceImageInformation><fileName>p.png</fileName></sourceImageInformation>'
                 f'</Description><Layout><Page WIDTH="200" HEIGHT="100"><String ID="s" HPOS="{bad}" VPOS="1" '
                 f'WIDTH="5" HEIGHT="5" CONTENT="x"/></Page></Layout></alto>',
        "p.txt": f"10 10 {bad} 30 great\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        reader = read_box_file if name.endswith(".txt") else read_xml
        with pytest.raises(FormatError, match=f"{name}.*(finite|beyond any page|empty box|outside the 200x100)"):
            reader(tmp_path / name)
        (tmp_path / name).unlink()


def test_boxes_are_clipped_to_the_page_and_one_outside_it_refused(tmp_path):
    (tmp_path / "p.xml").write_text(
        '<PcGts><Page imageFilename="p.png" imageWidth="200" imageHeight="100"><TextLine id="l">'
        '<Word id="w"><Coords points="-5,90 210,90 210,120 -5,120"/><TextEquiv><Unicode>great</Unicode>'
        '</TextEquiv></Word></TextLine></Page></PcGts>')
    assert read_xml(tmp_path / "p.xml").words[0].box == (0, 90, 200, 100)
    (tmp_path / "p.xml").write_text((tmp_path / "p.xml").read_text().replace("-5,90", "300,90")
                                    .replace("-5,120", "300,120"))
    with pytest.raises(FormatError, match="lies outside the 200x100 page"):
        read_xml(tmp_path / "p.xml")


# ---- concurrent writers ------------------------------------------------------------------------
def test_two_concurrent_appends_lose_nothing(ws, tmp_path):
    import subprocess
    import sys
    idx = tmp_path / "shared.idx"
    shutil.copytree(ws["idx"], idx)
    n = len(json.loads(run("query", idx, "great", "-k", "1000", "--json").stdout)["hits"])
    cmd = [sys.executable, "-m", "wordspot.cli", "index", str(ws["run"]), "--data", str(ws["data"]),
           "--subset", "{}", "--out", str(idx), "--append", "--plain", "--device", "cpu"]
    procs = [subprocess.Popen([a.format(part) for a in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for part in ("valid", "train")]
    outs = [p.communicate(timeout=300)[0].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    added = sum(len(load_folder(ws["data"]).subset(part)) for part in ("valid", "train"))
    after = json.loads(run("query", idx, "great", "-k", "1000", "--json").stdout)["hits"]
    assert len(after) == n + added  # both runs' crops are there
