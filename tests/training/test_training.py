import json
from dataclasses import asdict

import numpy as np
import pytest
from conftest import TINY_WORDS, tiny_config

from wordspot.data import load_folder, load_labels
from wordspot.data.text import LongWordWarning
from wordspot.errors import WordspotError
from wordspot.files import load_tree, save_tree
from wordspot.model.embedder import Embedder, ModelError
from wordspot.model.modelfile import load_file
from wordspot.progress import Reporter
from wordspot.training import TrainingInterrupted, train, train_ensemble


class InterruptAt(Reporter):
    """Simulates Ctrl-C once `n` steps have run."""

    def __init__(self, n: int) -> None:
        self.n, self.done, self.logs = n, 0, []

    def advance(self, n: int = 1, **metrics) -> None:
        self.done += n
        if self.n and self.done >= self.n:
            raise KeyboardInterrupt

    def log(self, message: str) -> None:
        self.logs.append(message)


def test_tiny_run_writes_self_contained_model(tiny_run):
    for name in ("string.pt", "image.pt", "joint.pt", "model.pt", "last.pt", "config.json", "log.jsonl"):
        assert (tiny_run / name).exists(), name
    emb = Embedder.load(tiny_run)  # a run folder means its model.pt
    assert emb.image_net is not None and emb.alphabet.symbols == sorted(set("".join(TINY_WORDS)))
    blob = load_tree(tiny_run / "model.pt")
    assert blob["model_id"] == emb.model_id()
    cfg = json.loads((tiny_run / "config.json").read_text())
    assert cfg["model"]["dim"] == 32 and cfg["seed"] == 0
    stages = {json.loads(line)["stage"] for line in (tiny_run / "log.jsonl").read_text().splitlines()}
    assert stages == {"string", "image", "joint"}


def test_checkpoint_round_trip_gives_same_embeddings(tiny_run, tmp_path):
    emb = Embedder.load(tiny_run / "model.pt")
    emb.save(tmp_path / "copy.pt")
    again = Embedder.load(tmp_path / "copy.pt")
    assert again.model_id() == emb.model_id()
    np.testing.assert_array_equal(again.embed_strings(["great", "camp"]), emb.embed_strings(["great", "camp"]))


def test_newer_format_version_is_refused(tiny_run, tmp_path):
    blob = load_tree(tiny_run / "model.pt")
    blob["format_version"] = 99
    save_tree(blob, tmp_path / "future.pt")
    with pytest.raises(ModelError, match="newer"):
        Embedder.load(tmp_path / "future.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ModelError, match="not a readable"):
        Embedder.load(tmp_path / "junk.pt")


def test_resume_continues_from_saved_step_and_matches_uninterrupted(tiny_data, tmp_path):
    src = load_folder(tiny_data)
    cfg = tiny_config(string_steps=20, val_every=5)
    full = train(cfg, tmp_path / "full", train_set=src.subset("train"), stages=("string",))
    with pytest.raises(TrainingInterrupted):
        train(cfg, tmp_path / "cut", train_set=src.subset("train"), stages=("string",), reporter=InterruptAt(12))
    saved = load_tree(tmp_path / "cut" / "last.pt")
    assert saved["step"] == 12 and not saved["done"]
    resumed = train(cfg, tmp_path / "cut", train_set=src.subset("train"), stages=("string",), resume=True)
    assert load_tree(tmp_path / "cut" / "last.pt")["step"] == 20
    assert resumed.model_id() == full.model_id()  # the same weights as a run never interrupted


def test_corrupt_image_is_skipped_and_reported(tiny_data, tmp_path):
    src = load_folder(tiny_data)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    (tmp_path / "train.tsv").write_text(
        (tiny_data / "train.tsv").read_text().replace("images/", f"{tiny_data}/images/") + f"{bad}\tgreat\n")
    rep = InterruptAt(0)
    train(tiny_config(string_steps=10, image_epochs=1), tmp_path / "run",
          train_set=load_labels(tmp_path / "train.tsv"), valid_set=src.subset("valid"),
          stages=("string", "image"), reporter=rep)
    assert any("skipped 1 unreadable image" in m and "bad.png" in m for m in rep.logs)


def test_long_words_embed_without_truncation(tiny_run):
    emb = Embedder.load(tiny_run)
    long_word = "campfortgreat"  # 13 of the model's 16 positions
    v = emb.embed_strings([long_word, long_word + "and"])
    assert np.isfinite(v).all() and not np.allclose(v[0], v[1])
    with pytest.warns(LongWordWarning, match="longer than the 16 positions"):
        w = emb.embed_strings(["campfortgreatand" + "x", "campfortgreatand" + "camp"])
    assert np.isfinite(w).all() and not np.allclose(w[0], w[1])  # the ends still count


def test_phoc_baseline_trains_and_embeds(tiny_data, tmp_path):
    src = load_folder(tiny_data)
    cfg = tiny_config(image_epochs=2)
    cfg.model.method = "phoc"
    emb = train(cfg, tmp_path / "phoc", train_set=src.subset("train"), valid_set=src.subset("valid"))
    assert emb.string_net is None and emb.phoc is not None
    assert not (tmp_path / "phoc" / "string.pt").exists() and (tmp_path / "phoc" / "image.pt").exists()
    v = emb.embed_strings(["great", "camp"])
    assert v.shape == (2, emb.phoc.dim)
    np.testing.assert_array_equal(v, emb.phoc.encode(["great", "camp"]))  # the binary PHOC itself
    again = Embedder.load(tmp_path / "phoc")
    np.testing.assert_array_equal(again.embed_strings(["great"]), emb.embed_strings(["great"]))
    # QbS ranks by the attribute likelihood of the logits, QbE by the angle of the logits
    imgs = emb.embed_images([np.zeros((32, 40), np.float32), np.ones((32, 60), np.float32)])
    d = emb.string_distances(v, imgs)
    assert d.shape == (2, 2) and (d > 0).all()
    e = emb.image_distances(imgs, imgs)
    np.testing.assert_allclose(np.diag(e), 0.0, atol=1e-9)


def test_width_bucketed_batches_cover_each_image_once_per_epoch():
    from wordspot.training.batches import WidthBatches

    widths = np.random.default_rng(0).integers(10, 300, 200)
    batches = WidthBatches(widths, 8, seed=0)
    epoch0 = [batches(s) for s in range(25)]
    assert sorted(np.concatenate(epoch0).tolist()) == list(range(200))
    spread = np.mean([np.ptp(widths[b]) for b in epoch0])
    assert spread < 0.5 * np.ptp(widths)  # similar widths share a batch
    epoch1 = [batches(s) for s in range(25, 50)]
    assert sorted(np.concatenate(epoch1).tolist()) == list(range(200))
    assert any(not np.array_equal(a, b) for a, b in zip(epoch0, epoch1))  # a new order each epoch
    again = WidthBatches(widths, 8, seed=0)
    assert all(np.array_equal(again(s), epoch0[s]) for s in range(25))  # seeded
    # a stage with a batch size of its own gets batches of that size, never another stage's
    assert {len(b) for b in (WidthBatches(widths, 20, seed=0)(s) for s in range(10))} == {20}


def test_model_pt_is_the_best_of_image_and_joint(tiny_run):
    info = {s: load_tree(tiny_run / f"{s}.pt")["info"] for s in ("image", "joint", "model")}
    assert info["model"]["stage"] in ("image", "joint")
    assert info["model"]["val_score"] == max(info["image"]["val_score"], info["joint"]["val_score"])


def test_a_tie_on_validation_keeps_the_later_checkpoint(tiny_run, tmp_path):
    """A validation set ranked perfectly from the first check on cannot tell checkpoints apart: the
    stage keeps the one that had the whole schedule, not the first."""
    import torch

    from wordspot.training.trainer import Stage, Trainer
    emb = Embedder.load(tiny_run)
    params = list(emb.image_net.parameters())
    first = {k: v.clone() for k, v in emb.image_net.state_dict().items()}
    stage = Stage("image", torch.optim.SGD(params, lr=0.1), 0.1, total=4, minutes=0.0,
                  loss=lambda step: sum((p ** 2).sum() for p in params), validate=lambda: {"score": 1.0},
                  val_every=1)
    Trainer(tiny_config(), tmp_path).loop(stage, emb, None)
    kept = Embedder.load(tmp_path / "image.pt").image_net.state_dict()
    moved = [k for k, v in emb.image_net.state_dict().items() if not torch.equal(v, first[k])]
    assert moved  # each step changed the weights, so the checkpoints differ
    assert all(torch.equal(kept[k], emb.image_net.state_dict()[k]) for k in moved)


def test_a_loss_that_is_not_finite_stops_training_with_a_clear_error(tiny_data, tmp_path):
    src = load_folder(tiny_data)
    cfg = tiny_config(string_steps=20, image_epochs=1)
    cfg.model.aux_phoc = 1e308  # finite, but the loss or its gradient overflows
    with pytest.raises(WordspotError, match="training stopped at image step [0-9]+: (the loss is (inf|nan)|a step made)"):
        train(cfg, tmp_path / "run", train_set=src.subset("train"), valid_set=src.subset("valid"),
              stages=("string", "image"))
    assert not (tmp_path / "run" / "model.pt").exists() or load_tree(tmp_path / "run" / "model.pt")["info"]["stage"] == "string"


def test_auxiliary_phoc_head_trains_beside_the_lsde_vector(tiny_data, tmp_path):
    src = load_folder(tiny_data)
    cfg = tiny_config(string_steps=20, image_epochs=1)
    cfg.model.aux_phoc = 1.0
    emb = train(cfg, tmp_path / "aux", train_set=src.subset("train"), valid_set=src.subset("valid"),
                stages=("string", "image"))
    assert emb.image_net.aux is not None and emb.aux_phoc is not None and emb.phoc is None
    assert emb.image_net.aux.out_features == emb.aux_phoc.dim
    again = Embedder.load(tmp_path / "aux")
    assert again.model_id() == emb.model_id()
    img = np.zeros((32, 40), np.float32)
    assert emb.embed_images([img]).shape == (1, 32)  # search uses the LSDE vector, not the PHOC head


def test_softmax_stage_two_loss_is_applied(tiny_data, tmp_path):
    src = load_folder(tiny_data)
    train(tiny_config(string_steps=10), tmp_path / "s", train_set=src.subset("train"), stages=("string",))
    imgs = [np.zeros((32, 40), np.float32), np.ones((32, 60), np.float32)]
    out = {}
    for loss in ("euclidean", "softmax", "softmax"):  # the same seed and string model each time
        emb = train(tiny_config(image_epochs=1, image_loss=loss), tmp_path / loss, train_set=src.subset("train"),
                    stages=("image",), string_model=tmp_path / "s" / "string.pt", overwrite=True)
        vecs = emb.embed_images(imgs)
        assert np.isfinite(vecs).all()
        if loss in out:
            np.testing.assert_allclose(vecs, out[loss], rtol=1e-5, atol=1e-5)  # deterministic
        out[loss] = vecs
    assert not np.allclose(out["euclidean"], out["softmax"], atol=1e-4)  # the softmax term changed training


def test_phoc_ensemble_averages_its_members_logits(tiny_data, tmp_path):
    src = load_folder(tiny_data)
    cfg = tiny_config(image_epochs=2)
    cfg.model.method = "phoc"
    out = tmp_path / "ens"
    ens = train_ensemble(cfg, out, 2, train_set=src.subset("train"), valid_set=src.subset("valid"))
    members = [Embedder.load(out / f"member{i}") for i in range(2)]
    assert json.loads((out / "member1" / "config.json").read_text())["seed"] == 1
    imgs = [np.random.default_rng(0).random((32, 50)).astype(np.float32), np.ones((32, 70), np.float32)]
    each = [m.embed_images(imgs) for m in members]
    assert not np.allclose(each[0], each[1])  # different seeds, different models
    np.testing.assert_allclose(ens.embed_images(imgs), (each[0] + each[1]) / 2, rtol=1e-5, atol=1e-5)
    again = Embedder.load(out)  # the file holds both image CNNs
    assert len(again.members) == 1 and again.model_id() == ens.model_id() != members[0].model_id()
    assert again.calibration and "qbs" in again.calibration  # its hits get scores of its own
    np.testing.assert_allclose(again.embed_images(imgs), ens.embed_images(imgs), rtol=1e-6, atol=1e-6)
    # resume: finished members are kept as they are, not trained again
    log = (out / "member0" / "log.jsonl").read_text()
    resumed = train_ensemble(cfg, out, 2, train_set=src.subset("train"), valid_set=src.subset("valid"), resume=True)
    assert resumed.model_id() == ens.model_id() and (out / "member0" / "log.jsonl").read_text() == log


def test_only_models_of_one_space_can_be_combined(tiny_run, tiny_data, tmp_path):
    src = load_folder(tiny_data)
    lsde = Embedder.load(tiny_run)
    other = train(tiny_config(image_epochs=1, seed=1), tmp_path / "other", train_set=src.subset("train"))
    with pytest.raises(ModelError, match="share one string CNN"):  # two string CNNs: two spaces
        Embedder.ensemble([lsde, other])
    cfgs = [tiny_config(image_epochs=1), tiny_config(image_epochs=1)]
    cfgs[1].model.image_hidden = 64
    phocs = []
    for i, cfg in enumerate(cfgs):
        cfg.model.method = "phoc"
        phocs.append(train(cfg, tmp_path / f"p{i}", train_set=src.subset("train"), valid_set=src.subset("valid")))
    with pytest.raises(ModelError, match="must share"):
        Embedder.ensemble(phocs)
    with pytest.raises(WordspotError, match="at least 2 members"):
        train_ensemble(tiny_config(), tmp_path / "one", 1, train_set=src.subset("train"))


def test_fused_ensemble_shares_one_string_cnn(tiny_data, tmp_path):
    """Members of an LSDE-based ensemble regress one string CNN's space, so their vectors average: trained
    once from scratch, or the --init model's for every member."""
    src = load_folder(tiny_data)
    cfg = tiny_config(image_epochs=2, joint_epochs=1)
    cfg.model.method = "both"
    out = tmp_path / "ens"
    ens = train_ensemble(cfg, out, 2, train_set=src.subset("train"), valid_set=src.subset("valid"))
    assert (out / "string" / "string.pt").is_file() and not (out / "member0" / "joint.pt").exists()
    members = [Embedder.load(out / f"member{i}") for i in range(2)]
    words = ["great", "letter"]
    np.testing.assert_allclose(members[0].embed_strings(words), members[1].embed_strings(words))
    np.testing.assert_allclose(ens.embed_strings(words), members[0].embed_strings(words))
    imgs = [np.random.default_rng(0).random((32, 50)).astype(np.float32), np.ones((32, 70), np.float32)]
    each = [m.embed_images(imgs) for m in members]
    assert not np.allclose(each[0], each[1])
    np.testing.assert_allclose(ens.embed_images(imgs), (each[0] + each[1]) / 2, rtol=1e-5, atol=1e-5)
    again = Embedder.load(out)  # fusion weights chosen for the ensemble, and its scores, are in the file
    assert again.fused and again.calibration and set(again.calibration) == {"qbs", "qbe"}
    assert load_file(out / "model.pt", "model")["info"]["stage"] == "ensemble"
    # from a trained model: no string stage, every member starts from it and keeps its string CNN
    start = Embedder.load(out / "member0")
    fine = train_ensemble(cfg, tmp_path / "fine", 2, train_set=src.subset("train"), valid_set=src.subset("valid"),
                          init=out / "member0" / "model.pt")
    assert not (tmp_path / "fine" / "string").exists()
    np.testing.assert_allclose(fine.embed_strings(words), start.embed_strings(words))


def test_config_is_checked_when_made_and_never_written_into(tiny_data, tmp_path):
    from wordspot.config import TrainConfig
    from wordspot.errors import ConfigError
    with pytest.raises(ConfigError, match="image_loss: must be one of euclidean, bce, softmax, got 'sofmax'"):
        TrainConfig(image_loss="sofmax")
    cfg = tiny_config(string_steps=5)
    cfg.model.max_len = 2  # shorter than the words: training raises it in its own copy
    before = json.dumps(asdict(cfg))
    train(cfg, tmp_path / "run", words=["orders", "camp"], stages=("string",))
    assert json.dumps(asdict(cfg)) == before
    assert Embedder.load(tmp_path / "run" / "string.pt").config.max_len > 2


def test_lsde_reader_trains_reads_and_reloads(tiny_data, tmp_path):
    src = load_folder(tiny_data)
    cfg = tiny_config(image_epochs=20, joint_epochs=2, val_every=20)
    cfg.model.image_side = "read"
    emb = train(cfg, tmp_path / "r", train_set=src.subset("train"), valid_set=src.subset("valid"))
    assert emb.reads
    imgs = [np.zeros((32, 40), np.float32), np.ones((32, 60), np.float32)]
    vecs = emb.embed_images(imgs)
    assert vecs.shape == (2, 32) and np.isfinite(vecs).all()
    again = Embedder.load(tmp_path / "r")
    np.testing.assert_allclose(again.embed_images(imgs), vecs, rtol=1e-5, atol=1e-5)
    losses = [r["loss"] for r in map(json.loads, (tmp_path / "r" / "log.jsonl").read_text().splitlines())
              if r["stage"] == "image"]
    assert losses[-1] < losses[0]  # CTC is learning (reading well takes longer: benchmarks/README.md)
    assert (tmp_path / "r" / "joint.pt").exists()


def test_reader_phoc_head_adds_its_loss_and_reloads(tiny_data, tmp_path):
    src = load_folder(tiny_data)
    train(tiny_config(string_steps=10), tmp_path / "s", train_set=src.subset("train"), stages=("string",))
    first = {}
    for weight in (0.0, 2.0):  # the same seed, string model and first batch
        cfg = tiny_config(image_epochs=1, val_every=1)
        cfg.model.image_side, cfg.model.aux_phoc = "read", weight
        emb = train(cfg, tmp_path / f"r{weight}", train_set=src.subset("train"), stages=("image",),
                    string_model=tmp_path / "s" / "string.pt")
        log = (tmp_path / f"r{weight}" / "log.jsonl").read_text().splitlines()
        first[weight] = json.loads(log[0])["loss"]
    assert emb.image_net.aux is not None and emb.image_net.aux[-1].out_features == emb.aux_phoc.dim
    assert first[2.0] > first[0.0] + 0.5  # BCE of untrained logits is about 0.69 an attribute, times 2
    img = [np.zeros((32, 40), np.float32)]
    np.testing.assert_allclose(Embedder.load(tmp_path / "r2.0").embed_images(img), emb.embed_images(img), atol=1e-5)


def test_fused_model_trains_and_keeps_the_weights_validation_chose(tiny_data, tmp_path):
    from wordspot.data import ImageCache
    from wordspot.methods import FUSION_GRID, choose_fusion
    src = load_folder(tiny_data)
    cfg = tiny_config(string_steps=20, image_epochs=2, joint_epochs=1)
    cfg.model.method = "both"
    emb = train(cfg, tmp_path / "b", train_set=src.subset("train"), valid_set=src.subset("valid"))
    rows = [json.loads(r) for r in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert all("fusion_qbs" in r for r in rows if r["stage"] != "string")
    model = Embedder.load(tmp_path / "b")
    ws, we = model.ranking.weights
    assert ws in FUSION_GRID[0] and we in FUSION_GRID[1] and model.config.phoc_weight > 0
    # the saved weights are those that rank the validation images best with the saved networks
    kept, images = ImageCache(cfg.model.image_height).load(src.subset("valid"))
    texts = [model.norm(s.text) for s in kept]
    queries = sorted(set(texts))
    chosen = choose_fusion(model.ranking, model.embed_images(images), texts, model.embed_strings(queries), queries)
    assert chosen["weights"] == (ws, we)
    assert load_tree(tmp_path / "b" / "model.pt")["info"]["val_score"] == pytest.approx(
        (chosen["qbs_map"] + chosen["qbe_map"]) / 2)
    assert emb.embed_images(images[:2]).shape == (2, cfg.model.dim + model.aux_phoc.dim)


def test_defaults_are_the_fused_reader_and_old_files_keep_their_image_side(tiny_run, tmp_path):
    from wordspot.config import ModelConfig, TrainConfig
    assert ModelConfig().method == "both" and ModelConfig().reads and ModelConfig().phoc_weight > 0
    phoc = TrainConfig().with_settings({"model.method": "phoc"}).model  # no reader, no error
    assert not phoc.reads and phoc.phoc_weight == 0
    blob = load_tree(tiny_run / "model.pt")
    del blob["config"]["image_side"]  # as written before the setting existed: a regressing CNN then
    save_tree(blob, tmp_path / "old.pt")
    old, new = Embedder.load(tmp_path / "old.pt"), Embedder.load(tiny_run)
    img = [np.zeros((32, 40), np.float32)]
    assert not old.reads and np.allclose(old.embed_images(img), new.embed_images(img), atol=1e-6)


def test_a_reader_file_from_before_phoc_branch_loads_with_the_shared_phoc_head(tmp_path):
    from wordspot.config import ModelConfig
    from wordspot.data.text import Alphabet
    assert ModelConfig().phoc_branch
    cfg = ModelConfig(method="both", image_side="read", phoc_branch=False, dim=8, max_len=8, string_channels=8,
                      string_hidden=16, image_height=16, image_channels=[4, 4], image_blocks=[1, 1], image_hidden=16,
                      phoc_bigrams=["ab"])
    emb = Embedder(cfg, Alphabet("abc"))
    emb.save(tmp_path / "m.pt")
    blob = load_tree(tmp_path / "m.pt")
    del blob["config"]["phoc_branch"]  # as written before the setting existed
    save_tree(blob, tmp_path / "old.pt")
    old = Embedder.load(tmp_path / "old.pt")
    img = [np.random.default_rng(0).random((16, 30), dtype=np.float32)]
    assert not old.config.phoc_branch and old.image_net.aux_stage is None
    assert np.allclose(old.embed_images(img), emb.embed_images(img), atol=1e-6)


def test_validation_distractors_are_other_words_and_only_lower_the_scores(tiny_run, tiny_data, tmp_path):
    from wordspot.training.trainer import Trainer
    src = load_folder(tiny_data)
    model = Embedder.load(tiny_run / "model.pt")
    train_set = src.subset("train")
    valid = [s for s in src.subset("valid") if model.norm(s.text) in ("orders", "letter", "camp")]
    plain = Trainer(tiny_config(), tmp_path).spotting_validator(model, valid, train_set)()
    trainer = Trainer(tiny_config(val_distractors=25, seed=3), tmp_path)
    drawn = trainer._distractors(model, train_set, {"orders", "letter", "camp"})
    assert len(drawn) == 25
    words = {model.norm(s.text) for s in train_set for im in drawn if im is trainer.cache.get(s.path, s.box)}
    assert words and not words & {"orders", "letter", "camp"}
    assert all(a is b for a, b in zip(drawn, trainer._distractors(model, train_set, {"orders", "letter", "camp"})))
    harder = trainer.spotting_validator(model, valid, train_set)()
    # non-matching images added to a ranking can move the matches down, never up; whether these
    # drawn ones do depends on the CPU's arithmetic (a tiny model may rank all matches first anyway)
    assert harder["val_qbs"] <= plain["val_qbs"] and harder["val_qbe"] <= plain["val_qbe"]
    # a strict drop needs a case built to show one: a twin of each validation image that is not its
    # word ties with it and is ranked after it (stable sort), so it falls between two matches
    twins = [im.copy() for im in trainer.images(valid, model, "validation")[0]]
    trainer._distractors = lambda *args: twins
    crowded = trainer.spotting_validator(model, valid, train_set)()
    assert crowded["val_qbs"] < plain["val_qbs"] and crowded["val_qbe"] < plain["val_qbe"]


def test_a_budget_for_the_whole_run_is_split_as_the_benchmarks_train():
    from wordspot.config import TrainConfig
    cfg = TrainConfig(minutes=40)
    assert [cfg.stage_minutes(s) for s in ("string", "image", "joint")] == pytest.approx([6.0, 23.8, 10.2])
    assert TrainConfig(minutes=40, image_minutes=30).stage_minutes("image") == 30  # a stage's own wins
    assert TrainConfig(minutes=10).stage_minutes("string") == pytest.approx(1.5)
    phoc = TrainConfig(minutes=20)
    phoc.model.method = "phoc"
    assert [phoc.stage_minutes(s) for s in ("string", "image", "joint")] == [0.0, 20, 0.0]
    assert TrainConfig().stage_minutes("image") == 0.0


def test_plain_progress_says_how_long_is_left():
    import io
    import time

    from wordspot.progress import PlainReporter
    out = io.StringIO()
    rep = PlainReporter(every=0, stream=out)
    rep.start("image", 100, seconds=600)
    rep.advance(0)
    time.sleep(0.05)
    rep.advance(10)
    err = out.getvalue()
    assert "(at most 10.0 min)" in err and "min left" in err


def test_a_model_near_chance_is_said_to_be(tmp_path):
    import warnings

    from wordspot.training.run import _warn_if_near_chance
    texts = ["a", "b", "c", "d"] * 5
    for score, warned in ((0.30, True), (0.95, False)):
        save_tree({"kind": "model", "format_version": 3, "info": {"stage": "image", "val_score": score}},
                  tmp_path / "m.pt")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _warn_if_near_chance(tmp_path / "m.pt", texts)
        assert any("near chance (0.250)" in str(w.message) for w in caught) == warned


def test_init_fine_tunes_a_trained_model(tiny_run, tiny_data, tmp_path):
    from wordspot.data import WordSample
    src = load_folder(tiny_data)
    start = Embedder.load(tiny_run)
    train_set = src.subset("train")[:40]
    odd = [WordSample(train_set[0].path, "camp\u00e9", train_set[0].page, None)]  # a letter the model lacks
    with pytest.warns(UserWarning, match="1 symbol\\(s\\) the model does not know"):
        emb = train(tiny_config(image_epochs=1, joint_epochs=1), tmp_path / "ft", train_set=train_set + odd,
                    valid_set=src.subset("valid"), init=tiny_run / "model.pt")
    assert not (tmp_path / "ft" / "string.pt").exists() and (tmp_path / "ft" / "image.pt").exists()
    assert emb.alphabet.symbols == sorted(start.alphabet.symbols + ["\u00e9"]) and emb.config == start.config
    assert emb.model_id() != start.model_id()  # it trained
    saved = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert saved["model"]["dim"] == start.config.dim


def test_init_gives_the_string_stage_share_to_the_others(tiny_run):
    from wordspot.training.run import _init_model
    cfg = tiny_config(minutes=10.0)
    _, stages = _init_model(tiny_run / "model.pt", cfg, ("string", "image", "joint"), [])
    assert "string" not in stages
    assert cfg.image_minutes + cfg.joint_minutes == pytest.approx(10.0) and cfg.joint_minutes > 0
    cfg = tiny_config(minutes=10.0, image_minutes=3.0)  # a stage's own budget wins
    _init_model(tiny_run / "model.pt", cfg, ("image", "joint"), [])
    assert cfg.image_minutes == 3.0 and cfg.joint_minutes == 0.0
