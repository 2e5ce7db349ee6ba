"""The NumPy string side agrees with the PyTorch model, and a query by string never imports PyTorch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from wordspot.data.text import LongWordWarning
from wordspot.model.embedder import Embedder
from wordspot.model.stringside import StringSide

WORDS = ["great", "orders", "the", "virginia", "camp", "a", "letters"]


def test_string_side_matches_the_model(tiny_run, tmp_path):
    emb = Embedder.load(tiny_run)
    lite = StringSide.load(tiny_run)
    np.testing.assert_allclose(lite.embed_strings(WORDS), emb.embed_strings(WORDS), rtol=1e-4, atol=1e-4)
    assert lite.model_id() == emb.model_id() and lite.dim == emb.dim
    long = ["virginia" * 5, "great" * 9]  # longer than the model's 16 positions: squeezed, the same in both
    with pytest.warns(LongWordWarning):
        np.testing.assert_allclose(lite.embed_strings(long), emb.embed_strings(long), rtol=1e-4, atol=1e-4)


def test_phoc_string_side_matches(tiny_data, tmp_path):
    from conftest import tiny_config

    from wordspot.data import load_folder
    from wordspot.training.run import train
    cfg = tiny_config(image_epochs=1)
    cfg.model.method = "phoc"
    emb = train(cfg, tmp_path / "p", train_set=load_folder(tiny_data).subset("train"), stages=("image",))
    lite = StringSide.load(tmp_path / "p")
    np.testing.assert_array_equal(lite.embed_strings(WORDS), emb.embed_strings(WORDS))
    assert lite.model_id() == emb.model_id()


def test_query_by_string_does_not_import_torch(tiny_run, tiny_data, tmp_path):
    from wordspot.data import load_folder
    from wordspot.index.build import dataset_crops, index_crops
    index_crops(Embedder.load(tiny_run), dataset_crops(load_folder(tiny_data).subset("test")), tmp_path / "a.idx",
                model_path=str(tiny_run))
    code = ("import sys, json; from typer.testing import CliRunner; from wordspot.cli import app; "
            f"r = CliRunner().invoke(app, ['query', {str(tmp_path / 'a.idx')!r}, 'great', '--json']); "
            "print(json.dumps({'code': r.exit_code, 'out': r.stdout, 'torch': 'torch' in sys.modules}))")
    res = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert res["code"] == 0 and json.loads(res["out"])["hits"], res
    assert not res["torch"]
