"""Scores for a trained model's hits, fitted on labelled images (a validation set) and saved into its model
file; `labelled_vectors` gives what any such fit needs (an ensemble also chooses its fusion weights on them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wordspot.data import Crop, ImageCache
from wordspot.errors import WordspotError
from wordspot.files import save_tree
from wordspot.model.embedder import Embedder
from wordspot.model.modelfile import load_file
from wordspot.training.trainer import texts_of


def labelled_vectors(emb: Embedder, samples: list[Crop], limit: int = 1500) -> tuple[np.ndarray, list[str], np.ndarray,
                                                                                    list[str]]:
    """The vectors of the readable labelled images among the first `limit`, their texts, and the
    vectors of the distinct texts (the QbS queries) with those texts."""
    kept, images = ImageCache(emb.config.image_height).load(samples[:limit])
    pairs = [(im, t) for im, t in zip(images, texts_of(kept, emb)) if t]
    if not pairs:
        raise WordspotError("no readable labelled images to fit on")
    texts = [t for _, t in pairs]
    queries = sorted(set(texts))
    return emb.embed_images([im for im, _ in pairs]), texts, emb.embed_strings(queries), queries


def calibrate_model(path: str | Path, samples: list[Crop], limit: int = 1500) -> Embedder:
    """Fit the scores of a model file (calibration.py) on labelled images, a validation set, and
    save them into the file; returns the model with them. Rankings and the model id do not change,
    so its indexes stay valid."""
    from wordspot.model.calibration import calibrate
    path = Path(path)
    path = path / "model.pt" if path.is_dir() else path
    emb = Embedder.load(path)
    cal = calibrate(emb, *labelled_vectors(emb, samples, limit))
    blob = load_file(path, "model")
    blob["calibration"] = cal
    save_tree(blob, path)
    emb.calibration = cal
    return emb

