"""Shared fixtures: a tiny generated data set and a model trained on it once per session."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from wordspot import synth
from wordspot.config import TrainConfig
from wordspot.data import load_folder
from wordspot.model.embedder import ModelConfig
from wordspot.training import train

GW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "washingtondb-v1.0"
TINY_WORDS = ["orders", "letter", "great", "camp", "fort", "the", "and", "virginia"]


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """The built-in data set goes to a temporary cache, never the user's home."""
    mp = pytest.MonkeyPatch()
    mp.setenv("WORDSPOT_CACHE", str(tmp_path_factory.mktemp("cache")))
    torch.set_num_threads(2)
    if os.environ.get("WORDSPOT_DETERMINISTIC"):  # the suite must pass the same with it (tests/README.md)
        torch.use_deterministic_algorithms(True)
    yield
    mp.undo()


TRAINING_FIXTURES = {"tiny_run", "ws"}


def pytest_collection_modifyitems(items):
    """Mark what trains (through a fixture or in test_training.py) as `train`."""
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())) or item.module.__name__ == "test_training":
            item.add_marker(pytest.mark.train)


def tiny_config(**kw) -> TrainConfig:
    # the regressing LSDE: the fastest model to train, so most tests use it (the others have their own)
    model = ModelConfig(method="lsde", image_side="regress", dim=32, max_len=16, string_channels=32,
                        string_hidden=128, image_height=32, image_channels=[8, 16, 32, 32],
                        image_blocks=[1, 1, 1, 1], image_hidden=128)
    defaults = dict(model=model, device="cpu", string_steps=250, string_batch=128, image_epochs=60,
                    image_batch=16, joint_epochs=10, augment=False, val_limit=200)
    defaults.update(kw)
    return TrainConfig(**defaults)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    return synth.generate(tmp_path_factory.mktemp("data") / "tiny", samples_per_word=10, seed=1,
                          words=TINY_WORDS, held_out_every=0)


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tmp_path_factory) -> Path:
    """A run folder holding a model trained on the tiny set (all three stages)."""
    src = load_folder(tiny_data)
    out = tmp_path_factory.mktemp("run")
    train(tiny_config(), out, train_set=src.subset("train"), valid_set=src.subset("valid"))
    return out


# ---- a small FKI database of text lines (tests/data/test_text_lines.py, tests/cli/test_lines_cli.py) ----
LINES = {"100-01": ["t-h-e", "c-a-t-s_pt"], "100-02": ["a", "c-a-t"], "100-03": ["t-h-e", "d-o-g"],
         "101-01": ["d-o-g", "a-n-d", "c-a-t"], "101-02": ["t-h-e", "e-n-d-s_pt"]}


def word_image(text: str) -> np.ndarray:
    img = np.full((40, 18 * len(text) + 8), 255, np.uint8)
    cv2.putText(img, text, (4, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 0, 2)
    return img


def make_fki_lines(root: Path, keywords=("t-h-e", "c-a-t", "c-a-t-s_pt", "z-e-b-r-a")) -> Path:
    """A small FKI database: line images made of word images (exact crops, as the real ones are)."""
    (root / "ground_truth").mkdir(parents=True)
    (root / "data" / "line_images_normalized").mkdir(parents=True)
    (root / "data" / "word_images_normalized").mkdir(parents=True)
    labels = []
    for lid, words in LINES.items():
        parts, gap = [], np.full((40, 14), 255, np.uint8)
        for n, w in enumerate(words, 1):
            img = word_image(w.replace("-", "").replace("s_pt", "."))
            cv2.imwrite(str(root / "data" / "word_images_normalized" / f"{lid}-{n:02d}.png"), img)
            labels.append(f"{lid}-{n:02d} {w}")
            parts += [img, gap]
        cv2.imwrite(str(root / "data" / "line_images_normalized" / f"{lid}.png"), np.hstack(parts))
    (root / "ground_truth" / "transcription.txt").write_text(
        "".join(f"{lid} {'|'.join(ws)}\n" for lid, ws in LINES.items()))
    (root / "ground_truth" / "word_labels.txt").write_text("\n".join(labels) + "\n")
    sets = root / "sets" / "cv1"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("100-01\n100-02\n100-03\n")
    (sets / "valid.txt").write_text("101-01\n")
    (sets / "test.txt").write_text("101-02\n")
    (sets / "keywords.txt").write_text("\n".join(keywords) + "\n")
    return root
