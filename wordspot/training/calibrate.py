"""What a trained model fits on labelled images (a validation set) and keeps in its model file: its hits'
scores and a fused model's weights; `labelled_vectors` gives what any such fit needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wordspot.config import ModelConfig
from wordspot.data import Crop, ImageCache
from wordspot.errors import WordspotError
from wordspot.files import save_tree
from wordspot.model.embedder import Embedder
from wordspot.model.modelfile import load_file, model_info
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



def fit_on_validation(emb: Embedder, samples: list[Crop], limit: int = 1500) -> dict:
    """A fused model's weights chosen and its scores fitted on labelled images, embedded once (what training
    does at its end for an ensemble); returns what the model file's info keeps of the choice."""
    from wordspot.methods.both.base import choose_fusion
    from wordspot.model.calibration import calibrate
    vectors = labelled_vectors(emb, samples, limit)
    info = {}
    if emb.fused:
        chosen = choose_fusion(emb.ranking, *vectors)
        emb.set_fusion(chosen["weights"])
        info = {"fusion_qbs": chosen["weights"][0], "fusion_qbe": chosen["weights"][1],
                "val_qbs": chosen["qbs_map"], "val_qbe": chosen["qbe_map"]}
    emb.calibration = calibrate(emb, *vectors)  # after the weights: scores are fitted to the distances
    return info


def set_views(path: str | Path, views: list, samples: list[Crop], out: str | Path, limit: int = 1500) -> Embedder:
    """A model file whose image side embeds `views` (ModelConfig.image_views), its fusion weights chosen and
    scores fitted again on labelled images (a validation set), saved to `out`. The views change the model's
    id, so the indexes `path` built stay with `path`; `out` must be another file."""
    path = Path(path)
    path = path / "model.pt" if path.is_dir() else path
    out = Path(out)
    if out.is_dir():
        raise WordspotError(f"{out}: is a folder; give a file name")
    if out.resolve() == path.resolve():
        raise WordspotError(f"{out}: give another file; the indexes {path} built need it as it is")
    emb = Embedder.load(path)
    emb.config.image_views = ModelConfig.from_dict({**vars(emb.config), "image_views": views}).image_views
    info = {**model_info(path), **fit_on_validation(emb, samples, limit)}
    emb.save(out, **info)
    return emb
