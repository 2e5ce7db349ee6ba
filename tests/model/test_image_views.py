"""The views of a word image the image side embeds (ModelConfig.image_views): what a view is, that a vector
is the mean of its views', that model files written before keep embedding one unaltered view (their
indexes stay valid), and that fine-tuning takes the run's views, not the starter's."""

import numpy as np
import pytest

from tests.conftest import tiny_config
from wordspot.config import ONE_VIEW, ModelConfig, TrainConfig
from wordspot.data.imaging import image_view
from wordspot.data.text import Alphabet
from wordspot.errors import ConfigError
from wordspot.files import load_tree, save_tree
from wordspot.model.embedder import Embedder
from wordspot.model.modelfile import model_id
from wordspot.model.stringside import StringSide

SMALL = dict(dim=8, max_len=12, image_height=16, image_channels=[4, 4, 4, 4], image_blocks=[1, 1, 1, 1],
             image_hidden=16, string_channels=8, string_hidden=16)


def test_a_view_stretches_the_width_and_adds_blank_margins():
    img = np.random.default_rng(0).random((40, 50), dtype=np.float32)
    assert image_view(img) is img
    out = image_view(img, 1.2, 0.1)
    assert out.shape == (40, 60 + 2 * 4)
    assert not out[:, :4].any() and not out[:, -4:].any()  # blank at each side
    np.testing.assert_array_equal(image_view(img, 1.0, 0.25)[:, 10:-10], img)


@pytest.mark.parametrize("views", [[], [[0.0, 0.1]], [[1.0]], [[1.0, -0.1]], [[1.0, 3.0]], [[1.0, 0.1]] * 9,
                                   "wide", [[1.0, float("nan")]]])
def test_the_config_refuses_views_it_cannot_embed(views):
    with pytest.raises(ConfigError, match="image_views"):
        TrainConfig().with_settings({"model.image_views": views})


def test_a_vector_is_the_mean_of_its_views_vectors():
    rng = np.random.default_rng(1)
    imgs = [rng.random((16, w), dtype=np.float32) for w in (30, 12, 45)]
    views = [[1.0, 0.1], [1.3, 0.0], [0.8, 0.5]]
    emb = Embedder(ModelConfig(**SMALL, image_views=views), Alphabet("ab"))
    together = emb.embed_images(imgs, batch_size=2)
    emb.config.image_views = ONE_VIEW
    apart = np.mean([emb.embed_images([image_view(im, *v) for im in imgs]) for v in views], 0)
    np.testing.assert_allclose(together, apart, atol=1e-5)
    assert np.abs(together - emb.embed_images(imgs)).max() > 1e-4  # the views change the vectors


def test_a_model_file_from_before_views_keeps_one_view_and_its_id(tmp_path):
    emb = Embedder(ModelConfig(**SMALL), Alphabet("ab"))
    assert emb.config.image_views == ModelConfig().image_views != ONE_VIEW
    emb.save(tmp_path / "new.pt")
    blob = load_tree(tmp_path / "new.pt")
    del blob["config"]["image_views"]  # as written before the setting existed
    nets = [{k: v.numpy() for k, v in blob[n].items()} for n in ("string_net", "image_net")]
    blob["model_id"] = old_id = model_id(nets, tuple(blob["fusion"]))  # the id an index made then remembers
    save_tree(blob, tmp_path / "old.pt")
    old = Embedder.load(tmp_path / "old.pt")
    assert old.config.image_views == ONE_VIEW and old.model_id() == old_id
    assert StringSide.load(tmp_path / "old.pt").model_id() == old_id
    new = Embedder.load(tmp_path / "new.pt")
    assert new.model_id() != old_id  # the same weights embed images otherwise: not the same model for an index
    assert StringSide.load(tmp_path / "new.pt").model_id() == new.model_id()


def test_fine_tuning_takes_the_runs_views_not_the_starters(tiny_run, tmp_path):
    from wordspot.training.run import _init_model
    blob = load_tree(tiny_run / "model.pt")
    blob["config"]["image_views"] = ONE_VIEW  # a starter embedding one view
    save_tree(blob, tmp_path / "starter.pt")
    cfg = tiny_config()
    start, _ = _init_model(tmp_path / "starter.pt", cfg, ("image", "joint"), [])
    assert cfg.model.image_views == start.config.image_views == ModelConfig().image_views


def test_a_model_gets_other_views_in_a_new_file_fitted_on_validation(tiny_run, tiny_data, tmp_path):
    from typer.testing import CliRunner

    from wordspot.cli import app
    blob = load_tree(tiny_run / "model.pt")
    blob["config"]["image_views"] = ONE_VIEW  # a model trained before views
    save_tree(blob, tmp_path / "old.pt")
    before = (tmp_path / "old.pt").read_bytes()
    old = Embedder.load(tmp_path / "old.pt")

    def views(*args: str):
        return CliRunner().invoke(app, ["model", "views", str(tmp_path / "old.pt"), "--data", str(tiny_data), *args])
    r = views("--out", str(tmp_path / "new.pt"))
    assert r.exit_code == 0, r.output
    new = Embedder.load(tmp_path / "new.pt")
    assert new.config.image_views == ModelConfig().image_views and new.model_id() != old.model_id()
    assert set(new.calibration) == {"qbs", "qbe"}
    assert (tmp_path / "old.pt").read_bytes() == before  # its indexes still need it
    r = views("--out", str(tmp_path / "one.pt"), "--views", "[[1, 0.2]]")
    one = Embedder.load(tmp_path / "one.pt")
    assert r.exit_code == 0 and one.config.image_views == [[1.0, 0.2]]
    assert one.calibration["qbe"] != new.calibration["qbe"]  # fitted again, to the vectors of these views
    for args, message in ((["--out", str(tmp_path / "old.pt")], "give another file"),
                          (["--out", str(tmp_path)], "is a folder"),
                          (["--out", str(tmp_path / "x.pt"), "--views", "[[1, 0.2]"], "not JSON"),
                          (["--out", str(tmp_path / "x.pt"), "--views", "[[9, 0.2]]"], "image_views"),
                          (["--out", str(tmp_path / "x.pt"), "--subset", "test"], "the test set is for measuring")):
        r = views(*args)
        assert r.exit_code == 1 and message in r.output and not (tmp_path / "x.pt").exists(), (args, r.output)


def test_a_fused_model_with_other_views_chooses_its_weights_again(tiny_data, tmp_path):
    from wordspot.data import load_folder
    from wordspot.methods.both.base import FUSION_GRID
    from wordspot.model.modelfile import model_info
    from wordspot.training.calibrate import set_views
    emb = Embedder(ModelConfig(**SMALL, method="both", image_views=ONE_VIEW), Alphabet("abcdefghijklmnopqrstuvwxyz"),
                   fusion=(123.0, 456.0))
    emb.save(tmp_path / "m.pt", stage="joint")
    out = set_views(tmp_path / "m.pt", [[1.0, 0.1]], load_folder(tiny_data).subset("valid"), tmp_path / "v.pt")
    assert out.ranking.weights[0] in FUSION_GRID[0] and out.ranking.weights[1] in FUSION_GRID[1]
    info = model_info(tmp_path / "v.pt")
    assert info["stage"] == "joint" and (info["fusion_qbs"], info["fusion_qbe"]) == out.ranking.weights
    assert info["rechosen_from"] == emb.model_id() != out.model_id()
    assert Embedder.load(tmp_path / "v.pt").ranking.weights == out.ranking.weights
