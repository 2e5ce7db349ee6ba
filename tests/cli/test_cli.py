import csv
import json
import shutil

import pytest
import torch
from typer.testing import CliRunner

from wordspot.cli import app
from wordspot.data import load_folder
from wordspot.files import load_tree, save_tree

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("cmd", [[], ["train"], ["index"], ["query"], ["eval"], ["eval", "strings"], ["eval", "spotting"],
                                 ["data", "check"], ["model", "upgrade"]])
def test_every_command_explains_itself(cmd):
    r = run(*cmd, "--help")
    assert r.exit_code == 0
    assert "Example" in r.output or "Typical use" in r.output


@pytest.mark.parametrize("args, message", [
    (["query", "/nonexistent.idx", "great"], "no such index"),
    (["train", "--data", "/nonexistent", "--out", "/tmp/x"], "no such file or folder"),
    (["train", "bogus", "--data", "builtin", "--out", "/tmp/x"], "unknown stage"),
    (["index", "/nonexistent.pt", "--data", "builtin", "--out", "/tmp/x.idx"], "no such model file"),
    (["train", "--out", "/tmp/x", "--data", "builtin", "--device", "tpu"], "--device: must be auto, cpu or cuda"),
    (["train", "--out", "/tmp/x", "--data", "builtin", "--members", "0"], "--members 0: 1 for one model"),
])
def test_bad_input_is_one_clear_line(args, message):
    r = run(*args)
    assert r.exit_code == 1
    assert message in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_index_query_eval_through_the_cli(tiny_run, tiny_data, tmp_path):
    idx = tmp_path / "test.idx"
    r = run("index", tiny_run, "--data", tiny_data, "--subset", "test", "--out", idx, "--plain")
    assert r.exit_code == 0, r.output
    n = len(load_folder(tiny_data).subset("test"))
    assert f"indexed {n} crops" in r.output

    r = run("query", idx, "great", "-k", "3", "--json")
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3] and all("lev" in h and "box" in h for h in hits)

    queries = tmp_path / "queries.txt"
    example = load_folder(tiny_data).subset("test")[0].path
    queries.write_text(f"great\ncamp\n@{example}\n")
    r = run("query", idx, "--batch", queries, "--json", "-k", "2")
    assert r.exit_code == 0, r.output
    answers = json.loads(r.stdout)
    assert [a["query"] for a in answers] == ["great", "camp", f"@{example}"]
    assert all(h["source"] != example for h in answers[2]["hits"])  # the example is not its own hit

    r = run("query", idx, "great", "--sheet", tmp_path / "hits.png", "--csv", tmp_path / "hits.csv", "-k", "4")
    assert r.exit_code == 0 and (tmp_path / "hits.png").exists() and "great" in r.output
    rows = list(csv.DictReader((tmp_path / "hits.csv").open()))
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4"] and rows[0]["query"] == "great"
    assert rows[0]["file"].endswith(".png") and rows[0]["where"] == rows[0]["file"]  # word images: their file

    r = run("index", tiny_run, "--data", tiny_data, "--subset", "valid", "--out", idx, "--append", "--plain")
    assert r.exit_code == 0, r.output
    assert f"{n + len(load_folder(tiny_data).subset('valid'))} in" in r.output

    r = run("eval", tiny_run, "--data", tiny_data, "--json", "--csv", tmp_path / "q.csv", "--plain")
    assert r.exit_code == 0, r.output
    (s,) = json.loads(r.stdout)["splits"].values()
    assert 0.0 <= s["qbs_map"] <= 1.0 and s["qbs_queries"] == 8
    assert (tmp_path / "q.csv").read_text().startswith("split,query,ap")


def test_query_refuses_index_of_another_model(tiny_run, tiny_data, tmp_path):
    idx = tmp_path / "test.idx"
    assert run("index", tiny_run, "--data", tiny_data, "--out", idx, "--plain").exit_code == 0
    blob = load_tree(tiny_run / "model.pt")
    blob["image_net"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in blob["image_net"].items()}
    save_tree(blob, tmp_path / "other.pt")
    r = run("query", idx, "great", "--model", tmp_path / "other.pt")
    assert r.exit_code == 1 and "made by another model" in r.output


@pytest.mark.train
def test_train_string_and_eval_strings_on_generated_words(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("\n".join(["orders", "order", "letters", "letter", "great", "greater", "camp", "cramp",
                                "fort", "forth", "the", "then", "them", "virginia"]))
    r = run("train", "string", "--words", words, "--out", tmp_path / "run", "--string-steps", "150", "--plain")
    assert r.exit_code == 0, r.output
    r = run("train", "string", "--words", words, "--out", tmp_path / "run", "--string-steps", "150", "--plain")
    assert r.exit_code == 1 and "already holds" in r.output  # a trained stage is never overwritten silently
    r = run("eval", "strings", tmp_path / "run", "--words", words, "--json", "--plot", tmp_path / "p.png")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert set(res["methods"]) == {"LSDE", "PHOC (Euclidean)", "PHOC (cosine)", "n-gram bag",
                                   "ceiling (Levenshtein, ties broken)"}
    assert res["methods"]["LSDE"]["all_spearman"] > 0.5  # learned something in 150 steps
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_a_run_folder_knows_its_data_for_resume_and_eval(tiny_data, tiny_run, tmp_path):
    small = ["--method", "lsde", "--height", "32", "--dim", "16", "--set", "model.image_side=regress",
             "--set", "model.image_channels=[8, 8]", "--set", "model.image_blocks=[1, 1]", "--set", "image_hidden=32",
             "--set", "string_hidden=32", "--string-steps", "20", "--image-epochs", "1", "--joint-epochs", "1",
             "--plain"]
    r = run("train", "string", "--data", tiny_data, "--out", tmp_path / "run", *small)
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "run" / "data.json").read_text())["data"] == str(tiny_data.resolve())
    r = run("train", "--out", tmp_path / "run", "--resume", "--plain")  # as the README shows it: the other stages
    assert r.exit_code == 0 and f"the run's data: {tiny_data.resolve()}" in r.output, r.output
    assert (tmp_path / "run" / "joint.pt").exists()
    r = run("train", "--out", tmp_path / "run", "--resume", "--plain")
    assert r.exit_code == 0 and "nothing to continue" in r.output
    r = run("eval", tmp_path / "run", "--json", "--plain")
    assert r.exit_code == 0 and f"evaluating on the model's training data, {tiny_data.resolve()}" in r.output
    r = run("eval", tiny_run, "--json")  # trained by the Python API: no record, no guess
    assert r.exit_code == 1 and "give --data" in r.output


def test_resume_needs_a_run(tmp_path):
    r = run("train", "--out", tmp_path / "empty", "--resume")
    assert r.exit_code == 1 and "last.pt" in r.output


def test_eval_split_all_over_fki_folds(tiny_run, tiny_data, tmp_path):
    """Two folds of a small FKI-layout database, one model per fold given by a {split} path."""
    import cv2

    root = tmp_path / "db"
    (root / "data" / "word_images_normalized").mkdir(parents=True)
    (root / "ground_truth").mkdir()
    labels = []
    for n, s in enumerate(load_folder(tiny_data).subset("test")):
        wid = f"300-{n // 4 + 1:02d}-{n % 4 + 1:02d}"
        cv2.imwrite(str(root / "data" / "word_images_normalized" / f"{wid}.png"), cv2.imread(s.path))
        labels.append(f"{wid} {'-'.join(s.text)}")
    (root / "ground_truth" / "word_labels.txt").write_text("\n".join(labels) + "\n")
    lines = sorted({lab.split()[0].rsplit("-", 1)[0] for lab in labels})
    for fold, test in (("cv1", lines[: len(lines) // 2]), ("cv2", lines[len(lines) // 2:])):
        (root / "sets" / fold).mkdir(parents=True)
        (root / "sets" / fold / "test.txt").write_text("\n".join(test) + "\n")
        (root / "sets" / fold / "train.txt").write_text("\n".join(x for x in lines if x not in test) + "\n")
        (root / "sets" / fold / "valid.txt").write_text("")
        shutil.copytree(tiny_run, tmp_path / f"run-{fold}")
    r = run("eval", tmp_path / "run-{split}", "--data", root, "--split", "all", "--json", "--plain")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert set(res["splits"]) == {"db/cv1", "db/cv2"}
    maps = [res["splits"][f]["qbs_map"] for f in ("db/cv1", "db/cv2")]
    assert res["summary"]["qbs_map"]["mean"] == pytest.approx(sum(maps) / 2)
    r = run("eval", tmp_path / "run-cv1", "--data", root, "--split", "all")
    assert r.exit_code == 1 and "give 2 models" in r.output


@pytest.mark.train
def test_config_file_and_set_reach_every_setting(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("orders order letters letter great greater camp cramp\n")
    run1 = tmp_path / "run1"
    r = run("train", "string", "--words", words, "--out", run1, "--string-steps", "20", "--plain",
            "--set", "string_lr=0.002", "--set", "model.string_layers=1", "--set", "joint_weights=[1, 0, 2]",
            "--set", "string_hidden=64")
    assert r.exit_code == 0, r.output
    cfg = json.loads((run1 / "config.json").read_text())
    assert cfg["string_lr"] == 0.002 and cfg["model"]["string_layers"] == 1 and cfg["joint_weights"] == [1, 0, 2]
    assert cfg["model"]["string_hidden"] == 64 and cfg["string_steps"] == 20
    assert cfg["model"]["max_len"] == 32  # what the data set derives is kept in the model file, not here
    # the run's config.json repeats the run exactly
    r = run("train", "string", "--words", words, "--out", tmp_path / "run2", "--config", run1 / "config.json", "--plain")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "run2" / "config.json").read_text()) == cfg
    a, b = (load_tree(tmp_path / d / "string.pt")["string_net"] for d in ("run1", "run2"))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("args, message", [
    (["--set", "image_lr=abc"], "--set image_lr: must be a number between 0 and 1, got 'abc'"),
    (["--set", "bogus=1"], "--set bogus: not a setting"),
    (["--set", "model.bogus=1"], "--set model.bogus: not a model setting"),
    (["--set", "noequals"], "expected KEY=VALUE"),
    (["--set", "image_loss=sofmax"], "--image-loss: must be one of euclidean, bce, softmax"),
    (["--set", "model.image_channels=5"], "--set image_channels: must be a list of whole numbers"),
    (["--config", "/nonexistent.json"], "--config /nonexistent.json: not a readable JSON config"),
    (["--set", "model.aux_phoc=1e309"], "--set aux_phoc: must be a finite number of 0 or more, got inf"),
    (["--set", "model.aux_phoc=Infinity"], "--set aux_phoc: must be a finite number of 0 or more, got inf"),
    (["--set", "joint_weights=[Infinity,1,1]"], "joint_weights: must be three finite weights"),
    (["--set", "image_minutes=NaN"], "--image-minutes: must be a number of 0 or more"),
])
def test_bad_settings_name_the_setting(args, message, tmp_path):
    r = run("train", "--data", "builtin", "--out", tmp_path / "run", *args)
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output
    assert not (tmp_path / "run").exists()
