"""Files wordspot reads never run code, and are written whole or not at all."""

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from wordspot.cli import app
from wordspot.files import FileFormatError, load_tree, save_tree, upgrade_torch_file
from wordspot.model.embedder import Embedder, ModelError


class _Evil:
    """Unpickling this runs a command: what a crafted model file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_tree_round_trip_keeps_types():
    tree = {"kind": "x", "n": 3, "f": 0.5, "nan": float("nan"), "np": np.float64(2.5), "s": "é[/]",
            "t": torch.arange(6, dtype=torch.float32).reshape(2, 3), "rng": torch.get_rng_state(),
            "int_keys": {0: {"step": torch.tensor(4.0)}, 1: {}}, "tuple": (0.9, 0.999), "none": None,
            "big": 2**100, "nested": [{"a": [1, 2]}], "arr": np.arange(3)}
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"tree-{os.getpid()}.pt"
    save_tree(tree, path)
    back = load_tree(path)
    path.unlink()
    assert torch.equal(back["t"], tree["t"]) and torch.equal(back["rng"], tree["rng"])
    assert back["int_keys"][0]["step"].item() == 4.0 and list(back["int_keys"]) == [0, 1]
    assert math.isnan(back["nan"]) and back["np"] == 2.5 and back["big"] == 2**100
    assert back["s"] == "é[/]" and back["tuple"] == [0.9, 0.999] and back["none"] is None
    assert np.array_equal(back["arr"], np.arange(3))


def test_crafted_pickle_model_is_refused_before_anything_runs(tmp_path, tiny_run):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"kind": "model", "payload": _Evil(marker)}, evil)
    with pytest.raises(ModelError, match="old pickle format.*wordspot model upgrade"):
        Embedder.load(evil)
    r = CliRunner().invoke(app, ["index", str(evil), "--data", "builtin", "--out", str(tmp_path / "x.idx")])
    assert r.exit_code == 1 and "old pickle format" in r.output
    with pytest.raises(FileFormatError, match="refused by the restricted loader"):
        upgrade_torch_file(evil)
    r = CliRunner().invoke(app, ["model", "upgrade", str(evil)])
    assert r.exit_code == 1 and "refused" in r.output and "Traceback" not in r.output
    assert not marker.exists()
    assert not (tmp_path / "x.idx").exists()


def test_old_format_model_upgrades_and_gives_the_same_vectors(tmp_path, tiny_run):
    emb = Embedder.load(tiny_run)
    old = tmp_path / "old.pt"
    blob = emb.state()
    blob.update(format_version=1, info={"stage": "joint", "val_score": np.float64(0.5)})  # as older wordspot wrote
    torch.save(blob, old)
    r = CliRunner().invoke(app, ["model", "upgrade", str(old)])
    assert r.exit_code == 0, r.output
    again = Embedder.load(old)
    assert again.model_id() == emb.model_id()
    assert np.allclose(again.embed_strings(["great"]), emb.embed_strings(["great"]))


def test_damaged_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelError, match="not a readable wordspot file"):
        Embedder.load(bad)


def _zip_with(path: Path, members: dict[str, bytes], compress: int = 8) -> None:
    import zipfile
    with zipfile.ZipFile(path, "w", compression=compress) as z:
        for name, data in members.items():
            z.writestr(name, data)


def _npy(array: np.ndarray) -> bytes:
    import io
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_model_file_members_are_checked_before_they_are_decompressed(tmp_path):
    good = tmp_path / "good.pt"
    save_tree({"kind": "x", "w": np.arange(4.0)}, good)
    import zipfile
    with zipfile.ZipFile(good) as z:
        members = {n: z.read(n) for n in z.namelist()}
    # an unreferenced member of zeros: 64 MB compressed to about 64 KB, never decompressed
    bomb = tmp_path / "bomb.pt"
    _zip_with(bomb, {**members, "extra.npy": _npy(np.zeros(2**23))})
    assert bomb.stat().st_size < 2**20
    with pytest.raises(FileFormatError, match="refused: 1 member\\(s\\) the file does not use \\(extra\\)"):
        load_tree(bomb)
    # the same zeros in a member the tree names: refused for its expansion
    t0 = [n for n in members if n != "__tree__.npy"][0]
    _zip_with(bomb, {**members, t0: _npy(np.zeros(2**23))})
    with pytest.raises(FileFormatError, match="refused: member t0 would expand to"):
        load_tree(bomb)
    # a header declaring a far larger array than the member holds
    liar = _npy(np.zeros(4)).replace(b"(4,), ", b"(4000000000,), ").replace(b" " * 9 + b"\n", b"\n")
    _zip_with(bomb, {**members, t0: liar}, compress=0)
    with pytest.raises(FileFormatError, match="refused: member t0 declares an array of shape \\(4000000000,\\)"):
        load_tree(bomb)
    # a member over the size limit
    with pytest.raises(FileFormatError, match="refused: member t0 would expand"):
        load_tree(good, limit=8)
    assert np.array_equal(load_tree(good)["w"], np.arange(4.0))
